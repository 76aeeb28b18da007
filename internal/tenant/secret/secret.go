// Package secret provides what the secrets RoleCall issues to tenants have
// in common: their randomness (crypto/rand), and the check of a presented
// bearer secret (an invite code, a registration token) against what is
// stored of it: a SHA-256 digest, never the secret, with the record's
// revocation and expiry. Both kinds are checked here, the same way, so they
// cannot drift apart (a comparison that is not constant-time, or expiry
// told before the digest matched).
package secret

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"
)

// Random returns n bytes from crypto/rand, the randomness of tenants'
// external IDs, invite codes, registration tokens and their IDs.
// crypto/rand.Read never returns an error (it
// crashes the program instead), so there is none to handle.
func Random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Digest is the stored form of a secret: its SHA-256, in hex.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Refusals are the errors one kind of secret is refused with. A refusal
// left nil is the package's own (ErrInvalid, ErrRevoked, ErrExpired), so a
// Refusals missing one never lets a secret in.
type Refusals struct {
	Invalid error // the secret is not the one the record was made for
	Revoked error
	Expired error
}

// The refusals of a Refusals that names none of its own.
var (
	ErrInvalid = errors.New("secret: invalid")
	ErrRevoked = errors.New("secret: revoked")
	ErrExpired = errors.New("secret: expired")
)

// Check authenticates secret against the stored record (digest, revoked,
// expiresAt) at now. The digests are compared in constant time, and first:
// a wrong secret is told only that it is invalid, nothing of the record.
// The record is expired from expiresAt on.
func (r Refusals) Check(digest, secret string, revoked bool, expiresAt, now time.Time) error {
	if subtle.ConstantTimeCompare([]byte(digest), []byte(Digest(secret))) != 1 {
		return cmp.Or(r.Invalid, ErrInvalid)
	}
	if revoked {
		return cmp.Or(r.Revoked, ErrRevoked)
	}
	if !now.Before(expiresAt) {
		return cmp.Or(r.Expired, ErrExpired)
	}
	return nil
}
