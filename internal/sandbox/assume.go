package sandbox

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// assumeInput is an AssumeRole call's parameters as received.
type assumeInput struct {
	RoleARN         string
	RoleSessionName string
	ExternalID      string
	HasExternalID   bool
	DurationSeconds int32
	// HasDuration: DurationSeconds was given; absent, it is 3600.
	HasDuration bool
	Policy      string
	HasPolicy   bool
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

// defaultMaxSession is a role's MaxSessionDuration unless set (IAM's
// default), and chainedMaxSession STS's limit for a session obtained with
// role session credentials (role chaining), whatever the role's maximum.
const (
	defaultMaxSession = 3600
	chainedMaxSession = 3600
)

// assumeRole is AssumeRole's logic, shared by HTTP and the embedded Assumer.
//
// It authorizes as IAM does for sts:AssumeRole (IAM User Guide, "Policy
// evaluation logic" and "Cross-account policy evaluation logic"): an
// explicit Deny in the role's trust policy, the caller's identity-based
// policies or its session policy refuses; otherwise the trust policy must
// allow, and so must the identity-based policies — across accounts always,
// and within one account unless the trust policy names the caller's own ARN
// (a trust policy naming the account only delegates to the account's
// policies). A session policy, when the caller's session has one, must
// allow too.
func (s *STS) assumeRole(c caller, region string, in assumeInput, seq uint64) (assumeOutput, *APIError) {
	if msgs := validateAssume(in); len(msgs) > 0 {
		return assumeOutput{}, validationError(msgs)
	}
	if in.HasPolicy {
		if apiErr := checkSessionPolicy(in.Policy); apiErr != nil {
			return assumeOutput{}, apiErr
		}
	}
	if c.id.kind == kindRoot {
		// STS refuses AssumeRole with the account root's credentials
		// whatever the policies say.
		return assumeOutput{}, &APIError{Code: "AccessDenied", Status: http.StatusForbidden, Message: "Roles may not be assumed by root accounts."}
	}
	denied := &APIError{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.id.callerARN(), in.RoleARN)}
	target, err := rolearn.Parse(in.RoleARN, rolearn.Rules{})
	if err != nil {
		return assumeOutput{}, validationError([]string{fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must be a valid IAM role ARN", in.RoleARN)})
	}
	s.mu.RLock()
	regionOff := s.disabled[target.Account+"/"+region]
	role, ok := s.roles[in.RoleARN]
	principalOrg, resourceOrg := s.orgs[c.id.account], s.orgs[target.Account]
	s.mu.RUnlock()
	if regionOff {
		return assumeOutput{}, &APIError{Code: "RegionDisabledException", Status: http.StatusForbidden,
			Message: fmt.Sprintf("STS is not activated in this region for account:%s. Your account administrator can activate STS in this region using the IAM Console.", target.Account)}
	}
	if !ok || target.Partition != s.partition {
		return assumeOutput{}, denied // no existence leak: as a refusing role
	}
	ctx := evalContext{id: c.id, partition: role.arn.Partition, req: Request{
		Principal:       c.id.arn,
		Action:          "sts:AssumeRole",
		ExternalID:      in.ExternalID,
		HasExternalID:   in.HasExternalID,
		RoleSessionName: in.RoleSessionName,
		PrincipalOrgID:  principalOrg,
		ResourceAccount: target.Account,
		ResourceOrgID:   resourceOrg,
		Resource:        role.arn.String(),
	}}
	if !s.authorized(c, role, ctx) {
		return assumeOutput{}, denied
	}
	dur := in.DurationSeconds
	if !in.HasDuration {
		dur = 3600
	}
	if c.chained && dur > chainedMaxSession {
		return assumeOutput{}, &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
			Message: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."}
	}
	if dur > role.maxSession {
		return assumeOutput{}, &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
			Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	id := s.token(seq, role.arn.String(), in.RoleSessionName)
	claims := sessionClaims{
		AccessKeyID: "ASIA" + id[:16],
		Role:        role.arn.String(),
		RoleGen:     role.gen,
		Session:     in.RoleSessionName,
		Expires:     s.now().UTC().Add(time.Duration(dur) * time.Second).Unix(),
		Policy:      in.Policy,
	}
	out := assumeOutput{
		AssumedRoleARN:  "arn:" + role.arn.Partition + ":sts::" + role.arn.Account + ":assumed-role/" + role.arn.Name + "/" + in.RoleSessionName,
		AssumedRoleID:   "AROA" + s.token(0, role.arn.String())[:17] + ":" + in.RoleSessionName,
		AccessKeyID:     claims.AccessKeyID,
		SecretAccessKey: s.sessionSecret(claims.AccessKeyID),
		SessionToken:    s.sessionToken(claims),
		Expiration:      time.Unix(claims.Expires, 0).UTC(),
	}
	if in.HasPolicy {
		out.PackedPolicy = max(1, len(in.Policy)*100/2048)
	}
	return out, nil
}

// authorized decides sts:AssumeRole of role for c (see assumeRole).
func (s *STS) authorized(c caller, role sandboxRole, ctx evalContext) bool {
	trust, specific := role.policy.evaluate(ctx)
	identityDecision := ImplicitDeny
	for _, p := range s.policiesOf(c) {
		switch d, _ := p.evaluate(ctx); d {
		case ExplicitDeny:
			return false
		case Allow:
			identityDecision = Allow
		}
	}
	if trust != Allow {
		return false
	}
	if c.sessionPolicy != nil {
		if d, _ := c.sessionPolicy.evaluate(ctx); d != Allow {
			return false
		}
	}
	sameAccount := c.id.partition == role.arn.Partition && c.id.account == role.arn.Account
	return identityDecision == Allow || (sameAccount && specific)
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
	} else if !rolearn.OnlyChars(in.RoleSessionName, rolearn.NameChars) {
		msgs = append(msgs, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", in.RoleSessionName))
	}
	if in.HasExternalID {
		if n := len(in.ExternalID); n < 2 {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2")
		} else if n > 1224 {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must have length less than or equal to 1224")
		} else if !rolearn.OnlyChars(in.ExternalID, rolearn.ExternalIDChars) {
			msgs = append(msgs, "Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*")
		}
	}
	if n := utf8.RuneCountInString(in.Policy); in.HasPolicy && (n < 1 || n > 2048) {
		// STS's limit on the plain text; its packed size (with tags,
		// which the sandbox refuses) is within the limit then.
		msgs = append(msgs, "Value at 'policy' failed to satisfy constraint: Member must have length between 1 and 2048")

	}
	if in.HasDuration && (in.DurationSeconds < 900 || in.DurationSeconds > 43200) {
		msgs = append(msgs, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", in.DurationSeconds))
	}
	return msgs
}

// checkSessionPolicy parses an AssumeRole session policy as the sandbox
// evaluates it later, when the session calls (an identity-based policy), so
// that a document STS would refuse is refused at AssumeRole and never
// yields a session: MalformedPolicyDocument for one that is not IAM policy
// grammar (STS's answer), a ValidationError naming what the sandbox does not
// model for grammar it does not evaluate.
func checkSessionPolicy(doc string) *APIError {
	_, err := ParseIdentityPolicy([]byte(doc))
	if err == nil {
		return nil
	}
	detail := err.Error()
	var pe *PolicyError
	if errors.As(err, &pe) {
		detail = pe.Msg
		if pe.Path != "" {
			detail = pe.Path + ": " + pe.Msg
		}
	}
	if errors.Is(err, ErrUnsupported) {
		return &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
			Message: "The sandbox STS does not model this session policy (Policy): " + detail}
	}
	return &APIError{Code: "MalformedPolicyDocument", Status: http.StatusBadRequest,
		Message: "The session policy (Policy) is malformed: " + detail}
}
