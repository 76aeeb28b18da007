package tenant_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/tenant"
)

func TestDefaultMaxConnections(t *testing.T) {
	tn, err := tenant.New("acme", "Acme", time.Now())
	if err != nil || tn.MaxConnections != tenant.DefaultMaxConnections || tenant.DefaultMaxConnections != 100 {
		t.Fatalf("New: max %d, %v", tn.MaxConnections, err)
	}
}

func TestInviteID(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	code, inv := tenant.NewInvite("acme", now, 0)
	if err := tenant.ValidateInviteID(inv.ID); err != nil {
		t.Fatalf("generated ID %q: %v", inv.ID, err)
	}
	// The ID is unrelated to the code and its hash.
	if strings.Contains(inv.ID[4:], inv.Hash[:8]) || strings.Contains(code, inv.ID[4:]) {
		t.Fatalf("ID %q shares material with the code or its hash", inv.ID)
	}
	// IDs sort by creation time.
	later := tenant.NewInviteID(now.Add(time.Millisecond))
	earlier := tenant.NewInviteID(now.Add(-time.Hour))
	if !(earlier < inv.ID && inv.ID < later) {
		t.Fatalf("IDs out of order: %s %s %s", earlier, inv.ID, later)
	}
	if a, b := tenant.NewInviteID(now), tenant.NewInviteID(now); a == b {
		t.Fatalf("two IDs of one millisecond are equal: %s", a)
	}
}

func TestInviteCheckRevoked(t *testing.T) {
	now := time.Now()
	code, inv := tenant.NewInvite("acme", now, time.Hour)
	// Another code: the first character changed (a fixed "x" would be the
	// same code when the random one starts with it).
	wrong := "x" + code[1:]
	if code[0] == 'x' {
		wrong = "y" + code[1:]
	}
	tests := []struct {
		name    string
		revoked bool
		code    string
		at      time.Time
		want    error
	}{
		{"live", false, code, now, nil},
		{"revoked", true, code, now, tenant.ErrInviteRevoked},
		{"revoked and expired is revoked", true, code, now.Add(2 * time.Hour), tenant.ErrInviteRevoked},
		{"revoked with the wrong code is invalid", true, wrong, now, tenant.ErrInvalidInvite},
	}
	for _, tt := range tests {
		i := inv
		i.Revoked = tt.revoked
		if err := i.Check(tt.code, tt.at); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}
