package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// caller is a resolved caller: a configured principal, or a session the
// sandbox issued (role chaining).
type caller struct {
	id identity
	// issued: the credentials are a session this sandbox issued.
	issued bool
	// chained: the caller uses role session credentials, so the session
	// it gets from AssumeRole is role chaining (at most one hour).
	chained bool
	// sessionPolicy limits an issued session; nil when it had none.
	sessionPolicy *Policy
}

// sessionClaims is what the token of a session the sandbox issued carries.
// The sandbox keeps no table of sessions: a token names its session and is
// authenticated with an HMAC keyed by the sandbox's own signing key, and
// the session's secret access key is derived from its access key ID with
// that key (sessionSecret), so issuing millions of sessions costs no memory.
type sessionClaims struct {
	AccessKeyID string `json:"k"`
	Role        string `json:"r"` // the role's ARN, path included
	// RoleGen is the generation of the role the session was issued for
	// (sandboxRole.gen): a role deleted, or deleted and created again, is
	// another role, as IAM gives a new role a new unique ID.
	RoleGen uint64 `json:"g"`
	Session string `json:"s"`
	Expires int64  `json:"x"` // Unix seconds
	Policy  string `json:"p,omitempty"`
}

const tokenPrefix = "sandbox1."

// tokenKeySize is the size of a sandbox's session-token signing key.
const tokenKeySize = 32

// newTokenKey draws a sandbox's session-token signing key from crypto/rand.
// The key is the sandbox's own, never derived from Config.Seed: a seed is
// guessable (serve seeds with the clock), and STS credentials are valid only
// where STS issued them, so a token another sandbox signed, whatever its
// seed, is an unknown token here.
func newTokenKey() []byte {
	k := make([]byte, tokenKeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails; it crashes the program instead
	return k
}

// sessionToken renders the session token of an issued session.
func (s *STS) sessionToken(c sessionClaims) string {
	payload, _ := json.Marshal(c) // strings and an int always marshal
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(mac.Sum(nil))
}

// sessionSecret is the secret access key of the issued session with
// accessKeyID: derived from the key ID with the sandbox's own signing key,
// so the sandbox can check a session's signatures without keeping its
// secret, and no one can derive it who was not given it by AssumeRole.
func (s *STS) sessionSecret(accessKeyID string) string {
	return derivedSecret(s.tokenKey, "secret", accessKeyID)
}

// DefaultCallerKey keys the configured keys' secrets of a sandbox made
// without Config.CallerKey. It is no secret: such a sandbox serves tests,
// which sign with DefaultCallerSecret.
var DefaultCallerKey = []byte("rolecall sandbox caller key, for tests")

// callerSecret is the secret access key of the configured key
// accessKeyID: derived from the key ID with the sandbox's caller key.
func (s *STS) callerSecret(accessKeyID string) string {
	return derivedSecret(s.callerKey, "caller", accessKeyID)
}

// DefaultCallerSecret is the secret access key the configured key
// accessKeyID signs with in a sandbox made without Config.CallerKey.
func DefaultCallerSecret(accessKeyID string) string {
	return derivedSecret(DefaultCallerKey, "caller", accessKeyID)
}

// derivedSecret is the 40-character secret access key of accessKeyID:
// an HMAC of it with key, in domain (sessions' and configured keys' apart).
func derivedSecret(key []byte, domain, accessKeyID string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(domain + "\x00" + accessKeyID))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))[:40]
}

// CallerSecret is the secret access key a configured key (Config.Callers,
// SetCaller, a model's callers) signs with over HTTP, as an IAM user's or
// a role's long-term key has one: a request signed with another is
// SignatureDoesNotMatch. It is false for a key not configured.
func (s *STS) CallerSecret(accessKeyID string) (string, bool) {
	s.mu.RLock()
	_, ok := s.callers[accessKeyID]
	s.mu.RUnlock()
	if !ok {
		return "", false
	}
	return s.callerSecret(accessKeyID), true
}

// parseSessionToken returns the claims of a token this sandbox issued.
func (s *STS) parseSessionToken(tok string) (sessionClaims, bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return sessionClaims{}, false
	}
	p64, m64, ok := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	sum, err2 := enc.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil {
		return sessionClaims{}, false
	}
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return sessionClaims{}, false
	}
	var c sessionClaims
	if json.Unmarshal(payload, &c) != nil {
		return sessionClaims{}, false
	}
	return c, true
}

var (
	errInvalidToken = &APIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
	errExpiredToken = &APIError{Code: "ExpiredToken", Message: "The security token included in the request is expired", Status: http.StatusBadRequest}
)

// configuredCaller is a caller configured by its principal ARN (Config.Callers,
// SetCaller or the embedded Assumer). A role, or a session of one, calls
// with role session credentials. A principal of another partition is
// unknown here: partitions are separate IAM instances, and a credential
// issued in one is not valid in another, so STS answers as for any unknown
// access key.
//
// A session's ARN leaves out its role's path; the session acts as the
// sandbox role of its name, path included (aws:PrincipalArn, trust
// policies naming the role), as at IAM. A role or session that spells a
// sandbox role otherwise than IAM holds it (another case or path), or is
// of a role deleted since, is unknown (resolveRoleLocked), so no spelling
// escapes the policies of the role it stands for.
func (s *STS) configuredCaller(principalARN string) (caller, *APIError) {
	id, err := parseIdentity(principalARN)
	if err != nil || id.partition != s.partition {
		return caller{}, errInvalidToken
	}
	s.mu.RLock()
	id, ok := s.resolveRoleLocked(id)
	s.mu.RUnlock()
	if !ok {
		return caller{}, errInvalidToken
	}
	return caller{id: id, chained: id.kind == kindRole || id.kind == kindSession}, nil
}

// resolveCaller finds who calls with accessKeyID (and the session token the
// request carried, if any): a configured caller, or a session this sandbox
// issued, that has not expired, of a role the sandbox still holds (the same
// role, not one deleted and created again under its name).
//
// A session of a role that no longer exists is refused as an invalid
// token, for every action, GetCallerIdentity included: IAM names a
// session's role by its unique ID, and once the role is deleted no
// principal answers to it, so nothing the session signs is authenticated.
// (IAM does not document the code it returns then; InvalidClientTokenId is
// the refusal that lets the session do nothing at all.)
func (s *STS) resolveCaller(accessKeyID, sessionToken string) (caller, *APIError) {
	s.mu.RLock()
	arn, known := s.callers[accessKeyID]
	s.mu.RUnlock()
	if known {
		// A configured key stands for a long-term key: signed with a
		// session token as well, STS finds no session of that key and
		// refuses the token (the common stale AWS_SESSION_TOKEN).
		if sessionToken != "" {
			return caller{}, errInvalidToken
		}
		return s.configuredCaller(arn)
	}
	claims, ok := s.parseSessionToken(sessionToken)
	if !ok || claims.AccessKeyID != accessKeyID {
		return caller{}, errInvalidToken
	}
	if !s.now().Before(time.Unix(claims.Expires, 0)) {
		return caller{}, errExpiredToken
	}
	s.mu.RLock()
	held, exists := s.roles[claims.Role]
	s.mu.RUnlock()
	if !exists || held.gen != claims.RoleGen {
		return caller{}, errInvalidToken
	}
	role := held.arn
	c := caller{
		id: identity{kind: kindSession, partition: role.Partition, account: role.Account,
			roleName: role.Name, rolePath: role.Path, session: claims.Session},
		issued: true, chained: true,
	}
	c.id.arn = c.id.sessionARN(claims.Session)
	if claims.Policy != "" {
		// AssumeRole parsed it before signing the token, so a policy that
		// does not parse now is not one this sandbox issued.
		p, err := ParseIdentityPolicy([]byte(claims.Policy))
		if err != nil {
			return caller{}, errInvalidToken
		}
		c.sessionPolicy = p
	}
	return c, nil
}
