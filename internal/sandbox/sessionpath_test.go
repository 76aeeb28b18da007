package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// The role on a path, a session of it, and the role of another account
// it may assume, of the session path tests; trustAccount trusts the
// role's account.
const (
	pathRole    = "arn:aws:iam::111122223333:role/team/access"
	pathSession = "arn:aws:sts::111122223333:assumed-role/access/worker-1"
	pathTarget  = "arn:aws:iam::210987654321:role/Target"
)

var trustAccount = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`)

// TestSessionOfARoleWithAPath: an assumed-role ARN leaves out its role's
// path, but IAM evaluates the session as its role, path included: the
// role's identity policies apply (also set through the session's ARN, or
// before the role exists), and aws:PrincipalArn is the role's ARN with
// its path. Each case is checked for the role itself too, embedded and
// over HTTP.
func TestSessionOfARoleWithAPath(t *testing.T) {
	const key = "AKIASESSIONOFPATHROLE"
	session, target := pathSession, pathTarget
	denyAll := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}`)
	tests := []struct {
		name  string
		setup func(t *testing.T, s *sandbox.STS)
	}{
		{"the role's Deny, set on the role", func(t *testing.T, s *sandbox.STS) {
			must(t, errors.Join(s.PutRole(target, trustAccount), s.SetIdentityPolicies(pathRole, denyAll)))
		}},
		{"the role's Deny, set before the role exists", func(t *testing.T, s *sandbox.STS) {
			must(t, errors.Join(s.SetIdentityPolicies(pathRole, denyAll), s.PutRole(target, trustAccount)))
		}},
		{"the Deny of a model's caller that is a session", func(t *testing.T, s *sandbox.STS) {
			m, err := json.Marshal(sandbox.Model{
				Roles:   []sandbox.ModelRole{{ARN: target, TrustPolicy: trustAccount}},
				Callers: []sandbox.ModelCaller{{AccessKeyID: "AKIAMODELSESSION0001", Principal: session, IdentityPolicies: []json.RawMessage{denyAll}}},
			})
			must(t, errors.Join(err, s.Load(m)))
		}},
		{"a Deny on aws:PrincipalArn with the path", func(t *testing.T, s *sandbox.STS) {
			must(t, s.PutRole(target, []byte(`{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"},
				{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/team/*"}}}]}`)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{Callers: map[string]string{key: session}})
			tt.setup(t, s)
			must(t, s.PutRole(pathRole, trustAccount))
			for _, caller := range []string{pathRole, session} {
				if _, err := s.Assumer(caller).AssumeRole(context.Background(), req(target, "")); !errors.Is(err, probe.ErrDenied) {
					t.Errorf("%s: %v, want AccessDenied", caller, err)
				}
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			if _, err := (&probe.STS{Client: stsClient(srv.URL, key, "us-east-1")}).AssumeRole(context.Background(), req(target, "")); !errors.Is(err, probe.ErrDenied) {
				t.Errorf("over HTTP, %s: %v, want AccessDenied", session, err)
			}
		})
	}
}

// TestReplacedRoleKeepsTheNewRolesPolicies: a role put in place of another
// of its name (on another path) is a new role: the old one's policies go,
// the Deny set for the new one stays, whether the old one is replaced or
// deleted.
func TestReplacedRoleKeepsTheNewRolesPolicies(t *testing.T) {
	const (
		oldRole = "arn:aws:iam::111122223333:role/a/access"
		newRole = "arn:aws:iam::111122223333:role/b/access"
		target  = "arn:aws:iam::210987654321:role/Target"
	)
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`)
	denyAll := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}`)
	for _, deleteOld := range []bool{false, true} {
		s := sandbox.New(sandbox.Config{})
		must(t, errors.Join(s.PutRole(target, trust), s.PutRole(oldRole, trust), s.SetIdentityPolicies(newRole, denyAll)))
		if deleteOld {
			s.DeleteRole(oldRole)
		}
		must(t, s.PutRole(newRole, trust))
		if _, err := s.Assumer(newRole).AssumeRole(context.Background(), req(target, "")); !errors.Is(err, probe.ErrDenied) {
			t.Errorf("old role deleted first %v: %s, with a Deny set on it, assumed the target: %v", deleteOld, newRole, err)
		}
	}
}

// TestPoliciesGivenBeforeThePathAreKept: the policies a model gave a
// session of a role before the role (on a path) existed stay the
// session's once PutRole creates the role: a role created with no
// policies takes nothing away from them.
func TestPoliciesGivenBeforeThePathAreKept(t *testing.T) {
	session, target := pathSession, pathTarget
	allowTarget := json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + target + `"}]}`)
	s := sandbox.New(sandbox.Config{})
	m, err := json.Marshal(sandbox.Model{Callers: []sandbox.ModelCaller{{AccessKeyID: "AKIAMODELSESSION0001", Principal: session, IdentityPolicies: []json.RawMessage{allowTarget}}}})
	must(t, errors.Join(err, s.Load(m)))
	must(t, errors.Join(s.PutRole(pathRole, trustAccount), s.PutRole(target, trustAccount)))
	if _, err := s.Assumer(session).AssumeRole(context.Background(), req(target, "")); err != nil {
		t.Fatalf("the model's caller after its role was created: %v, want its policy to allow", err)
	}
}
