package sandbox

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// DefaultCallerPolicy is the identity-based policy a configured caller
// holds until SetIdentityPolicies gives it its own, unless it is a role the
// sandbox holds (PutRole creates a role with none, as IAM does):
// sts:AssumeRole on every role. It models the permission a partner's
// verifier needs; IAM evaluates it like any other identity policy (a
// cross-account call needs it and the role's trust policy; an explicit
// deny in either refuses).
const DefaultCallerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:*:iam::*:role/*"}]}`

var defaultCallerPolicy = func() []*Policy {
	p, err := ParseIdentityPolicy([]byte(DefaultCallerPolicy))
	if err != nil {
		panic("sandbox: DefaultCallerPolicy does not parse: " + err.Error())
	}
	return []*Policy{p}
}()

// SetIdentityPolicies attaches identity-based policies (IAM JSON documents,
// see ParseIdentityPolicy) to a role or user, replacing any it had: the
// role's sessions (configured callers or sessions the sandbox issued) and
// the user are evaluated with them on every AssumeRole. No documents means
// no permissions: the principal can then assume no role of another account.
// A role or user never given policies holds DefaultCallerPolicy when it is a
// configured caller (and not a role the sandbox holds, which PutRole
// created with none), and nothing when it calls with a session the sandbox
// issued. Nothing changes when a document is refused.
func (s *STS) SetIdentityPolicies(principalARN string, docs ...[]byte) error {
	id, err := parseIdentity(principalARN)
	if err != nil || (id.kind != kindRole && id.kind != kindUser) {
		return fmt.Errorf("identity policies of %q: a role or user ARN is required", principalARN)
	}
	ps := make([]*Policy, 0, len(docs))
	for i, d := range docs {
		p, err := ParseIdentityPolicy(d)
		if err != nil {
			return fmt.Errorf("identity policy %d of %s: %w", i, principalARN, err)
		}
		ps = append(ps, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identityPolicies[policyHolder(id)] = ps
	return nil
}

// policyHolder is the key identity policies are held under: the role ARN
// (path included) for a role or its sessions, the user ARN for a user.
func policyHolder(id identity) string {
	if id.kind == kindRole || id.kind == kindSession {
		return id.roleARN()
	}
	return id.arn
}

// resolveRoleLocked is the principal id names, as IAM knows it. A role, or
// a session of one, that the sandbox holds gets the held role's path (an
// assumed-role ARN leaves the path out, and IAM evaluates the session as
// its role, path included). IAM role names are unique per account whatever
// the case and path, so an ARN that spells a held role's name in another
// case, or a role ARN with another path, names no principal; nor does one
// of a role the sandbox deleted and holds no more (its credentials went
// with it): ok is false for both. A role the sandbox never held (the
// partner's own) is taken as given, a session of it with the path "/".
// s.mu must be held.
func (s *STS) resolveRoleLocked(id identity) (identity, bool) {
	if id.kind != kindSession && id.kind != kindRole {
		return id, true
	}
	key := id.account + "/" + strings.ToLower(id.roleName)
	arn, held := s.byClaim[key]
	if !held {
		return id, !s.gone[key]
	}
	r := s.roles[arn].arn
	if r.Partition != id.partition || r.Name != id.roleName || (id.kind == kindRole && r.Path != id.rolePath) {
		return id, false
	}
	id.rolePath = r.Path
	return id, true
}

// policiesOf returns the identity-based policies c is evaluated with. A
// configured caller that is a role with a path, or its session, and holds
// none takes those given for a session of its name before the path was
// known (a model's caller loaded before its role) rather than the
// default, which allows every sts:AssumeRole: for such a caller they can
// only narrow. A session the sandbox issued never does: it holds its
// role's policies or none, which denies every cross-account call, and
// policies under another ARN are not its role's.
func (s *STS) policiesOf(c caller) []*Policy {
	s.mu.RLock()
	ps, set := s.identityPolicies[policyHolder(c.id)]
	if !set && !c.issued && (c.id.kind == kindSession || c.id.kind == kindRole) && c.id.rolePath != "/" {
		pathless := c.id
		pathless.rolePath = "/"
		ps, set = s.identityPolicies[policyHolder(pathless)]
	}
	s.mu.RUnlock()
	switch {
	case set:
		return ps
	case c.issued:
		return nil
	}
	return defaultCallerPolicy
}

var orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)

// ErrInvalidOrgID marks an AWS Organizations ID that is not o- and 10 to 32
// lower-case letters or digits.
var ErrInvalidOrgID = errors.New("invalid organization ID")

// SetOrganization puts account in the AWS Organization orgID, or out of any
// when orgID is "". A principal of the account then has aws:PrincipalOrgID
// orgID, and its roles aws:ResourceOrgID orgID.
func (s *STS) SetOrganization(accountID, orgID string) error {
	if !rolearn.IsAccountID(accountID) {
		return fmt.Errorf("organization of %q: not an account ID", accountID)
	}
	if orgID != "" && !orgIDPattern.MatchString(orgID) {
		return fmt.Errorf("organization of %s: %q: %w", accountID, orgID, ErrInvalidOrgID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if orgID == "" {
		delete(s.orgs, accountID)
	} else {
		s.orgs[accountID] = orgID
	}
	return nil
}

// Organization returns the organization ID of account ("" when none).
func (s *STS) Organization(accountID string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.orgs[accountID]
}

// SetMaxSessionDuration sets a sandbox role's MaxSessionDuration (IAM
// allows 3600 to 43200 seconds; a role is put with 3600).
func (s *STS) SetMaxSessionDuration(roleARN string, seconds int32) error {
	if seconds < 3600 || seconds > 43200 {
		return fmt.Errorf("max session duration of %s: %d is outside 3600-43200 seconds", roleARN, seconds)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[roleARN]
	if !ok {
		return fmt.Errorf("max session duration of %s: no such sandbox role", roleARN)
	}
	r.maxSession = seconds
	s.roles[roleARN] = r
	return nil
}
