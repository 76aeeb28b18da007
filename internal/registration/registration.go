// Package registration provides registration tokens: long-lived, revocable,
// per-tenant secrets that let a customer's CloudFormation stack (or a
// StackSet across an Organization) register its role by itself through a
// custom resource, and the recorded answers that make a redelivered
// custom-resource request get the same answer as the first delivery.
//
// A token is "rcr_" followed by 43 base64url characters (256 random bits
// from crypto/rand), so it is distinct in form from an invite code. Only
// its SHA-256 digest is stored; it is shown once, when it is created.
package registration

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/tenant/secret"
)

// Prefix starts every registration token.
const Prefix = "rcr_"

// Placeholder has a token's shape and is no token: what needs a token's
// text before one is minted (rendering a guide to see that it renders)
// uses it. It is never stored, so it authenticates nothing.
var Placeholder = Prefix + strings.Repeat("A", base64.RawURLEncoding.EncodedLen(secretBytes))

// secretBytes is the token's randomness: 256 bits.
const secretBytes = 32

// tokenLen is the length of a token: the prefix and the base64url (no
// padding) encoding of the secret.
var tokenLen = len(Prefix) + base64.RawURLEncoding.EncodedLen(secretBytes)

// Lifetimes: a token serves a StackSet whose accounts enrol over months, so
// it lives long, but never without bound.
const (
	DefaultTTL = 365 * 24 * time.Hour
	MinTTL     = time.Hour
	MaxTTL     = 3 * 365 * 24 * time.Hour
)

// MaxLive is how many unrevoked, unexpired tokens a tenant may hold.
const MaxLive = 20

// Errors of authentication, matched with errors.Is. Each tells the customer
// what to do in the stack's failure reason.
var (
	ErrInvalid = errors.New("the registration token is not valid; ask the partner for the current quick-create link or token")
	ErrExpired = errors.New("the registration token has expired; ask the partner for a new token and update the stack's RegistrationToken parameter")
	ErrRevoked = errors.New("the registration token was revoked; ask the partner for a new token and update the stack's RegistrationToken parameter")
	// ErrTTL: a requested lifetime outside [MinTTL, MaxTTL].
	ErrTTL = fmt.Errorf("a registration token lives from %d to %d seconds", int64(MinTTL/time.Second), int64(MaxTTL/time.Second))
)

// Token is a stored registration token: never the secret, only its digest.
type Token struct {
	ID        string    `json:"tokenId"`
	TenantID  string    `json:"tenantId"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	// InviteHash is the invite a customer minted the token with on the
	// form (its stored digest), "" for tokens ops created.
	InviteHash string `json:"-"`
	// Via is "ops" or "invite": who created the token.
	Via string `json:"createdVia"`
}

// Who created a token.
const (
	ViaOps    = "ops"
	ViaInvite = "invite"
)

// MaxPerInvite is how many tokens one invite may mint on the form.
const MaxPerInvite = 3

// Live reports whether the token still authenticates at now.
func (t Token) Live(now time.Time) bool { return !t.Revoked && now.Before(t.ExpiresAt) }

// New returns a fresh secret (to show once) and the token to store. ttl 0
// means DefaultTTL; anything outside [MinTTL, MaxTTL] is ErrTTL.
func New(tenantID string, now time.Time, ttl time.Duration) (string, Token, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return "", Token{}, ErrTTL
	}
	token := Prefix + base64.RawURLEncoding.EncodeToString(secret.Random(secretBytes))
	now = now.UTC()
	return token, Token{
		ID:        NewTokenID(),
		TenantID:  tenantID,
		Hash:      Hash(token),
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
		Via:       ViaOps,
	}, nil
}

// NewTokenID returns a random token ID, "rtk-" and 20 hex digits: it names
// a token in listings and URLs and reveals nothing of the secret.
func NewTokenID() string { return "rtk-" + hex.EncodeToString(secret.Random(10)) }

// WellFormedID reports whether id could be a token ID.
func WellFormedID(id string) bool {
	rest, ok := strings.CutPrefix(id, "rtk-")
	if !ok || len(rest) != 20 {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Hash is the stored form of a token: hex SHA-256.
func Hash(token string) string { return secret.Digest(token) }

// WellFormed reports whether s could be a registration token, so garbage is
// refused before any store lookup.
func WellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(s) != tokenLen {
		return false
	}
	for _, c := range rest {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Check authenticates token (the secret) against the stored token at now:
// the digest is compared in constant time, then revocation and expiry.
func (t Token) Check(token string, now time.Time) error {
	return tokenRefusals.Check(t.Hash, token, t.Revoked, t.ExpiresAt, now)
}

var tokenRefusals = secret.Refusals{Invalid: ErrInvalid, Revoked: ErrRevoked, Expired: ErrExpired}

// Answer is the response RoleCall gave to one custom-resource request,
// recorded so that a redelivery of the request gets the same answer.
type Answer struct {
	Status             string            `json:"status"` // SUCCESS or FAILED
	Reason             string            `json:"reason,omitempty"`
	PhysicalResourceID string            `json:"physicalResourceId"`
	Data               map[string]string `json:"data,omitempty"`
	AnsweredAt         time.Time         `json:"answeredAt"`
}

// AnswerRetention is how long an answer is kept: CloudFormation waits at
// most an hour for one, and SNS redelivers within that.
const AnswerRetention = 7 * 24 * time.Hour
