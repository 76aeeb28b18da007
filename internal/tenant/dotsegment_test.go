package tenant_test

import (
	"errors"
	"testing"

	"github.com/rolecall/rolecall/internal/tenant"
)

// A tenant ID is a URL path segment; the dot segments would be resolved
// away by clients and proxies (/v1/tenants/../invites), so they are
// refused, while dots inside an ID stay allowed.
func TestValidateIDRefusesDotSegments(t *testing.T) {
	for _, id := range []string{".", ".."} {
		if err := tenant.ValidateID(id); !errors.Is(err, &tenant.Error{Code: tenant.CodeInvalidTenantID}) {
			t.Errorf("ValidateID(%q) = %v, want %s", id, err, tenant.CodeInvalidTenantID)
		}
	}
	for _, id := range []string{"...", ".acme", "acme.", "a..b", "._-"} {
		if err := tenant.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
}
