// Package sandbox is an STS stand-in for running RoleCall without AWS: an
// HTTP endpoint speaking enough of the STS Query protocol (AssumeRole,
// GetCallerIdentity) that aws-sdk-go-v2's sts client works against it
// unchanged through BaseEndpoint, and an embedded check.Assumer with the same
// behaviour and no HTTP.
//
// The sandbox holds roles (ARN → trust policy, in real IAM policy grammar)
// and evaluates their trust policies for each call: principal, action,
// sts:ExternalId and the other supported conditions, explicit deny. Unknown
// roles are denied exactly like roles that refuse the caller, so nothing
// leaks whether a role exists. Errors carry the codes real STS returns
// (AccessDenied, RegionDisabledException, Throttling, ValidationError, …).
//
// Callers are identified by the access key ID of the SigV4 Authorization
// header, mapped to a principal ARN by the configuration; signatures are not
// verified. Fault injection (latency with jitter, throttling, 5xx) is
// deterministic for a seed: the n-th call draws the same faults.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
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
	// Seed makes fault injection and generated identifiers deterministic.
	Seed int64
	// Region is the region the embedded Assumer calls (default
	// "us-east-1"); over HTTP the region comes from the SigV4 scope.
	Region string
	// Now is the clock for credential expirations (default time.Now).
	Now func() time.Time
}

// Faults are injected into every call, deterministically for the seed.
type Faults struct {
	Latency time.Duration // added to every call
	Jitter  time.Duration // plus a uniform random [0, Jitter)
	// ThrottleRate is the share of calls that fail with Throttling (HTTP
	// 400), ErrorRate the share that fail with InternalFailure (HTTP 500).
	// Rates are in [0,1]; when they add up to more than 1, throttling
	// takes its share first.
	ThrottleRate float64
	ErrorRate    float64
}

// STS is the sandbox STS. It is safe for concurrent use.
type STS struct {
	partition string
	region    string
	now       func() time.Time
	seed      int64

	mu       sync.RWMutex
	callers  map[string]string
	roles    map[string]sandboxRole // canonical role ARN → role
	byClaim  map[string]string      // role claim key → its canonical ARN in roles
	disabled map[string]bool        // "<account>/<region>"

	fmu    sync.Mutex
	faults Faults
	rng    *rand.Rand
	calls  uint64
}

type sandboxRole struct {
	arn    rolearn.ARN
	doc    []byte
	policy *Policy
}

// New returns a sandbox STS with no roles and no faults.
func New(cfg Config) *STS {
	s := &STS{
		partition: cfg.Partition,
		region:    cfg.Region,
		now:       cfg.Now,
		seed:      cfg.Seed,
		callers:   map[string]string{},
		roles:     map[string]sandboxRole{},
		byClaim:   map[string]string{},
		disabled:  map[string]bool{},
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5a4e_d805_7e5b_0001)),
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
	for k, v := range cfg.Callers {
		s.callers[k] = v
	}
	return s
}

// Partition returns the sandbox's partition.
func (s *STS) Partition() string { return s.partition }

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
// ErrUnsupported)), never evaluated as a silent allow.
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
	// IAM role names are unique per account whatever the case and path:
	// the role replaces any of the same claim key.
	if old, ok := s.byClaim[a.ClaimKey()]; ok {
		delete(s.roles, old)
	}
	s.roles[a.String()] = sandboxRole{arn: a, doc: append([]byte(nil), trustPolicy...), policy: p}
	s.byClaim[a.ClaimKey()] = a.String()
	return nil
}

// DeleteRole deletes a sandbox role; deleting an unknown role does nothing.
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
			if s.byClaim[r.arn.ClaimKey()] == k {
				delete(s.byClaim, r.arn.ClaimKey())
			}
		}
	}
}

// Roles returns the ARNs of the sandbox roles, sorted.
func (s *STS) Roles() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.roles))
	for k := range s.roles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
	if disabled {
		s.disabled[accountID+"/"+region] = true
	} else {
		delete(s.disabled, accountID+"/"+region)
	}
}

// SetFaults replaces the injected faults. Rates are clamped to [0, 1].
func (s *STS) SetFaults(f Faults) {
	clamp := func(x float64) float64 { return min(max(x, 0), 1) }
	f.ThrottleRate, f.ErrorRate = clamp(f.ThrottleRate), clamp(f.ErrorRate)
	f.Latency, f.Jitter = max(f.Latency, 0), max(f.Jitter, 0)
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = f
}

// Faults returns the injected faults.
func (s *STS) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// Calls returns how many calls reached the sandbox (HTTP and embedded).
func (s *STS) Calls() uint64 {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.calls
}

// APIError is an STS error as the sandbox returns it. It implements
// smithy.APIError, so check.Classify treats it as it treats the SDK's.
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

// faultDraw is what one call drew from the seeded generator.
type faultDraw struct {
	delay time.Duration
	err   *APIError
	n     uint64 // the call's sequence number
}

// draw takes the next call's faults. It always consumes two numbers, so the
// sequence of draws depends only on the seed and the call count.
func (s *STS) draw() faultDraw {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.calls++
	f := s.faults
	j, u := s.rng.Float64(), s.rng.Float64()
	d := faultDraw{n: s.calls, delay: f.Latency + time.Duration(j*float64(f.Jitter))}
	switch {
	case u < f.ThrottleRate:
		d.err = &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest}
	case u < f.ThrottleRate+f.ErrorRate:
		d.err = &APIError{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: http.StatusInternalServerError}
	}
	return d
}

// begin applies the call's faults: it waits the drawn latency (or until ctx
// ends) and returns the drawn error, if any.
func (s *STS) begin(ctx context.Context) (uint64, error) {
	d := s.draw()
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return d.n, ctx.Err()
		case <-t.C:
		}
	}
	if d.err != nil {
		return d.n, d.err
	}
	return d.n, nil
}

// assumeInput is an AssumeRole call's parameters as received.
type assumeInput struct {
	RoleARN         string
	RoleSessionName string
	ExternalID      string
	HasExternalID   bool
	DurationSeconds int32 // 0: absent (3600)
	Policy          string
	HasPolicy       bool
}

// assumeOutput is a successful AssumeRole.
type assumeOutput struct {
	AssumedRoleARN  string
	AssumedRoleID   string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	PackedPolicy    int
}

// maxRoleSession is the MaxSessionDuration of every sandbox role (IAM's
// default).
const maxRoleSession = 3600

// assumeRole is AssumeRole's logic, shared by HTTP and the embedded Assumer.
// callerARN is the already-resolved caller principal.
func (s *STS) assumeRole(callerARN, region string, in assumeInput, seq uint64) (assumeOutput, *APIError) {
	caller, err := parseIdentity(callerARN)
	if err != nil {
		return assumeOutput{}, &APIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
	}
	if msgs := validateAssume(in); len(msgs) > 0 {
		return assumeOutput{}, validationError(msgs)
	}
	if in.HasPolicy {
		if len(in.Policy) > 2048 {
			return assumeOutput{}, &APIError{Code: "PackedPolicyTooLarge", Message: "Packed size of the session policy exceeds the limit.", Status: http.StatusBadRequest}
		}
		if !json.Valid([]byte(in.Policy)) {
			return assumeOutput{}, &APIError{Code: "MalformedPolicyDocument", Message: "The policy is not in the valid JSON format.", Status: http.StatusBadRequest}
		}
	}
	if caller.kind == kindRoot {
		// STS refuses AssumeRole with the account root's credentials
		// whatever the policies say.
		return assumeOutput{}, &APIError{Code: "AccessDenied", Status: http.StatusForbidden, Message: "Roles may not be assumed by root accounts."}
	}
	denied := &APIError{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.callerARN(), in.RoleARN)}
	target, err := rolearn.Parse(in.RoleARN, rolearn.Rules{})
	if err != nil {
		return assumeOutput{}, validationError([]string{fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must be a valid IAM role ARN", in.RoleARN)})
	}
	s.mu.RLock()
	regionOff := s.disabled[target.Account+"/"+region]
	role, ok := s.roles[in.RoleARN]
	s.mu.RUnlock()
	if regionOff {
		return assumeOutput{}, &APIError{Code: "RegionDisabledException", Status: http.StatusForbidden,
			Message: fmt.Sprintf("STS is not activated in this region for account:%s. Your account administrator can activate STS in this region using the IAM Console.", target.Account)}
	}
	if !ok || target.Partition != s.partition {
		return assumeOutput{}, denied // no existence leak: as a refusing role
	}
	dec := role.policy.Evaluate(Request{
		Principal:       callerARN,
		Action:          "sts:AssumeRole",
		ExternalID:      in.ExternalID,
		HasExternalID:   in.HasExternalID,
		RoleSessionName: in.RoleSessionName,
	})
	if dec != Allow {
		return assumeOutput{}, denied
	}
	dur := in.DurationSeconds
	if dur == 0 {
		dur = 3600
	}
	if dur > maxRoleSession {
		return assumeOutput{}, &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
			Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	id := s.token(seq, role.arn.String(), in.RoleSessionName)
	out := assumeOutput{
		AssumedRoleARN:  "arn:" + role.arn.Partition + ":sts::" + role.arn.Account + ":assumed-role/" + role.arn.Name + "/" + in.RoleSessionName,
		AssumedRoleID:   "AROA" + s.token(0, role.arn.String())[:17] + ":" + in.RoleSessionName,
		AccessKeyID:     "ASIA" + id[:16],
		SecretAccessKey: id[16:56],
		SessionToken:    "sandbox/" + id,
		Expiration:      s.now().UTC().Add(time.Duration(dur) * time.Second).Truncate(time.Second),
	}
	if in.HasPolicy {
		out.PackedPolicy = max(1, len(in.Policy)*100/2048)
	}
	return out, nil
}

// token derives a deterministic identifier from the seed and the parts.
func (s *STS) token(seq uint64, parts ...string) string {
	h := sha256.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.seed))
	binary.BigEndian.PutUint64(b[8:], seq)
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	more := sha256.Sum256(sum)
	sum = append(sum, more[:]...) // 64 bytes → 103 base32 characters
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum)
}

// validateAssume checks AssumeRole's parameters as STS does. Messages never
// include the external ID's value.
func validateAssume(in assumeInput) []string {
	var msgs []string
	if n := len(in.RoleARN); n < 20 || n > 2048 {
		msgs = append(msgs, fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", in.RoleARN))
	}
	if n := len(in.RoleSessionName); n < 2 || n > 64 {
		msgs = append(msgs, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", in.RoleSessionName))
	} else if !charsIn(in.RoleSessionName, "_+=,.@-") {
		msgs = append(msgs, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", in.RoleSessionName))
	}
	if in.HasExternalID {
		if n := len(in.ExternalID); n < 2 {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2")
		} else if n > 1224 {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must have length less than or equal to 1224")
		} else if !charsIn(in.ExternalID, "_+=,.@:/-") {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*")
		}
	}
	if in.DurationSeconds != 0 && (in.DurationSeconds < 900 || in.DurationSeconds > 43200) {
		msgs = append(msgs, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", in.DurationSeconds))
	}
	return msgs
}

func charsIn(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// callerIdentity is GetCallerIdentity's logic.
func callerIdentity(callerARN, accessKeyID string) (arn, account, userID string, apiErr *APIError) {
	id, err := parseIdentity(callerARN)
	if err != nil {
		return "", "", "", &APIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
	}
	userID = accessKeyID
	switch id.kind {
	case kindRoot:
		userID = id.account
	case kindRole:
		userID = "AROA" + strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte(id.roleKey()))))[:17] + ":" + sandboxSessionName
	case kindSession:
		userID = "AROA" + strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte(id.roleKey()))))[:17] + ":" + id.session
	}
	return id.callerARN(), id.account, userID, nil
}
