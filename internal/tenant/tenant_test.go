package tenant_test

import (
	"encoding/base32"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rolecall/rolecall/internal/tenant"
)

// stsExternalID is the pattern and length STS accepts for ExternalId
// ([\w+=,.@:/-], 2 to 1224 characters; Go's regexp caps repeats at 1000).
var stsExternalID = stsPattern{regexp.MustCompile(`^[\w+=,.@:/-]+$`)}

type stsPattern struct{ re *regexp.Regexp }

func (p stsPattern) MatchString(s string) bool {
	return len(s) >= 2 && len(s) <= 1224 && p.re.MatchString(s)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func TestNewExternalIDFormat(t *testing.T) {
	const n = 2000
	seen := make(map[string]bool, n)
	var and, or [20]byte
	for i := range and {
		and[i] = 0xff
	}
	for range n {
		id := tenant.NewExternalID()
		if !stsExternalID.MatchString(id) {
			t.Fatalf("external ID %q is outside STS's alphabet or length", id)
		}
		if seen[id] {
			t.Fatalf("external ID %q generated twice", id)
		}
		seen[id] = true
		raw, err := b32.DecodeString(strings.TrimPrefix(id, "rc-"))
		if err != nil {
			t.Fatalf("external ID %q is not rc-<base32>: %v", id, err)
		}
		if len(raw)*8 < 128 {
			t.Fatalf("external ID %q carries %d bits, want >= 128", id, len(raw)*8)
		}
		for j := range raw {
			and[j] &= raw[j]
			or[j] |= raw[j]
		}
	}
	// Every one of the 160 bits must have been seen both 0 and 1: nothing is
	// fixed, so the IDs carry (at least) 128 random bits.
	for j := range and {
		if and[j] != 0 || or[j] != 0xff {
			t.Fatalf("byte %d has constant bits (and %08b, or %08b)", j, and[j], or[j])
		}
	}
}

func TestNewTenant(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	tn, err := tenant.New("acme-prod", "Acme Corp", now)
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID != "acme-prod" || tn.Name != "Acme Corp" || tn.ExternalIDVersion != 1 {
		t.Fatalf("tenant = %+v", tn)
	}
	if !stsExternalID.MatchString(tn.ExternalID) {
		t.Fatalf("external ID %q", tn.ExternalID)
	}
	if !tn.CreatedAt.Equal(now) || tn.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, want %v in UTC", tn.CreatedAt, now)
	}
	if !tn.RotatedAt.IsZero() {
		t.Fatalf("RotatedAt = %v, want zero", tn.RotatedAt)
	}
	other, _ := tenant.New("acme-prod", "Acme Corp", now)
	if other.ExternalID == tn.ExternalID {
		t.Fatal("two tenants got the same external ID")
	}

	for _, bad := range []struct{ id, name, code, field string }{
		{"", "Acme", tenant.CodeInvalidTenantID, "tenantId"},
		{"acme corp", "Acme", tenant.CodeInvalidTenantID, "tenantId"},
		{"acme", "", tenant.CodeInvalidName, "name"},
	} {
		_, err := tenant.New(bad.id, bad.name, now)
		var e *tenant.Error
		if !errors.As(err, &e) || e.Code != bad.code || e.Field != bad.field {
			t.Errorf("New(%q, %q) = %v, want %s on %s", bad.id, bad.name, err, bad.code, bad.field)
		}
	}
}

func TestRotated(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tn, _ := tenant.New("acme", "Acme", t0)
	seen := map[string]bool{tn.ExternalID: true}
	cur := tn
	for i := 2; i <= 5; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		next := cur.Rotated(at)
		if next.ExternalIDVersion != cur.ExternalIDVersion+1 || next.ExternalIDVersion != i {
			t.Fatalf("rotation %d: version %d, want %d", i, next.ExternalIDVersion, i)
		}
		if seen[next.ExternalID] {
			t.Fatalf("rotation %d reused external ID %q", i, next.ExternalID)
		}
		if !stsExternalID.MatchString(next.ExternalID) {
			t.Fatalf("rotated external ID %q", next.ExternalID)
		}
		seen[next.ExternalID] = true
		if !next.RotatedAt.Equal(at) || !next.CreatedAt.Equal(t0) || next.ID != tn.ID || next.Name != tn.Name {
			t.Fatalf("rotation %d: %+v", i, next)
		}
		cur = next
	}
	if tn.ExternalIDVersion != 1 || !tn.RotatedAt.IsZero() {
		t.Fatalf("Rotated must not modify its receiver: %+v", tn)
	}
}

// TestMaskExternalID: the mask reveals at most a quarter of an ID and at
// most 7 characters, nothing of one under 8, so a generated ID keeps its
// rc-XXXX… mask and a short one given to rolecall verify is not disclosed.
func TestMaskExternalID(t *testing.T) {
	generated := tenant.NewExternalID()
	tests := []struct {
		name, id, want string
	}{
		{"empty", "", "***"},
		{"2 characters, the shortest STS accepts", "ab", "***"},
		{"7 characters", "rc-ABCD", "***"},
		{"8 characters: a quarter", "ABCDEFGH", "AB…"},
		{"12 characters", "ABCDEFGHIJKL", "ABC…"},
		{"27 characters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0", "ABCDEF…"},
		{"28 characters: 7", "ABCDEFGHIJKLMNOPQRSTUVWXYZ01", "ABCDEFG…"},
		{"34 characters", "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234", "rc-EXAM…"},
		{"35 characters, generated", generated, generated[:7] + "…"},
		{"1224 characters, the longest STS accepts", strings.Repeat("x", 1224), "xxxxxxx…"},
		{"multi-byte runes are not cut", "éééééééééééé", "ééé…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tenant.MaskExternalID(tc.id)
			if got != tc.want {
				t.Fatalf("MaskExternalID(%q) = %q, want %q", tc.id, got, tc.want)
			}
			shown := utf8.RuneCountInString(strings.TrimSuffix(got, "…"))
			if n := utf8.RuneCountInString(tc.id); got != "***" && (shown > n/4 || shown > 7) {
				t.Errorf("%d of %d characters shown", shown, n)
			}
		})
	}
	if len(generated) != 35 {
		t.Fatalf("a generated ID has %d characters, want 35", len(generated))
	}
}

func TestNewInvite(t *testing.T) {
	now := time.Date(2025, 5, 5, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for range 500 {
		code, inv := tenant.NewInvite("acme", now, time.Hour)
		if seen[code] {
			t.Fatalf("invite code %q generated twice", code)
		}
		seen[code] = true
		if !tenant.WellFormedCode(code) {
			t.Fatalf("WellFormedCode(%q) = false for a generated code", code)
		}
		raw, err := b32.DecodeString(strings.ToUpper(code))
		if err != nil || len(raw)*8 < 128 {
			t.Fatalf("code %q: %d bits, %v", code, len(raw)*8, err)
		}
		if inv.Hash != tenant.HashCode(code) || len(inv.Hash) != 64 {
			t.Fatalf("invite hash %q is not the SHA-256 hex of the code", inv.Hash)
		}
		if inv.TenantID != "acme" || !inv.CreatedAt.Equal(now) || !inv.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("invite = %+v", inv)
		}
		// Only the hash is kept: the stored form does not contain the code.
		b, _ := json.Marshal(inv)
		if strings.Contains(strings.ToLower(string(b)), code) {
			t.Fatalf("stored invite %s contains the code", b)
		}
	}
	// HashCode is SHA-256 in hex (known answer).
	if got := tenant.HashCode("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashCode(abc) = %s", got)
	}
	_, inv := tenant.NewInvite("acme", now, 0)
	if !inv.ExpiresAt.Equal(now.Add(tenant.DefaultInviteTTL)) || tenant.DefaultInviteTTL != 7*24*time.Hour {
		t.Fatalf("default TTL: expires %v", inv.ExpiresAt)
	}
}

func TestWellFormedCode(t *testing.T) {
	good, _ := tenant.NewInvite("acme", time.Now(), 0)
	tests := []struct {
		code string
		want bool
	}{
		{good, true},
		{strings.Repeat("a", 39), true},
		{strings.Repeat("7", 39), true},
		{"", false},
		{good[:38], false},
		{good + "a", false},
		{strings.ToUpper(good), false},
		{strings.Repeat("a", 38) + "1", false},
		{strings.Repeat("a", 38) + "8", false},
		{strings.Repeat("a", 38) + "=", false},
		{" " + good[1:], false},
		{good[:38] + "\n", false},
		{strings.Repeat("a", 37) + "\u00e9", false}, // 39 bytes, non-ASCII
	}
	for _, tt := range tests {
		if got := tenant.WellFormedCode(tt.code); got != tt.want {
			t.Errorf("WellFormedCode(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestInviteCheck(t *testing.T) {
	now := time.Date(2025, 5, 5, 10, 0, 0, 0, time.UTC)
	code, inv := tenant.NewInvite("acme", now, time.Hour)
	other, _ := tenant.NewInvite("acme", now, time.Hour)
	tests := []struct {
		name string
		code string
		at   time.Time
		want error
	}{
		{"valid", code, now, nil},
		{"valid just before expiry", code, now.Add(time.Hour - time.Nanosecond), nil},
		{"expired at expiry", code, now.Add(time.Hour), tenant.ErrInviteExpired},
		{"expired later", code, now.Add(48 * time.Hour), tenant.ErrInviteExpired},
		{"wrong code", other, now, tenant.ErrInvalidInvite},
		{"wrong code, expired", other, now.Add(48 * time.Hour), tenant.ErrInvalidInvite},
		{"empty code", "", now, tenant.ErrInvalidInvite},
		{"the hash is not the code", inv.Hash, now, tenant.ErrInvalidInvite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inv.Check(tt.code, tt.at)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			var e *tenant.Error
			if !errors.As(err, &e) || e.Message == "" {
				t.Fatalf("Check error %v is not a *tenant.Error with a message", err)
			}
		})
	}
	if errors.Is(tenant.ErrInviteExpired, tenant.ErrInvalidInvite) {
		t.Fatal("expired and invalid must be distinguishable")
	}
}

func TestIsGeneratedExternalID(t *testing.T) {
	for range 100 {
		if id := tenant.NewExternalID(); !tenant.IsGeneratedExternalID(id) {
			t.Fatalf("IsGeneratedExternalID(%q) = false for a generated ID", id)
		}
	}
	for _, id := range []string{
		"", "rc-", "acme-123", "rc-123",
		"rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234",   // 31 characters
		"rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE23456", // 33
		"rc-exampleexampleexampleexample2345",  // lower case
		"rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE8900",  // 8, 9, 0 are not base32
		"xx-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345",
	} {
		if tenant.IsGeneratedExternalID(id) {
			t.Errorf("IsGeneratedExternalID(%q) = true", id)
		}
	}
	if id := "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345"; !tenant.IsGeneratedExternalID(id) {
		t.Errorf("IsGeneratedExternalID(%q) = false", id)
	}
}
