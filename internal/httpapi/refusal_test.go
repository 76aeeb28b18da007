package httpapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/refusal"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/tenant"
)

// TestStatusOf pins the one mapping from refusal codes to HTTP statuses.
func TestStatusOf(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{CodeNotFound, http.StatusNotFound},
		{onboarding.CodeRoleClaimed, http.StatusConflict},
		{onboarding.CodeConnectionLimit, http.StatusConflict},
		{onboarding.CodeDisconnected, http.StatusConflict},
		{CodeNotVerified, http.StatusConflict},
		{tenant.CodeInviteExpired, http.StatusUnauthorized},
		{CodeUnauthenticated, http.StatusUnauthorized},
		{CodeForbidden, http.StatusForbidden},
		{onboarding.CodeRateLimited, http.StatusTooManyRequests},
		{CodeCheckTooSoon, http.StatusTooManyRequests},
		{CodeMethodNotAllowed, http.StatusMethodNotAllowed},
		{CodeTooLarge, http.StatusRequestEntityTooLarge},
		{CodeUnsupportedMedia, http.StatusUnsupportedMediaType},
		{CodeMisdirected, http.StatusMisdirectedRequest},
		{rolearn.CodeOwnAccount, http.StatusBadRequest},
		{rolesetup.CodeInvalidRegion, http.StatusBadRequest},
		{onboarding.CodeInvalidStatus, http.StatusBadRequest},
	}
	for _, tc := range tests {
		if got := statusOf(tc.code); got != tc.want {
			t.Errorf("statusOf(%s) = %d, want %d", tc.code, got, tc.want)
		}
	}
}

// TestSetupFaultIsNoRefusal: a refusal rendering the partner's own setup is
// the deployment's fault and must not reach the client as a 4xx.
func TestSetupFaultIsNoRefusal(t *testing.T) {
	inner := &refusal.Error{Code: rolesetup.CodeInvalidPrincipal, Message: "bad"}
	err := fmt.Errorf("render setup of t1: %w", setupFault{inner})
	if e := onboarding.AsError(err); e != nil {
		t.Fatalf("AsError(%v) = %v, want nil (internal)", err, e)
	}
	if err.Error() != "render setup of t1: "+inner.Error() {
		t.Fatalf("message lost: %q", err.Error())
	}
}
