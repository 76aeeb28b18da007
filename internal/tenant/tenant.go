// Package tenant models the partner's customer organisations and the secrets
// RoleCall issues to them: the external ID each tenant's role must require,
// its rotation in two phases (RotatedWithGrace: the previous ID stays
// accepted until the grace ends, AcceptsExternalID), and the invite codes
// that let a customer act for a tenant.
//
// External IDs and invite codes are generated here from crypto/rand and never
// taken from input. Invite codes are returned once and stored only as their
// SHA-256 hash; package secret checks a presented code against it.
package tenant

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rolecall/rolecall/internal/refusal"
	"github.com/rolecall/rolecall/internal/tenant/secret"
	"github.com/rolecall/rolecall/internal/truncate"
)

// Stable error codes.
const (
	CodeInvalidTenantID = "INVALID_TENANT_ID"
	CodeInvalidName     = "INVALID_NAME"
	CodeInvalidInvite   = "INVALID_INVITE"
	CodeInviteExpired   = "INVITE_EXPIRED"
	CodeInviteRevoked   = "INVITE_REVOKED"
	// CodeInvalidMaxConnections: maxConnections out of range.
	CodeInvalidMaxConnections = "INVALID_MAX_CONNECTIONS"
	// CodeInvalidTTL: an invite's ttlSeconds out of range.
	CodeInvalidTTL = "INVALID_TTL"
	// CodeInvalidInviteID: a malformed invite ID in a URL.
	CodeInvalidInviteID = "INVALID_INVITE_ID"
)

// Error is a rejected input: a refusal with a stable code, a message and
// the field; errors.Is matches on the code.
type Error = refusal.Error

// Sentinel errors for errors.Is.
var (
	ErrInvalidInvite = &Error{Code: CodeInvalidInvite, Message: "the invite link is not valid; ask the partner for a new one"}
	ErrInviteExpired = &Error{Code: CodeInviteExpired, Message: "the invite link has expired; ask the partner for a new one"}
	ErrInviteRevoked = &Error{Code: CodeInviteRevoked, Message: "the invite link was revoked; ask the partner for a new one"}
)

// Tenant is one customer organisation of the partner.
type Tenant struct {
	ID                string    `json:"tenantId"`
	Name              string    `json:"name"`
	ExternalID        string    `json:"externalId"`
	ExternalIDVersion int       `json:"externalIdVersion"` // 1 at creation, +1 per rotation
	CreatedAt         time.Time `json:"createdAt"`
	RotatedAt         time.Time `json:"rotatedAt,omitzero"`
	// MaxConnections bounds the tenant's live (not DISCONNECTED)
	// connections: a submission that would add one more is refused.
	MaxConnections int `json:"maxConnections"`
	// PreviousExternalID is the ID a rotation replaced, still accepted
	// until GraceEndsAt (version PreviousExternalIDVersion, always
	// ExternalIDVersion-1), so customers can update their trust policies
	// without an outage. Empty once retired; a retired ID is never used,
	// nor given to anyone, again.
	PreviousExternalID        string    `json:"previousExternalId,omitempty"`
	PreviousExternalIDVersion int       `json:"previousExternalIdVersion,omitempty"`
	GraceEndsAt               time.Time `json:"graceEndsAt,omitzero"`
	// GraceWrites counts the connection writes that rested on the
	// previous external ID alone (its successes during the grace). A
	// rotation completes because every connection is current only if it
	// is unchanged since the tenant was read: a success with the previous
	// ID written while the connections were listed keeps the grace.
	GraceWrites int64 `json:"-"`
}

// Bounds of a tenant's MaxConnections.
const (
	DefaultMaxConnections = 100
	MinMaxConnections     = 1
	MaxMaxConnections     = 10_000
)

// ValidateMaxConnections checks a partner-chosen connection limit.
func ValidateMaxConnections(n int) error {
	if n < MinMaxConnections || n > MaxMaxConnections {
		return &Error{Code: CodeInvalidMaxConnections, Field: "maxConnections",
			Message: fmt.Sprintf("maxConnections is an integer from %d to %d", MinMaxConnections, MaxMaxConnections)}
	}
	return nil
}

// Rotation grace periods.
const (
	DefaultRotationGrace = 7 * 24 * time.Hour
	MaxRotationGrace     = 30 * 24 * time.Hour
)

// ValidateID checks a partner-chosen tenant ID: 1-64 of [A-Za-z0-9._-].
func ValidateID(id string) error {
	if len(id) < 1 || len(id) > 64 {
		return &Error{Code: CodeInvalidTenantID, Field: "tenantId", Message: "a tenant ID is 1 to 64 characters long"}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return &Error{Code: CodeInvalidTenantID, Field: "tenantId", Message: "a tenant ID may contain only letters, digits, '.', '_' and '-'"}
		}
	}
	// Tenant IDs are URL path segments (/v1/tenants/{tenantId}/…): "." and
	// ".." would be dot segments that clients and proxies resolve away.
	if id == "." || id == ".." {
		return &Error{Code: CodeInvalidTenantID, Field: "tenantId", Message: "a tenant ID may not be \".\" or \"..\""}
	}
	return nil
}

// ValidateName checks a tenant's display name: 1-128 printable characters
// of valid UTF-8, at least one of them a letter or a digit, none of them
// invisible, and no blank at either end: operators and customers tell
// tenants apart by what the name shows.
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return &Error{Code: CodeInvalidName, Field: "name", Message: "a name must be valid UTF-8 text"}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 128 || blank(first) || blank(last) {
		return &Error{Code: CodeInvalidName, Field: "name", Message: "a name is 1 to 128 characters long, without leading or trailing spaces"}
	}
	shows := false
	for _, r := range name {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return &Error{Code: CodeInvalidName, Field: "name", Message: "a name may not contain control characters"}
		}
		// Invisible characters (zero-width, bidi overrides, fillers,
		// variation selectors, grapheme joiners) could disguise a name as
		// another one, or as none.
		if invisible(r) {
			return &Error{Code: CodeInvalidName, Field: "name", Message: "a name may not contain invisible characters"}
		}
		shows = shows || unicode.IsLetter(r) || unicode.IsDigit(r)
	}
	if !shows {
		return &Error{Code: CodeInvalidName, Field: "name", Message: "a name needs at least one letter or digit"}
	}
	return nil
}

// invisible reports whether r is a default-ignorable code point, which
// renders as nothing: format characters (Cf), variation selectors, and the
// others Unicode lists (Hangul fillers, the combining grapheme joiner, …).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// blank reports whether r shows as empty space: white space, or the braille
// pattern blank.
func blank(r rune) bool { return unicode.IsSpace(r) || r == '\u2800' }

// New creates a tenant with a freshly generated external ID.
func New(id, name string, now time.Time) (Tenant, error) {
	if err := ValidateID(id); err != nil {
		return Tenant{}, err
	}
	if err := ValidateName(name); err != nil {
		return Tenant{}, err
	}
	return Tenant{ID: id, Name: name, ExternalID: NewExternalID(), ExternalIDVersion: 1, CreatedAt: now.UTC(),
		MaxConnections: DefaultMaxConnections}, nil
}

// Rotated returns t with a new external ID; the old one is retired at once.
func (t Tenant) Rotated(now time.Time) Tenant { return t.RotatedWithGrace(now, 0) }

// RotatedWithGrace returns t with a new current external ID. With a grace
// period the replaced ID stays accepted as the previous one until now+grace;
// an older previous ID (a rotation still in its grace) is retired at once.
// Without one it is retired at once.
func (t Tenant) RotatedWithGrace(now time.Time, grace time.Duration) Tenant {
	now = now.UTC()
	t.PreviousExternalID, t.PreviousExternalIDVersion, t.GraceEndsAt = "", 0, time.Time{}
	if grace > 0 {
		t.PreviousExternalID, t.PreviousExternalIDVersion, t.GraceEndsAt = t.ExternalID, t.ExternalIDVersion, now.Add(grace)
	}
	t.ExternalID = NewExternalID()
	t.ExternalIDVersion++
	t.RotatedAt = now
	return t
}

// InGrace reports whether t has a previous external ID, retired or not
// (a rotation that has not been completed).
func (t Tenant) InGrace() bool { return t.PreviousExternalID != "" }

// PreviousAccepted reports whether the previous external ID is still
// accepted at time at.
func (t Tenant) PreviousAccepted(at time.Time) bool {
	return t.PreviousExternalID != "" && at.Before(t.GraceEndsAt)
}

// Retired returns t with its previous external ID retired.
func (t Tenant) Retired() Tenant {
	t.PreviousExternalID, t.PreviousExternalIDVersion, t.GraceEndsAt = "", 0, time.Time{}
	return t
}

// AcceptsExternalID reports whether a check made with the tenant's external
// ID of version v may still change a connection at time at: v is the
// current version (previous false), or, with previous true, the version of
// a previous ID still inside its rotation's grace period.
func (t Tenant) AcceptsExternalID(v int, previous bool, at time.Time) bool {
	if !previous {
		return v == t.ExternalIDVersion
	}
	return v == t.PreviousExternalIDVersion && t.PreviousAccepted(at)
}

// externalIDEncoding uses only characters STS allows in an external ID
// ([\w+=,.@:\/-]): upper-case letters and digits 2-7.
var externalIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewExternalID returns "rc-" and 160 random bits in base32 (35 characters),
// within STS's 2-1224 character limit and alphabet.
func NewExternalID() string {
	return "rc-" + externalIDEncoding.EncodeToString(secret.Random(20))
}

// generatedExternalIDLength is the length of NewExternalID's IDs: "rc-"
// and 160 bits in 32 base32 characters.
const generatedExternalIDLength = len("rc-") + 32

// IsGeneratedExternalID reports whether id has the shape of the IDs
// NewExternalID generates: "rc-" and 32 characters of its base32
// alphabet (A-Z, 2-7).
func IsGeneratedExternalID(id string) bool {
	if len(id) != generatedExternalIDLength || !strings.HasPrefix(id, "rc-") {
		return false
	}
	_, err := externalIDEncoding.DecodeString(id[len("rc-"):])
	return err == nil
}

// MaskExternalID shows enough of an external ID to tell two apart in logs and
// events without disclosing it: a prefix of at most a quarter of its
// length and at most maskShown (rc- and 4 of a generated ID's 32 random
// characters), cut on a character boundary and followed by "…"; nothing ("***") of an ID shorter than
// maskMinLength. A fixed prefix would disclose most of a short ID, which
// `rolecall verify --external-id` accepts from 2 characters.
func MaskExternalID(id string) string {
	if utf8.RuneCountInString(id) < maskMinLength {
		return "***"
	}
	return truncate.String(id, min(len(id)/4, maskShown))
}

// The masked prefix of MaskExternalID: at most maskShown bytes (whole
// characters only), and none of an ID shorter than maskMinLength
// characters (a quarter of which is under 2).
const (
	maskShown     = 7
	maskMinLength = 8
)

// Invite lets a customer act for one tenant until it expires or is revoked.
type Invite struct {
	// ID names the invite in listings and revocations. It is public: it
	// is drawn from crypto/rand independently of the code, so it tells
	// nothing about the code.
	ID        string    `json:"inviteId"`
	Hash      string    `json:"hash"` // hex SHA-256 of the code
	TenantID  string    `json:"tenantId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked"`
}

// Invite lifetimes: the default, and the range a partner may choose.
const (
	DefaultInviteTTL = 7 * 24 * time.Hour
	MinInviteTTL     = time.Hour
	MaxInviteTTL     = 30 * 24 * time.Hour
)

// ValidateInviteTTL checks a partner-chosen invite lifetime in seconds.
func ValidateInviteTTL(seconds int64) error {
	if seconds < int64(MinInviteTTL/time.Second) || seconds > int64(MaxInviteTTL/time.Second) {
		return &Error{Code: CodeInvalidTTL, Field: "ttlSeconds",
			Message: fmt.Sprintf("ttlSeconds is an integer from %d (1 hour) to %d (30 days)", int64(MinInviteTTL/time.Second), int64(MaxInviteTTL/time.Second))}
	}
	return nil
}

// NewInvite returns a random code (shown once) and the invite to store.
func NewInvite(tenantID string, now time.Time, ttl time.Duration) (code string, inv Invite) {
	code = strings.ToLower(externalIDEncoding.EncodeToString(secret.Random(24))) // 192 bits
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	return code, Invite{ID: NewInviteID(now), Hash: HashCode(code), TenantID: tenantID, CreatedAt: now.UTC(), ExpiresAt: now.UTC().Add(ttl)}
}

// NewInviteID returns "inv-", the creation time in milliseconds as 12 hex
// digits and 64 random bits as 16 hex digits: IDs sort by creation as
// strings (so listings come oldest first), and the random part, drawn
// separately from the code, keeps them unique and unrelated to it.
func NewInviteID(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0)) & (1<<48 - 1)
	return fmt.Sprintf("inv-%012x%s", ms, hex.EncodeToString(secret.Random(8)))
}

// ValidateInviteID checks an invite ID taken from a URL.
func ValidateInviteID(id string) error {
	if len(id) != 32 || !strings.HasPrefix(id, "inv-") {
		return &Error{Code: CodeInvalidInviteID, Field: "inviteId", Message: "an invite ID is \"inv-\" and 28 lower-case hex digits"}
	}
	for i := 4; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return &Error{Code: CodeInvalidInviteID, Field: "inviteId", Message: "an invite ID is \"inv-\" and 28 lower-case hex digits"}
		}
	}
	return nil
}

// HashCode is the stored form of an invite code.
func HashCode(code string) string { return secret.Digest(code) }

// WellFormedCode reports whether code could be an invite code, so that garbage
// is refused before any lookup.
func WellFormedCode(code string) bool {
	if len(code) != 39 {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Check verifies that inv is the invite for code, not revoked and still
// valid at now. The hash comparison is constant-time.
func (inv Invite) Check(code string, now time.Time) error {
	return inviteRefusals.Check(inv.Hash, code, inv.Revoked, inv.ExpiresAt, now)
}

var inviteRefusals = secret.Refusals{Invalid: ErrInvalidInvite, Revoked: ErrInviteRevoked, Expired: ErrInviteExpired}
