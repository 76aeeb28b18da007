package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestPolicyTextRefusedWhereLoaded: a document with a character IAM
// refuses, or a trust policy over IAM's default quota, is refused by every
// way a policy reaches the sandbox, and changes nothing: PutRole and Load
// leave the role as it was, and AssumeRole refuses the session policy
// (MalformedPolicyDocument, STS's answer; ValidationError for an escape the
// sandbox does not model) without naming its text.
func TestPolicyTextRefusedWhereLoaded(t *testing.T) {
	cyrillic := string(enforcedPolicy(partnerRole, "rc-\u0410BCDEFGHJKLMNPQRSTUVWXYZ23"))
	long := string(enforcedPolicy(partnerRole, externalID))
	long = strings.Replace(long, `"Statement":[{`, `"Statement":[{"Sid":"`+strings.Repeat("x", sandbox.MaxTrustPolicyChars)+`",`, 1)
	t.Run("trust policy", func(t *testing.T) {
		tests := []struct {
			name string
			load func(s *sandbox.STS, doc string) error
		}{
			{"PutRole", func(s *sandbox.STS, doc string) error { return s.PutRole(roleARN, []byte(doc)) }},
			{"Load", func(s *sandbox.STS, doc string) error {
				return s.Load([]byte(`{"roles":[{"arn":"` + roleARN + `","trustPolicy":` + doc + `}]}`))
			}},
		}
		for _, tt := range tests {
			for name, doc := range map[string]string{"Cyrillic character": cyrillic, "over 2048 characters": long} {
				t.Run(tt.name+"/"+name, func(t *testing.T) {
					s := newSandbox(t, 1)
					before, _ := s.TrustPolicy(roleARN)
					err := tt.load(s, doc)
					if !errors.Is(err, sandbox.ErrInvalidPolicy) {
						t.Fatalf("error %v, want ErrInvalidPolicy", err)
					}
					if after, _ := s.TrustPolicy(roleARN); string(after) != string(before) {
						t.Errorf("the refused document replaced the role's trust policy")
					}
					if _, err := s.Assumer(partnerRole).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
						t.Errorf("the role no longer works as before: %v", err)
					}
				})
			}
		}
	})
	t.Run("session policy", func(t *testing.T) {
		allow := `{"Version":"2012-10-17","Statement":[{"Sid":"%s","Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`
		tests := []struct {
			name, sid, code string
		}{
			{"Cyrillic character", "Scope\u0410", "MalformedPolicyDocument"},
			{"emoji", "Scope\U0001F600", "MalformedPolicyDocument"},
			{"escape of a Cyrillic character", `Scope\u0410`, "ValidationError"},
		}
		for _, tt := range tests {
			policy := strings.Replace(allow, "%s", tt.sid, 1)
			for _, ad := range adapters() {
				t.Run(tt.name+"/"+ad.name, func(t *testing.T) {
					s := newSandbox(t, 1)
					r := req(looseARN, "")
					r.Policy = policy
					_, err := ad.make(t, s, partnerRole).AssumeRole(context.Background(), r)
					if got := codeOf(err); got != tt.code {
						t.Fatalf("error %v, want %s", err, tt.code)
					}
					if !strings.Contains(err.Error(), "U+") {
						t.Errorf("error %q does not name the character", err)
					}
					if strings.Contains(err.Error(), "Scope") {
						t.Errorf("error %q repeats the policy", err)
					}
				})
			}
		}
	})
}
