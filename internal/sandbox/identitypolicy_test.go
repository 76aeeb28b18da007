package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
)

const (
	partnerAcctID = "111122223333"
	partnerOrg    = "o-partnerorg01"
	accessRole    = "arn:aws:iam::111122223333:role/rolecall-dev-access"
	ownRole       = "arn:aws:iam::111122223333:role/Internal"
	orgMember     = "777788889999"
	orgRole       = "arn:aws:iam::777788889999:role/RoleCallAccess"
)

// accessPolicy is the partner access role's permissions as issue-free IAM:
// sts:AssumeRole on any role, except in the partner's own account and its
// own Organization.
const accessPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/*"},
 {"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"aws:ResourceAccount":"111122223333"}}},
 {"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"}}}]}`

// TestIdentityPolicies: AssumeRole needs the caller's identity-based
// policies as well as the role's trust policy, as IAM evaluates them; each
// case names the IAM User Guide behaviour it follows.
func TestIdentityPolicies(t *testing.T) {
	type setup func(t *testing.T, s *sandbox.STS)
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	policies := func(docs ...string) setup {
		return func(t *testing.T, s *sandbox.STS) {
			bs := make([][]byte, len(docs))
			for i, d := range docs {
				bs[i] = []byte(d)
			}
			must(t, s.SetIdentityPolicies(accessRole, bs...))
		}
	}
	org := func(account, id string) setup {
		return func(t *testing.T, s *sandbox.STS) { must(t, s.SetOrganization(account, id)) }
	}
	trust := func(role, doc string) setup {
		return func(t *testing.T, s *sandbox.STS) { must(t, s.PutRole(role, []byte(doc))) }
	}
	allowAssume := func(resource string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + resource + `"}]}`
	}
	trustAccount := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`
	trustAccess := string(enforcedPolicy(accessRole, externalID))
	denyAccess := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"` + accessRole + `"},"Action":"sts:AssumeRole"}]}`

	tests := []struct {
		name  string
		setup []setup
		role  string
		ok    bool
	}{
		{"cross-account: no identity policy, no access, whatever the trust policy [Cross-account policy evaluation logic]",
			[]setup{policies()}, roleARN, false},
		{"cross-account: identity policy and trust policy both allow [Cross-account policy evaluation logic]",
			[]setup{policies(allowAssume("arn:aws:iam::*:role/*"))}, roleARN, true},
		{"cross-account: identity policy allows, trust policy does not [Cross-account policy evaluation logic]",
			[]setup{policies(allowAssume("*")), trust(roleARN, string(enforcedPolicy(partnerRole, externalID)))}, roleARN, false},
		{"explicit deny in the trust policy wins over the identity policy's allow [Policy evaluation logic: explicit deny]",
			[]setup{policies(allowAssume("*")), trust(roleARN, denyAccess)}, roleARN, false},
		{"explicit deny in an identity policy wins over both allows [Policy evaluation logic: explicit deny]",
			[]setup{policies(allowAssume("*"), `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"sts:*","Resource":"arn:aws:iam::210987654321:role/*"}}`)}, roleARN, false},
		{"identity policy's Resource does not match the role [IAM JSON policy elements: Resource]",
			[]setup{policies(allowAssume("arn:aws:iam::999999999999:role/*"))}, roleARN, false},
		{"Resource wildcards match per ARN part [IAM JSON policy elements: Resource]",
			[]setup{policies(allowAssume("arn:aws:iam::2109876543?1:role/RoleCall*"))}, roleARN, true},
		{"identity policy for another action only [IAM JSON policy elements: Action]",
			[]setup{policies(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:TagSession","Resource":"*"}]}`)}, roleARN, false},
		{"access policy: a customer role [Global keys: aws:ResourceAccount, aws:ResourceOrgID]",
			[]setup{policies(accessPolicy), org(partnerAcctID, partnerOrg)}, roleARN, true},
		{"same account, trust policy names the account: the identity policy decides, and it allows [Policy evaluation logic: same account]",
			[]setup{policies(allowAssume("*")), trust(ownRole, trustAccount)}, ownRole, true},
		{"same account, trust policy names the account, no identity policy: denied [Policy evaluation logic: role trust policies]",
			[]setup{policies(), trust(ownRole, trustAccount)}, ownRole, false},
		{"same account, trust policy names the caller's role: no identity policy needed [Policy evaluation logic: same account]",
			[]setup{policies(), trust(ownRole, string(loosePolicy(accessRole)))}, ownRole, true},
		{"access policy: aws:ResourceAccount denies the partner's own account [Global keys: aws:ResourceAccount]",
			[]setup{policies(accessPolicy), trust(ownRole, string(loosePolicy(accessRole)))}, ownRole, false},
		{"access policy: aws:ResourceOrgID equal to ${aws:PrincipalOrgID} denies a role in the partner's Organization [Global keys: aws:ResourceOrgID; Policy variables]",
			[]setup{policies(accessPolicy), org(partnerAcctID, partnerOrg), org(orgMember, partnerOrg), trust(orgRole, trustAccess)}, orgRole, false},
		{"access policy: a role in another Organization [Global keys: aws:ResourceOrgID]",
			[]setup{policies(accessPolicy), org(partnerAcctID, partnerOrg), org(orgMember, "o-customerorg1"), trust(orgRole, trustAccess)}, orgRole, true},
		{"access policy: a policy variable whose key is absent matches nothing, so the Deny does not fire [Policy variables]",
			[]setup{policies(accessPolicy), org(orgMember, partnerOrg), trust(orgRole, trustAccess)}, orgRole, true},
		{"trust policy on aws:PrincipalOrgID: the caller's account is in it [Global keys: aws:PrincipalOrgID]",
			[]setup{policies(accessPolicy), org(partnerAcctID, partnerOrg), trust(roleARN, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+partnerOrg+`","sts:ExternalId":"`+externalID+`"}}}]}`)}, roleARN, true},
		{"trust policy on aws:PrincipalOrgID: the caller's account is in no Organization [Global keys: aws:PrincipalOrgID]",
			[]setup{policies(accessPolicy), trust(roleARN, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+partnerOrg+`","sts:ExternalId":"`+externalID+`"}}}]}`)}, roleARN, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{})
			must(t, s.PutRole(roleARN, []byte(trustAccess)))
			for _, f := range tt.setup {
				f(t, s)
			}
			_, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(tt.role, externalID))
			switch {
			case tt.ok && err != nil:
				t.Errorf("AssumeRole: %v, want success", err)
			case !tt.ok && (!errors.Is(err, probe.ErrDenied) || codeOf(err) != "AccessDenied"):
				t.Errorf("AssumeRole: %v, want AccessDenied", err)
			}
		})
	}
}

func TestDefaultCallerPolicy(t *testing.T) {
	// A configured caller never given identity policies holds
	// DefaultCallerPolicy: it reaches a role of another account that trusts
	// it, and nothing else changes.
	s := newSandbox(t, 1)
	if _, err := s.Assumer(partnerRole).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	// Given no policies at all, it is refused.
	if err := s.SetIdentityPolicies(partnerRole); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assumer(partnerRole).AssumeRole(context.Background(), req(roleARN, externalID)); !errors.Is(err, probe.ErrDenied) {
		t.Errorf("no identity policy: %v, want denied", err)
	}

	// A role the sandbox holds was created with no identity policies, as
	// IAM creates one: as a caller it holds no default, and reaches a role
	// of another account only once given a policy that allows it.
	const held = "arn:aws:iam::111122223333:role/FreshRole"
	must(t, s.PutRole(held, loosePolicy("111122223333")))
	must(t, s.PutRole(looseARN, loosePolicy(held)))
	if _, err := s.Assumer(held).AssumeRole(context.Background(), req(looseARN, "")); !errors.Is(err, probe.ErrDenied) {
		t.Errorf("a held role given no policy: %v, want denied", err)
	}
	must(t, s.SetIdentityPolicies(held, []byte(sandbox.DefaultCallerPolicy)))
	if _, err := s.Assumer(held).AssumeRole(context.Background(), req(looseARN, "")); err != nil {
		t.Errorf("a held role given a policy: %v", err)
	}
}

func TestAccountsRefuse(t *testing.T) {
	s := sandbox.New(sandbox.Config{})
	if err := s.SetIdentityPolicies("arn:aws:iam::111122223333:root", []byte(sandbox.DefaultCallerPolicy)); err == nil {
		t.Error("SetIdentityPolicies accepted the root")
	}
	if err := s.SetIdentityPolicies(accessRole, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","NotResource":"x"}]}`)); !errors.Is(err, sandbox.ErrUnsupported) {
		t.Errorf("NotResource: %v, want ErrUnsupported", err)
	}
	if err := s.SetOrganization("111122223333", "org-1"); !errors.Is(err, sandbox.ErrInvalidOrgID) {
		t.Errorf("bad org ID: %v", err)
	}
	if err := s.SetOrganization("1111", partnerOrg); err == nil {
		t.Error("SetOrganization accepted a bad account")
	}
	if err := s.SetOrganization(partnerAcctID, partnerOrg); err != nil || s.Organization(partnerAcctID) != partnerOrg {
		t.Errorf("SetOrganization: %v, %q", err, s.Organization(partnerAcctID))
	}
	if err := s.SetOrganization(partnerAcctID, ""); err != nil || s.Organization(partnerAcctID) != "" {
		t.Errorf("leaving the organization: %v, %q", err, s.Organization(partnerAcctID))
	}
	if err := s.SetMaxSessionDuration(roleARN, 7200); err == nil {
		t.Error("SetMaxSessionDuration accepted an unknown role")
	}
	if err := s.PutRole(roleARN, loosePolicy(partnerRole)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []int32{3599, 43201} {
		if err := s.SetMaxSessionDuration(roleARN, d); err == nil {
			t.Errorf("SetMaxSessionDuration accepted %d", d)
		}
	}
}

func TestDeleteRoleDropsItsPolicies(t *testing.T) {
	s := sandbox.New(sandbox.Config{})
	for _, err := range []error{
		s.PutRole(accessRole, loosePolicy(partnerRole)),
		s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)),
		s.SetIdentityPolicies(accessRole, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(roleARN, externalID)); !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("deny-all identity policy: %v", err)
	}
	s.DeleteRole(accessRole)
	// Deleted, the role is no caller: its credentials went with it, and
	// it holds no policies that could stand in for the deny.
	_, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(roleARN, externalID))
	if se := (*probe.STSError)(nil); !errors.As(err, &se) || se.Code != "InvalidClientTokenId" {
		t.Fatalf("deleted role as the caller: %v; want InvalidClientTokenId", err)
	}
	// Recreated, the role is a new role: it has none of its old policies,
	// nor the default a configured caller never given policies holds (IAM
	// creates a role with none). The customer role's trust policy named
	// the role deleted, so it trusts the new one only once it is saved
	// again, and the new role may call only once it is given a policy.
	if err := s.PutRole(accessRole, loosePolicy(partnerRole)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(roleARN, externalID)); !errors.Is(err, probe.ErrDenied) {
		t.Errorf("recreated role, trust policy naming the deleted one: %v; want denied", err)
	}
	if err := s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(roleARN, externalID)); !errors.Is(err, probe.ErrDenied) {
		t.Errorf("recreated role without identity policies: %v; want denied", err)
	}
	if err := s.SetIdentityPolicies(accessRole, []byte(sandbox.DefaultCallerPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assumer(accessRole).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
		t.Errorf("recreated role, trust policy saved again and a policy given: %v", err)
	}
}

// Role names are unique per account whatever the case and path, so a
// caller that spells a sandbox role otherwise than IAM holds it names no
// principal: it is refused rather than evaluated without the role's
// policies (here a deny of everything).
func TestCallerSpelledOtherwiseThanItsRoleIsRefused(t *testing.T) {
	const held = "arn:aws:iam::111122223333:role/team/Worker"
	tests := []struct {
		name, caller string
		deleted      bool   // the role is deleted before the call
		wantCode     string // "" for the deny of the role's policies
	}{
		{"the role as held", held, false, ""},
		{"a session of the role as held", "arn:aws:sts::111122223333:assumed-role/Worker/s1", false, ""},
		{"the role without its path", "arn:aws:iam::111122223333:role/Worker", false, "InvalidClientTokenId"},
		{"the role on another path", "arn:aws:iam::111122223333:role/other/Worker", false, "InvalidClientTokenId"},
		{"the role in another case", "arn:aws:iam::111122223333:role/team/worker", false, "InvalidClientTokenId"},
		{"a session of the role in another case", "arn:aws:sts::111122223333:assumed-role/worker/s1", false, "InvalidClientTokenId"},
		{"the role, deleted since", held, true, "InvalidClientTokenId"},
		{"a session of the role, deleted since", "arn:aws:sts::111122223333:assumed-role/Worker/s1", true, "InvalidClientTokenId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{})
			for _, err := range []error{
				s.PutRole(held, loosePolicy(partnerRole)),
				s.SetIdentityPolicies(held, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)),
				s.PutRole(roleARN, loosePolicy("arn:aws:iam::111122223333:root")),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			if tc.deleted {
				s.DeleteRole(held)
			}
			_, err := s.Assumer(tc.caller).AssumeRole(context.Background(), req(roleARN, externalID))
			if tc.wantCode == "" {
				if !errors.Is(err, probe.ErrDenied) {
					t.Errorf("got %v; want the role's deny", err)
				}
				return
			}
			if se := (*probe.STSError)(nil); !errors.As(err, &se) || se.Code != tc.wantCode {
				t.Errorf("got %v; want %s", err, tc.wantCode)
			}
		})
	}
}
