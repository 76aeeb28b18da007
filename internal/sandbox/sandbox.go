// Package sandbox is an STS stand-in for running RoleCall without AWS: an
// HTTP endpoint speaking enough of the STS Query protocol (AssumeRole,
// GetCallerIdentity) that aws-sdk-go-v2's sts client works against it
// unchanged through BaseEndpoint, and an embedded probe.Assumer with the same
// behaviour and no HTTP.
//
// The sandbox holds roles (ARN → trust policy, in real IAM policy grammar),
// the identity-based policies of its callers and the AWS Organization of
// each account, and authorizes each AssumeRole as IAM does, never more
// leniently: the role's trust policy (principal, action, sts:ExternalId and
// the other supported conditions), the caller's identity-based policies
// (Resource, aws:ResourceAccount, aws:ResourceOrgID) and session policy,
// explicit deny first. Grammar it does not model is refused when a policy
// is loaded, never evaluated as a silent allow or deny. So is text IAM
// refuses: a character other than tab, line feed, carriage return and
// U+0020 to U+00FF (named with its line and column, never with the
// document's text), a trust policy over IAM's default quota of 2,048
// characters, an identity-based policy over 4,096 (whitespace not counted;
// AssumeRole refuses a session policy over 2,048, as STS does); a JSON
// escape that decodes outside that character set is refused as
// unmodelled. Unknown roles are denied exactly like roles that refuse the
// caller, so nothing leaks whether a role exists. Errors carry the codes real STS returns (AccessDenied,
// RegionDisabledException, Throttling, ValidationError, ExpiredToken, …).
//
// Callers are identified by the access key ID of the SigV4 Authorization
// header: a configured principal, or a session the sandbox issued (its
// session token names it), so role chaining works, with STS's one-hour
// limit. Session tokens are signed with a key each sandbox draws from
// crypto/rand when it is made, never from its seed: as STS credentials are
// valid only where STS issued them, a session is a caller of the sandbox
// that issued it only, and only while the role it was issued for exists (a
// role deleted, or deleted and created again, leaves its sessions
// InvalidClientTokenId). A caller of another partition than the sandbox's
// is unknown too (InvalidClientTokenId): partitions are separate IAM
// instances and AssumeRole never crosses them, so a bare account ID in a
// trust policy names the account in the role's own partition.
// The SigV4 signature of every request is checked (sigv4.Verify) against
// the secret of the key that signed it, which the sandbox derives from the
// key's ID: a session's with the same key as its token, a configured key's
// (a long-term key) with Config.CallerKey (CallerSecret). A wrong secret,
// or another key's, is SignatureDoesNotMatch, as at STS, and so is a
// credential scoped to another service or to no Region of the sandbox's
// partition. The signing time is checked against the wall clock: within
// five minutes of it (sigv4.MaxSkew) and on the credential scope's day, so
// a request replayed later is refused. A presigned URL is refused, as the
// sandbox does not check presigned signatures. A parameter given twice is
// refused: STS does not document which one it reads. An optional request quota
// per caller account and Region throttles as STS does. Fault injection
// (latency with jitter, throttling, 5xx) is deterministic for a seed: the
// n-th call draws the same faults.
//
// The policy engine (trust, identity and session policies, conditions,
// principals) is written here because no library the Go module proxy
// serves evaluates IAM policies: the AWS SDK's IAM and STS clients only
// call AWS (its policy simulator included), and the general policy engines
// it serves (Open Policy Agent, Cedar, Casbin) evaluate their own
// languages, not IAM's grammar, operators and evaluation order. The engine
// implements the part of IAM RoleCall's probes and role chaining rely on
// and refuses every other construct when a policy is loaded, so it is
// never more lenient than IAM.
package sandbox

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// Config configures a sandbox STS.
type Config struct {
	// Partition of the sandbox's roles (default "aws").
	Partition string
	// Callers maps an access key ID to the principal ARN that calls with
	// it: arn:<p>:iam::<account>:role/<name> (a session of that role),
	// …:user/<name>, …:root or arn:<p>:sts::<account>:assumed-role/<r>/<s>.
	Callers map[string]string
	// Seed makes fault injection and generated identifiers (access key
	// IDs, request IDs) deterministic. It keys nothing: the session tokens a
	// sandbox issues are signed with a key of its own, drawn from
	// crypto/rand, so they are valid at that sandbox only.
	Seed int64
	// Region is the region the embedded Assumer calls (default
	// "us-east-1"); over HTTP the region comes from the SigV4 scope.
	Region string
	// Now is the clock for credential expirations and the request quota
	// (default time.Now).
	Now func() time.Time
	// CallerKey keys the secret access keys of the configured keys
	// (CallerSecret): each key's secret is derived from its ID with it.
	// nil: DefaultCallerKey, whose secrets DefaultCallerSecret gives, for
	// tests; serve draws one of its own.
	CallerKey []byte
	// RequestsPerSecond is the STS request quota per caller account and
	// Region: a call above it, in any one-second window, fails with STS's
	// Throttling error (HTTP 400, "Rate exceeded") and does not count.
	// Every action counts (AssumeRole and GetCallerIdentity share the
	// account's quota, as in STS). Zero, the default, sets no quota.
	RequestsPerSecond int
}

// STS is the sandbox STS. It is safe for concurrent use.
type STS struct {
	partition string
	region    string
	now       func() time.Time
	seed      int64
	// tokenKey signs the session tokens this sandbox issues (newTokenKey).
	tokenKey []byte
	// callerKey keys the configured keys' secrets (Config.CallerKey).
	callerKey []byte

	mu      sync.RWMutex
	callers map[string]string
	roles   map[string]sandboxRole // canonical role ARN → role
	byClaim map[string]string      // role claim key → its canonical ARN in roles
	// gone: the claim keys of roles deleted and not created again, whose
	// principals no longer exist (resolveRoleLocked).
	gone     map[string]bool
	disabled map[string]bool // "<account>/<region>"
	// notEnabled: the opt-in Regions an account has not enabled, as
	// "<account>/<region>" (SetRegionNotEnabled).
	notEnabled map[string]bool
	// identityPolicies: role ARN or user ARN → its identity-based policies.
	identityPolicies map[string][]*Policy
	orgs             map[string]string // account ID → organization ID
	// roleGens counts the roles created, so each gets a generation of its
	// own (sandboxRole.gen).
	roleGens uint64

	quota quota

	fmu    sync.Mutex
	faults Faults
	rng    *rand.Rand
	calls  uint64
}

type sandboxRole struct {
	arn        rolearn.ARN
	doc        []byte
	policy     *Policy
	maxSession int32 // MaxSessionDuration, seconds
	// gen tells this role from one of the same ARN deleted before it was
	// created: the sandbox's stand-in for IAM's unique role ID. Replacing
	// a role's trust policy (the same ARN) keeps it, as
	// UpdateAssumeRolePolicy keeps the role's ID.
	gen uint64
}

// New returns a sandbox STS with no roles and no faults.
func New(cfg Config) *STS {
	s := &STS{
		partition:  cfg.Partition,
		region:     cfg.Region,
		now:        cfg.Now,
		seed:       cfg.Seed,
		tokenKey:   newTokenKey(),
		callerKey:  cfg.CallerKey,
		callers:    map[string]string{},
		roles:      map[string]sandboxRole{},
		byClaim:    map[string]string{},
		gone:       map[string]bool{},
		disabled:   map[string]bool{},
		notEnabled: map[string]bool{},
		orgs:       map[string]string{},

		identityPolicies: map[string][]*Policy{},
		rng:              rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5a4e_d805_7e5b_0001)),
	}
	if s.callerKey == nil {
		s.callerKey = DefaultCallerKey
	}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.quota.set(cfg.RequestsPerSecond)
	for k, v := range cfg.Callers {
		s.callers[k] = v
	}
	return s
}

// Partition returns the sandbox's partition.
func (s *STS) Partition() string { return s.partition }

// Region is the sandbox's Region: the one its embedded Assumer calls in.
func (s *STS) Region() string { return s.region }

// SetCaller maps an access key ID to a principal ARN (see Config.Callers).
func (s *STS) SetCaller(accessKeyID, principalARN string) error {
	if err := ValidatePrincipal(principalARN); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callers[accessKeyID] = principalARN
	return nil
}

// ValidatePrincipal checks that arn can be a sandbox caller: an IAM root,
// user or role ARN, or an assumed-role session ARN.
func ValidatePrincipal(arn string) error {
	if _, err := parseIdentity(arn); err != nil {
		return fmt.Errorf("caller principal %q: %w", arn, err)
	}
	return nil
}

// PutRole creates or replaces a sandbox role. The trust policy is parsed and
// validated now: unsupported grammar is refused here (errors.Is(err,
// ErrUnsupported)), never evaluated as a silent allow, and so is a role
// principal deleted and not created again (ErrInvalidPolicy), as IAM
// refuses it.
func (s *STS) PutRole(roleARN string, trustPolicy []byte) error {
	a, err := rolearn.Parse(roleARN, rolearn.Rules{Partition: s.partition})
	if err != nil {
		return fmt.Errorf("put sandbox role %q: %w", roleARN, err)
	}
	p, err := ParsePolicy(trustPolicy)
	if err != nil {
		return fmt.Errorf("put sandbox role %s: %w", a, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deletedRoleLocked(p, nil); err != nil {
		return fmt.Errorf("put sandbox role %s: %w", a, err)
	}
	s.putRoleLocked(sandboxRole{arn: a, doc: append([]byte(nil), trustPolicy...), policy: p, maxSession: defaultMaxSession})
	return nil
}

// putRoleLocked puts r, replacing any role of its claim key (IAM role
// names are unique per account whatever the case and path). A role of the
// same ARN keeps its generation, so its sessions stay valid; any other is a
// new role, and the sessions of the one it replaces are of a role that no
// longer exists. s.mu must be held for writing.
func (s *STS) putRoleLocked(r sandboxRole) {
	key := r.arn.ClaimKey()
	if old, ok := s.byClaim[key]; ok {
		if prev := s.roles[old]; old == r.arn.String() {
			r.gen = prev.gen
		} else {
			s.roleGoneLocked(prev.arn)
		}
		delete(s.roles, old)
	}
	if r.gen == 0 {
		s.roleGens++
		r.gen = s.roleGens
	}
	// A role created (or created again) holds no identity policies until
	// it is given some, not the default of a configured caller the sandbox
	// holds no role of: IAM creates a role with none. Policies a model gave
	// a session of its name before its path was known stay its configured
	// callers' (policiesOf), and its issued sessions hold none of them.
	delete(s.gone, key)
	pathless := r.arn
	pathless.Path = "/"
	if _, set := s.identityPolicies[r.arn.String()]; !set {
		if _, early := s.identityPolicies[pathless.String()]; !early || pathless == r.arn {
			s.identityPolicies[r.arn.String()] = []*Policy{}
		}
	}
	s.roles[r.arn.String()] = r
	s.byClaim[key] = r.arn.String()
}

// DeleteRole deletes a sandbox role and what IAM ties to its unique ID
// (roleGoneLocked); deleting an unknown role does nothing.
func (s *STS) DeleteRole(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []string{roleARN}
	if a, err := rolearn.Parse(roleARN, rolearn.Rules{}); err == nil {
		keys = append(keys, a.String())
	}
	for _, k := range keys {
		if r, ok := s.roles[k]; ok {
			delete(s.roles, k)
			s.roleGoneLocked(r.arn)
			if s.byClaim[r.arn.ClaimKey()] == k {
				delete(s.byClaim, r.arn.ClaimKey())
			}
		}
	}
}

// roleGoneLocked removes what IAM ties to a deleted role's unique ID, not
// to its ARN, so a role created later with the ARN inherits none of it:
// its identity policies, the configured callers that are the role or its
// sessions, and the role as a principal of other roles' trust policies
// (IAM then shows it as the unique ID, which no caller answers to). s.mu
// must be held for writing.
func (s *STS) roleGoneLocked(role rolearn.ARN) {
	roleARN := role.String()
	delete(s.identityPolicies, roleARN)
	s.gone[role.ClaimKey()] = true
	for key, principal := range s.callers {
		id, err := parseIdentity(principal)
		if err != nil {
			continue
		}
		// A session ARN has no path: its role is the one of its name.
		if (id.kind == kindRole && id.roleARN() == roleARN) ||
			(id.kind == kindSession && id.partition == role.Partition && id.account == role.Account && id.roleName == role.Name) {
			delete(s.callers, key)
		}
	}
	for k, r := range s.roles {
		if p := r.policy.withoutRole(roleARN); p != r.policy {
			r.policy = p
			s.roles[k] = r
		}
	}
}

// TrustPolicy returns the trust policy document of a sandbox role as it was
// put, and whether the role exists.
func (s *STS) TrustPolicy(roleARN string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.roles[roleARN]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), r.doc...), true
}

// SetRegionDisabled makes STS in region disabled (or enabled again) for the
// roles of account, as when the account has not activated the region's STS
// endpoint: AssumeRole of its roles there fails with RegionDisabledException.
func (s *STS) SetRegionDisabled(accountID, region string, disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	setMember(s.disabled, accountID+"/"+region, disabled)
}

// SetRegionNotEnabled makes region an opt-in Region that account has not
// enabled (or has enabled again). STS there takes no request of the
// account's principals, their sessions included: IAM requires a Region not
// enabled by default to be enabled in the account making the request, not
// only in the one whose role is assumed (that one is SetRegionDisabled),
// and STS refuses such a request as a token it does not know,
// InvalidClientTokenId, for every action.
func (s *STS) SetRegionNotEnabled(accountID, region string, notEnabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	setMember(s.notEnabled, accountID+"/"+region, notEnabled)
}

// setMember puts key in the set m, or takes it out.
func setMember(m map[string]bool, key string, in bool) {
	if in {
		m[key] = true
	} else {
		delete(m, key)
	}
}

// callerRegionRefused is the refusal of a request of c signed for region,
// an opt-in Region c's account has not enabled (SetRegionNotEnabled), or
// nil.
func (s *STS) callerRegionRefused(c caller, region string) *APIError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.notEnabled[c.id.account+"/"+region] {
		return errInvalidToken
	}
	return nil
}

// APIError is an STS error as the sandbox returns it. It implements
// smithy.APIError, so probe.Classify treats it as it treats the SDK's.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string { return fmt.Sprintf("api error %s: %s", e.Code, e.Message) }

// ErrorCode is the STS error code.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage is the STS error message.
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault says whose fault the error is.
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.Status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

var _ smithy.APIError = (*APIError)(nil)

func validationError(msgs []string) *APIError {
	n := len(msgs)
	s := "s"
	if n == 1 {
		s = ""
	}
	return &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
		Message: fmt.Sprintf("%d validation error%s detected: %s", n, s, strings.Join(msgs, "; "))}
}

// callerIdentity is GetCallerIdentity's logic.
func callerIdentity(c caller, accessKeyID string) (arn, account, userID string) {
	id := c.id
	userID = accessKeyID
	switch id.kind {
	case kindRoot:
		userID = id.account
	case kindRole:
		userID = "AROA" + strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte(id.roleKey()))))[:17] + ":" + sandboxSessionName
	case kindSession:
		userID = "AROA" + strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte(id.roleKey()))))[:17] + ":" + id.session
	}
	return id.callerARN(), id.account, userID
}
