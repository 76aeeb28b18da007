package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Paths with dot or empty segments are refused with a JSON 404 instead of
// the mux's redirect to the clean path, on every route.
func TestUncleanPathsAreNotRedirected(t *testing.T) {
	ops, err := NewBearerToken("tok")
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Service: nopService{}, Ops: ops, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/v1/tenants/acme/../globex/invites",
		"/v1/tenants/../tenants/acme/connections",
		"//v1/invite",
		"/v1/./invite",
		"/v1/connections/111122223333/..",
		"/static/../../etc/passwd",
	} {
		r := httptest.NewRequest(http.MethodPost, "http://x"+target, nil)
		r.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), `"code":"NOT_FOUND"`) {
			t.Errorf("%s: %d Location=%q %s", target, rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
	// Encoded dots are data, not segments: they reach the route, whose
	// validation refuses them.
	r := httptest.NewRequest(http.MethodGet, "http://x/v1/connections/%2e%2e", nil)
	r.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("encoded dots: %d %s", rec.Code, rec.Body)
	}
}

// nopService is an Onboarding that is never reached.
type nopService struct{ Onboarding }
