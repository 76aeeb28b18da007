package sandbox_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
)

func TestLoadModel(t *testing.T) {
	const verifier = "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
	model := `{
 "organizations": {"111122223333": "o-partnerorg01", "777788889999": "o-partnerorg01"},
 "roles": [
  {"arn": "` + accessRole + `", "trustPolicy": ` + string(loosePolicy(verifier)) + `,
   "identityPolicies": [` + accessPolicy + `], "maxSessionDuration": 3600},
  {"arn": "` + roleARN + `", "trustPolicy": ` + string(enforcedPolicy(accessRole, externalID)) + `, "maxSessionDuration": 43200},
  {"arn": "` + orgRole + `", "trustPolicy": ` + string(enforcedPolicy(accessRole, externalID)) + `}
 ],
 "callers": [{"accessKeyId": "AKIAVERIFIER", "principal": "` + verifier + `",
   "identityPolicies": [{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + accessRole + `"}]}]}]
}`
	s := sandbox.New(sandbox.Config{})
	if err := s.Load([]byte(model)); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := s.Roles(), []string{accessRole, roleARN, orgRole}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
	if s.Organization(orgMember) != partnerOrg {
		t.Errorf("organization of %s = %q", orgMember, s.Organization(orgMember))
	}
	tests := []struct {
		caller, role string
		ok           bool
	}{
		{verifier, accessRole, true},  // its identity policy allows the access role
		{verifier, roleARN, false},    // and nothing else
		{accessRole, roleARN, true},   // the access role's policy allows customer roles
		{accessRole, orgRole, false},  // but not in its own Organization
		{accessRole, ownRole, false},  // nor (unknown here) its own account
		{partnerRole, roleARN, false}, // the customer trusts the access role only
	}
	for _, tt := range tests {
		extID := externalID
		if tt.role == accessRole {
			extID = ""
		}
		_, err := s.Assumer(tt.caller).AssumeRole(context.Background(), req(tt.role, extID))
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, probe.ErrDenied)) {
			t.Errorf("%s → %s: %v, want ok=%v", tt.caller, tt.role, err, tt.ok)
		}
	}

	refused := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"roles":`, "sandbox model"},
		{"unknown field", `{"users":[]}`, "unknown field"},
		{"bad organization", `{"organizations":{"111122223333":"org"}}`, "invalid organization ID"},
		{"bad role ARN", `{"roles":[{"arn":"arn:aws:iam::1:role/x","trustPolicy":{}}]}`, "role"},
		{"unsupported trust policy", `{"roles":[{"arn":"` + looseARN + `","trustPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}}]}`, "unsupported"},
		{"bad identity policy, after a good role", `{"roles":[{"arn":"` + looseARN + `","trustPolicy":` + string(loosePolicy(partnerRole)) + `},{"arn":"` + deniedARN + `","trustPolicy":` + string(loosePolicy(partnerRole)) + `,"identityPolicies":[{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}]}]}`, "identity policy 0"},
		{"max session out of range", `{"roles":[{"arn":"` + looseARN + `","trustPolicy":` + string(loosePolicy(partnerRole)) + `,"maxSessionDuration":60}]}`, "maxSessionDuration"},
		{"caller without a key", `{"callers":[{"principal":"` + partnerRole + `"}]}`, "access key ID"},
		{"root with policies", `{"callers":[{"accessKeyId":"AKIAROOT","principal":"arn:aws:iam::111122223333:root","identityPolicies":[]}]}`, "root"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Load([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want an error mentioning %q", err, tt.want)
			}
			if got := s.Roles(); !reflect.DeepEqual(got, []string{accessRole, roleARN, orgRole}) {
				t.Errorf("a refused model changed the roles: %v", got)
			}
		})
	}
}
