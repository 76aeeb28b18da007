package tenant_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/tenant"
)

func TestValidateMaxConnections(t *testing.T) {
	tests := []struct {
		n  int
		ok bool
	}{
		{-1, false}, {0, false}, {1, true}, {100, true}, {10_000, true}, {10_001, false}, {1 << 40, false},
	}
	for _, tt := range tests {
		wantValid(t, "ValidateMaxConnections", strconv.Itoa(tt.n), tenant.ValidateMaxConnections(tt.n), tt.ok, tenant.CodeInvalidMaxConnections, "maxConnections")
	}
	tn, err := tenant.New("acme", "Acme", time.Now())
	if err != nil || tn.MaxConnections != tenant.DefaultMaxConnections || tenant.DefaultMaxConnections != 100 {
		t.Fatalf("New: max %d, %v", tn.MaxConnections, err)
	}
}

func TestValidateInviteTTL(t *testing.T) {
	tests := []struct {
		s  int64
		ok bool
	}{
		{-3600, false}, {0, false}, {3599, false}, {3600, true}, {7 * 86400, true}, {30 * 86400, true}, {30*86400 + 1, false},
	}
	for _, tt := range tests {
		wantValid(t, "ValidateInviteTTL", strconv.FormatInt(tt.s, 10), tenant.ValidateInviteTTL(tt.s), tt.ok, tenant.CodeInvalidTTL, "ttlSeconds")
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
	bad := []string{"", "inv-", "inv-" + strings.Repeat("0", 27), "inv-" + strings.Repeat("0", 29), "INV-" + strings.Repeat("0", 28),
		"inv-" + strings.Repeat("A", 28), "inv-" + strings.Repeat("g", 28), "inv/" + strings.Repeat("0", 28)}
	for _, id := range bad {
		var te *tenant.Error
		if err := tenant.ValidateInviteID(id); !errors.As(err, &te) || te.Code != tenant.CodeInvalidInviteID {
			t.Errorf("ValidateInviteID(%q) = %v", id, err)
		}
	}
}

func TestInviteCheckRevoked(t *testing.T) {
	now := time.Now()
	code, inv := tenant.NewInvite("acme", now, time.Hour)
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
		{"revoked with the wrong code is invalid", true, "x" + code[1:], now, tenant.ErrInvalidInvite},
	}
	for _, tt := range tests {
		i := inv
		i.Revoked = tt.revoked
		if err := i.Check(tt.code, tt.at); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}
