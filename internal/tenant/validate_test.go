package tenant_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/tenant"
)

// validator is what one validator accepts and what it refuses, with the
// code and field of its refusals.
type validator[T any] struct {
	name        string
	validate    func(T) error
	code, field string
	valid       []T
	invalid     []T
}

// run asserts that v accepts every valid input and refuses every invalid
// one with a *tenant.Error carrying its code, field and a message, matched
// by code with errors.Is.
func (v validator[T]) run(t *testing.T) {
	t.Run(v.name, func(t *testing.T) {
		for _, in := range v.valid {
			if err := v.validate(in); err != nil {
				t.Errorf("%s(%#v): %v", v.name, in, err)
			}
		}
		for _, in := range v.invalid {
			err := v.validate(in)
			var e *tenant.Error
			if !errors.As(err, &e) || e.Code != v.code || e.Field != v.field || e.Message == "" {
				t.Errorf("%s(%#v) = %v, want %s on %s", v.name, in, err, v.code, v.field)
			}
			if !errors.Is(err, &tenant.Error{Code: v.code}) {
				t.Errorf("%s(%#v): errors.Is by code %s failed", v.name, in, v.code)
			}
		}
	})
}

func TestValidateText(t *testing.T) {
	for _, v := range []validator[string]{
		{"ValidateID", tenant.ValidateID, tenant.CodeInvalidTenantID, "tenantId",
			[]string{"a", "acme-prod.eu_1", "ACME", strings.Repeat("x", 64),
				// Dots inside an ID are allowed...
				"...", ".acme", "acme.", "a..b", "._-"},
			[]string{"", strings.Repeat("x", 65), "acme corp", "acme/prod", "acme:prod", "acme@prod", "acme+prod",
				"caf\u00e9", "\u0430cme", "acme\x00", "acme\n", " acme",
				// ...but a tenant ID is a URL path segment, and the dot
				// segments would be resolved away by clients and proxies
				// (/v1/tenants/../invites).
				".", ".."}},
		{"ValidateName", tenant.ValidateName, tenant.CodeInvalidName, "name",
			[]string{"A", "Acme Corp.", "Société Générale", "株式会社アクメ", "3M", "Ａｃｍｅ ★",
				strings.Repeat("é", 128), // 128 characters, 256 bytes
				strings.Repeat("x", 128)},
			[]string{"", strings.Repeat("x", 129), strings.Repeat("é", 129), " Acme", "Acme ", "   ",
				"Acme\n", "Ac\nme", "Ac\tme", "Ac\x00me", "Ac\x7fme", "Ac\u0085me", "Ac\u2028me", "Ac\u2029me",
				"Ac\xffme",       // invalid UTF-8
				"Ac\u200bme",     // zero-width space
				"Acme\u202eproC", // right-to-left override
				"\u3164",         // Hangul filler: shows as nothing
				"\u2800",         // braille pattern blank
				"Acme\u2800",     // shows as "Acme"
				"Acme\u034f",     // combining grapheme joiner
				"Acme\ufe0f",     // variation selector
				"Ac\U000e0100me", // supplementary variation selector
				"...", "★",       // no letter or digit
			}},
		{"ValidateInviteID", tenant.ValidateInviteID, tenant.CodeInvalidInviteID, "inviteId",
			[]string{tenant.NewInviteID(time.Now()), "inv-" + strings.Repeat("0", 28)},
			[]string{"", "inv-", "inv-" + strings.Repeat("0", 27), "inv-" + strings.Repeat("0", 29), "INV-" + strings.Repeat("0", 28),
				"inv-" + strings.Repeat("A", 28), "inv-" + strings.Repeat("g", 28), "inv/" + strings.Repeat("0", 28)}},
	} {
		v.run(t)
	}
}

func TestValidateLimits(t *testing.T) {
	for _, v := range []validator[int64]{
		{"ValidateMaxConnections", func(n int64) error { return tenant.ValidateMaxConnections(int(n)) }, tenant.CodeInvalidMaxConnections, "maxConnections",
			[]int64{1, 100, 10_000},
			[]int64{-1, 0, 10_001, 1 << 40}},
		{"ValidateInviteTTL", tenant.ValidateInviteTTL, tenant.CodeInvalidTTL, "ttlSeconds",
			[]int64{3600, 7 * 86400, 30 * 86400},
			[]int64{-3600, 0, 3599, 30*86400 + 1}},
	} {
		v.run(t)
	}
}
