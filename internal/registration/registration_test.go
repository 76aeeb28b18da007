package registration_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/tenant"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNewTTL(t *testing.T) {
	tests := []struct {
		ttl     time.Duration
		wantTTL time.Duration
		wantErr error
	}{
		{0, registration.DefaultTTL, nil},
		{registration.MinTTL, registration.MinTTL, nil},
		{registration.MaxTTL, registration.MaxTTL, nil},
		{registration.MinTTL - time.Second, 0, registration.ErrTTL},
		{registration.MaxTTL + time.Second, 0, registration.ErrTTL},
		{-time.Hour, 0, registration.ErrTTL},
	}
	for _, tc := range tests {
		secret, tok, err := registration.New("acme", now, tc.ttl)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("ttl %v: err = %v, want %v", tc.ttl, err, tc.wantErr)
		}
		if err != nil {
			if secret != "" || tok != (registration.Token{}) {
				t.Fatalf("ttl %v: refused but returned a token", tc.ttl)
			}
			continue
		}
		if got := tok.ExpiresAt.Sub(tok.CreatedAt); got != tc.wantTTL {
			t.Errorf("ttl %v: lifetime %v, want %v", tc.ttl, got, tc.wantTTL)
		}
		if tok.TenantID != "acme" || !tok.CreatedAt.Equal(now) || tok.Revoked {
			t.Errorf("token = %+v", tok)
		}
	}
}

func TestTokenForm(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, tok, err := registration.New("acme", now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "rcr_") || len(secret) != 4+43 || !registration.WellFormed(secret) {
			t.Fatalf("secret %q is not rcr_ and 43 base64url characters", secret)
		}
		if tenant.WellFormedCode(secret) {
			t.Fatalf("registration token %q is also a well-formed invite code", secret)
		}
		if tok.Hash != registration.Hash(secret) || strings.Contains(tok.Hash, secret[4:]) {
			t.Fatal("the stored digest is not the SHA-256 of the secret")
		}
		if !registration.WellFormedID(tok.ID) {
			t.Fatalf("token ID %q is not well formed", tok.ID)
		}
		if seen[secret] || seen[tok.ID] {
			t.Fatal("a secret or ID repeated")
		}
		seen[secret], seen[tok.ID] = true, true
	}
}

func TestWellFormed(t *testing.T) {
	good, _, _ := registration.New("acme", now, 0)
	tests := []struct {
		s    string
		want bool
	}{
		{good, true},
		{"", false},
		{"rcr_", false},
		{good[:len(good)-1], false},
		{good + "A", false},
		{"rcx_" + good[4:], false},
		{"RCR_" + good[4:], false},
		{good[:10] + "+" + good[11:], false},
		{good[:10] + "=" + good[11:], false},
		{good[:10] + "é"[:1] + good[11:], false},
		{" " + good[1:], false},
	}
	for _, tc := range tests {
		if got := registration.WellFormed(tc.s); got != tc.want {
			t.Errorf("WellFormed(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	ids := []struct {
		s    string
		want bool
	}{
		{registration.NewTokenID(), true},
		{"rtk-0123456789abcdef0123", true},
		{"rtk-0123456789ABCDEF0123", false},
		{"rtk-0123456789abcdef012", false},
		{"rtk-0123456789abcdef01234", false},
		{"rtx-0123456789abcdef0123", false},
		{"rtk-0123456789abcdef012/", false},
	}
	for _, tc := range ids {
		if got := registration.WellFormedID(tc.s); got != tc.want {
			t.Errorf("WellFormedID(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	secret, tok, _ := registration.New("acme", now, registration.MinTTL)
	other, _, _ := registration.New("acme", now, 0)
	revoked := tok
	revoked.Revoked = true
	tests := []struct {
		name   string
		tok    registration.Token
		secret string
		at     time.Time
		want   error
	}{
		{"valid", tok, secret, now, nil},
		{"just before expiry", tok, secret, tok.ExpiresAt.Add(-time.Nanosecond), nil},
		{"at expiry", tok, secret, tok.ExpiresAt, registration.ErrExpired},
		{"another secret", tok, other, now, registration.ErrInvalid},
		{"empty secret", tok, "", now, registration.ErrInvalid},
		{"revoked", revoked, secret, now, registration.ErrRevoked},
		{"revoked, wrong secret", revoked, other, now, registration.ErrInvalid},
	}
	for _, tc := range tests {
		if err := tc.tok.Check(tc.secret, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if !tok.Live(now) || revoked.Live(now) || tok.Live(tok.ExpiresAt) {
		t.Error("Live disagrees with Check")
	}
}
