package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// Model is a set of accounts for the sandbox as one JSON document: the
// Organizations accounts belong to, roles with their trust and permission
// policies, and the callers with their access keys. Policies are IAM JSON
// documents, embedded as JSON values, so a model can be written from a
// CloudFormation template's policies once its intrinsic functions are
// resolved.
//
//	{"organizations": {"111122223333": "o-exampleorg1"},
//	 "roles": [{"arn": "arn:aws:iam::111122223333:role/rolecall-dev-access",
//	            "trustPolicy": {...}, "identityPolicies": [{...}],
//	            "maxSessionDuration": 3600}],
//	 "callers": [{"accessKeyId": "AKIA...", "principal": "arn:aws:iam::111122223333:role/verifier",
//	              "identityPolicies": [{...}]}]}
type Model struct {
	Organizations map[string]string `json:"organizations,omitempty"`
	Roles         []ModelRole       `json:"roles,omitempty"`
	Callers       []ModelCaller     `json:"callers,omitempty"`
}

// ModelRole is a role of a Model. IdentityPolicies nil leaves the role's
// identity policies as they are (see SetIdentityPolicies); an empty list
// gives it none.
type ModelRole struct {
	ARN                string            `json:"arn"`
	TrustPolicy        json.RawMessage   `json:"trustPolicy"`
	IdentityPolicies   []json.RawMessage `json:"identityPolicies,omitempty"`
	MaxSessionDuration int32             `json:"maxSessionDuration,omitempty"`
}

// ModelCaller is a caller of a Model: an access key ID and the principal
// that calls with it. IdentityPolicies as for ModelRole; for a role
// principal they are the role's.
type ModelCaller struct {
	AccessKeyID      string            `json:"accessKeyId"`
	Principal        string            `json:"principal"`
	IdentityPolicies []json.RawMessage `json:"identityPolicies,omitempty"`
}

// Load applies a Model document: every organization, role and caller in it
// is validated first, and nothing changes unless all are valid. Roles are
// put as PutRole does (replacing a role of the same name), callers set as
// SetCaller does.
func (s *STS) Load(doc []byte) error {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("sandbox model: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("sandbox model: unexpected data after the document")
	}
	type parsedRole struct {
		arn      rolearn.ARN
		doc      []byte
		trust    *Policy
		policies []*Policy // nil: unchanged
		max      int32
	}
	type parsedCaller struct {
		key, principal string
		id             identity
		policies       []*Policy
	}
	for acct, org := range m.Organizations {
		if !rolearn.IsAccountID(acct) || (org != "" && !orgIDPattern.MatchString(org)) {
			return fmt.Errorf("sandbox model: organization of %q: %q: %w", acct, org, ErrInvalidOrgID)
		}
	}
	parsePolicies := func(what string, raws []json.RawMessage) ([]*Policy, error) {
		if raws == nil {
			return nil, nil
		}
		out := make([]*Policy, 0, len(raws))
		for i, raw := range raws {
			p, err := ParseIdentityPolicy(raw)
			if err != nil {
				return nil, fmt.Errorf("sandbox model: %s identity policy %d: %w", what, i, err)
			}
			out = append(out, p)
		}
		return out, nil
	}
	roles := make([]parsedRole, 0, len(m.Roles))
	for _, r := range m.Roles {
		a, err := rolearn.Parse(r.ARN, rolearn.Rules{Partition: s.partition})
		if err != nil {
			return fmt.Errorf("sandbox model: role %q: %w", r.ARN, err)
		}
		trust, err := ParsePolicy(r.TrustPolicy)
		if err != nil {
			return fmt.Errorf("sandbox model: role %s trust policy: %w", a, err)
		}
		ps, err := parsePolicies("role "+a.String(), r.IdentityPolicies)
		if err != nil {
			return err
		}
		maxSession := r.MaxSessionDuration
		if maxSession == 0 {
			maxSession = defaultMaxSession
		}
		if maxSession < 3600 || maxSession > 43200 {
			return fmt.Errorf("sandbox model: role %s: maxSessionDuration %d is outside 3600-43200 seconds", a, maxSession)
		}
		roles = append(roles, parsedRole{arn: a, doc: append([]byte(nil), r.TrustPolicy...), trust: trust, policies: ps, max: maxSession})
	}
	callers := make([]parsedCaller, 0, len(m.Callers))
	for _, c := range m.Callers {
		id, err := parseIdentity(c.Principal)
		if c.AccessKeyID == "" || err != nil {
			return fmt.Errorf("sandbox model: caller %q (%q): an access key ID and a principal ARN are required", c.AccessKeyID, c.Principal)
		}
		if c.IdentityPolicies != nil && id.kind == kindRoot {
			return fmt.Errorf("sandbox model: caller %s: the account root holds no identity policies", c.Principal)
		}
		ps, err := parsePolicies("caller "+c.Principal, c.IdentityPolicies)
		if err != nil {
			return err
		}
		callers = append(callers, parsedCaller{key: c.AccessKeyID, principal: c.Principal, id: id, policies: ps})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	created := map[string]bool{}
	for _, r := range roles {
		created[r.arn.ClaimKey()] = true
	}
	for _, r := range roles {
		if err := s.deletedRoleLocked(r.trust, created); err != nil {
			return fmt.Errorf("sandbox model: role %s trust policy: %w", r.arn, err)
		}
	}
	for acct, org := range m.Organizations {
		if org == "" {
			delete(s.orgs, acct)
		} else {
			s.orgs[acct] = org
		}
	}
	for _, r := range roles {
		s.putRoleLocked(sandboxRole{arn: r.arn, doc: r.doc, policy: r.trust, maxSession: r.max})
		if r.policies != nil {
			s.identityPolicies[r.arn.String()] = r.policies
		}
	}
	for _, c := range callers {
		s.callers[c.key] = c.principal
		if c.policies != nil {
			// A session's holder is its role's ARN, path included, once
			// the model's roles are in. A caller that names no principal
			// (resolveRoleLocked) is refused when it calls.
			id, _ := s.resolveRoleLocked(c.id)
			s.identityPolicies[policyHolder(id)] = c.policies
		}
	}
	return nil
}
