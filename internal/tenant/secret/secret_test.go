package secret

import (
	"errors"
	"testing"
	"time"
)

func TestDigest(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := Digest("abc"); got != want {
		t.Fatalf("Digest(abc) = %s, want %s", got, want)
	}
}

func TestRandom(t *testing.T) {
	a, b := Random(16), Random(16)
	if len(a) != 16 || len(b) != 16 || string(a) == string(b) {
		t.Fatalf("Random(16) = %x, %x: want two different 16-byte values", a, b)
	}
	if len(Random(0)) != 0 {
		t.Fatal("Random(0) is not empty")
	}
}

func TestCheck(t *testing.T) {
	errInvalid, errRevoked, errExpired := errors.New("invalid"), errors.New("revoked"), errors.New("expired")
	r := Refusals{Invalid: errInvalid, Revoked: errRevoked, Expired: errExpired}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := Digest("s3cret")
	tests := []struct {
		name    string
		secret  string
		revoked bool
		expires time.Time
		want    error
	}{
		{"live", "s3cret", false, now.Add(time.Nanosecond), nil},
		{"another secret", "s3creT", false, now.Add(time.Hour), errInvalid},
		{"empty secret", "", false, now.Add(time.Hour), errInvalid},
		{"another secret says nothing of revocation", "x", true, now.Add(-time.Hour), errInvalid},
		{"revoked", "s3cret", true, now.Add(time.Hour), errRevoked},
		{"revocation wins over expiry", "s3cret", true, now.Add(-time.Hour), errRevoked},
		{"expired at expiresAt", "s3cret", false, now, errExpired},
		{"expired after", "s3cret", false, now.Add(-time.Nanosecond), errExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Check(d, tc.secret, tc.revoked, tc.expires, now); err != tc.want {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckWithoutRefusals: a Refusals that names no error of its own
// refuses with the package's, never with nil.
func TestCheckWithoutRefusals(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := Digest("s3cret")
	for _, tc := range []struct {
		secret  string
		revoked bool
		expires time.Time
		want    error
	}{
		{"other", false, now.Add(time.Hour), ErrInvalid},
		{"s3cret", true, now.Add(time.Hour), ErrRevoked},
		{"s3cret", false, now, ErrExpired},
	} {
		if err := (Refusals{}).Check(d, tc.secret, tc.revoked, tc.expires, now); !errors.Is(err, tc.want) {
			t.Errorf("Check(%q, revoked %v) = %v, want %v", tc.secret, tc.revoked, err, tc.want)
		}
	}
}
