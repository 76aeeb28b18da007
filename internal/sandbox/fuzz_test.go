package sandbox

import (
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/trusthole"
)

// FuzzEvaluate: ParsePolicy never panics on any input; a document that
// parses gives the same decision every time it is evaluated (and when parsed
// again), and adding an explicit deny for everyone always denies.
//
//	go test ./internal/sandbox -run '^$' -fuzz FuzzEvaluate -fuzztime 30s
func FuzzEvaluate(f *testing.F) {
	seeds := []string{
		stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}`),
		stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}`),
		stmt(`{"Effect":"Allow","Principal":"*","Action":["sts:*"],"Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},"Null":{"sts:ExternalId":"false"}}}`),
		stmt(`{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":["111122223333"]}}}`),
		stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:Assume*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/Role*"}}}`),
		stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`),
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/R/s"},"Action":"sts:AssumeRole"}}`,
		stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team/RoleCallVerifier"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}}`),
		stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ForAllValues:StringEquals":{"sts:ExternalId":"x1"},"ForAnyValue:StringLikeIfExists":{"aws:PrincipalArn":"arn:*"}}}`),
		stmt(`{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"},"BoolIfExists":{"aws:MultiFactorAuthPresent":false}}}`),
		stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/rolecall-sandbox"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIgnoreCase":{"sts:ExternalId":"RC-x"},"StringNotEqualsIgnoreCase":{"aws:PrincipalOrgID":"o-1"},"Bool":{"aws:SecureTransport":"true"}}}`),
		stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ForAllValues:ArnNotLikeIfExists":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"},"Null":{"aws:MultiFactorAuthPresent":"false"}}}`),
		stmt(`{"Effect":"Deny","Action":"sts:AssumeRole","Resource":["arn:aws:iam::*:role/*"],"Condition":{"StringEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"}}}`),
		`{}`, `[]`, `null`, `{"Statement":[{"Effect":"Allow"}]}`,
	}
	for _, h := range trusthole.All {
		seeds = append(seeds, string(h.TrustPolicy(extID, partner)))
	}
	for i, s := range seeds {
		ext, has := extID, i%2 == 0
		f.Add([]byte(s), partner, ext, has)
	}
	f.Add([]byte(seeds[0]), "arn:aws:iam::444455556666:user/u", "", false)
	f.Add([]byte(seeds[1]), "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/x", "rc-x", true)
	f.Add([]byte(seeds[7]), "arn:aws:iam::111122223333:role/team/RoleCallVerifier", "", false)
	f.Add([]byte(seeds[9]), "arn:aws:iam::111122223333:user/alice", "rc-y", true)
	f.Fuzz(func(t *testing.T, doc []byte, principal, externalID string, hasExternalID bool) {
		req := Request{Principal: principal, Action: "sts:AssumeRole", ExternalID: externalID, HasExternalID: hasExternalID, RoleSessionName: "rolecall-fuzz",
			PrincipalOrgID: "o-fuzzfuzz01", ResourceAccount: "210987654321", Resource: "arn:aws:iam::210987654321:role/R"}
		// The same document as an identity-based policy: never a panic, the
		// same decision every time.
		if ip, err := ParseIdentityPolicy(doc); err == nil {
			if d1, d2 := ip.Evaluate(req), ip.Evaluate(req); d1 != d2 {
				t.Fatalf("identity policy non-deterministic: %v then %v", d1, d2)
			}
		}
		p, err := ParsePolicy(doc)
		if err != nil {
			return
		}
		d1 := p.Evaluate(req)
		if d1 != Allow && d1 != ImplicitDeny && d1 != ExplicitDeny {
			t.Fatalf("decision %v out of range", d1)
		}
		if d2 := p.Evaluate(req); d2 != d1 {
			t.Fatalf("non-deterministic: %v then %v", d1, d2)
		}
		p2, err := ParsePolicy(doc)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if d3 := p2.Evaluate(req); d3 != d1 {
			t.Fatalf("re-parse changed the decision: %v then %v", d1, d3)
		}
		// An explicit deny for everyone always wins.
		denied := *p
		denied.statements = append(append([]statement(nil), p.statements...), statement{
			principals: principalSet{any: true}, actions: []string{"*"},
		})
		if d := denied.Evaluate(req); d == Allow {
			t.Fatalf("an explicit deny for everyone did not deny")
		}
	})
}
