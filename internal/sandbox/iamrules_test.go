package sandbox

import (
	"crypto/rand"
	"encoding/base32"
	"testing"
)

// TestEvaluateIAMRules: one case per rule of IAM's evaluation the sandbox
// follows; each case's name says which behaviour of the IAM User Guide it
// follows (page in brackets).
func TestEvaluateIAMRules(t *testing.T) {
	const (
		pathRole   = "arn:aws:iam::111122223333:role/team/RoleCallVerifier"
		sessionArn = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-1"
	)
	base := Request{Principal: partner, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"}
	with := func(f func(r *Request)) Request { r := base; f(&r); return r }
	noExt := with(func(r *Request) { r.ExternalID, r.HasExternalID = "", false })
	wrongExt := with(func(r *Request) { r.ExternalID = "rc-WRONGWRONG" })
	otherCaller := with(func(r *Request) { r.Principal = other })
	pathCaller := with(func(r *Request) { r.Principal = pathRole })
	session1 := with(func(r *Request) { r.Principal = sessionArn })
	session2 := with(func(r *Request) { r.Principal = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-2" })
	user := with(func(r *Request) { r.Principal = "arn:aws:iam::111122223333:user/alice" })
	sameNameUser := with(func(r *Request) { r.Principal = "arn:aws:iam::111122223333:user/RoleCallVerifier" })
	inOrg := with(func(r *Request) { r.PrincipalOrgID = "o-partner1234" })

	trusting := func(principal, cond string) string {
		s := `{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"`
		if cond != "" {
			s += `,"Condition":` + cond
		}
		return stmt(s + `}`)
	}
	allowAll := `{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`
	allowPartnerIf := func(cond string) string { return trusting(partner, cond) }
	denyIf := func(cond string) string {
		return stmt(allowAll + `,{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":` + cond + `}`)
	}

	tests := []evalCase{
		// [Condition operators, ARN condition operators] ArnEquals and
		// ArnLike are documented alike: case-sensitive, each of the six
		// colon-delimited parts matched separately, * and ? allowed in each.
		{"ArnEquals takes wildcards per ARN part, so a Deny with it fires [Condition operators: ArnEquals, ArnLike]",
			denyIf(`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`), base, ExplicitDeny},
		{"ArnEquals with ? per character [Condition operators: ArnEquals, ArnLike]",
			denyIf(`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::11112222333?:role/RoleCallVerifier"}}`), base, ExplicitDeny},
		{"ArnEquals exact ARN [Condition operators: ArnEquals, ArnLike]",
			allowPartnerIf(`{"ArnEquals":{"aws:PrincipalArn":"` + partner + `"}}`), base, Allow},
		{"ArnEquals is case-sensitive [Condition operators: ArnEquals, ArnLike]",
			allowPartnerIf(`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/rolecallverifier"}}`), base, ImplicitDeny},
		{"ArnEquals wildcard does not cross a colon [Condition operators: ArnEquals, ArnLike]",
			denyIf(`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*"}}`), base, Allow},
		{"ArnNotEquals is the negation of ArnEquals, wildcards included [Condition operators: ArnNotEquals, ArnNotLike]",
			denyIf(`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/RoleCall*"}}`), otherCaller, ExplicitDeny},
		{"ArnNotEquals does not fire on a match [Condition operators: ArnNotEquals, ArnNotLike]",
			denyIf(`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/RoleCall*"}}`), base, Allow},
		{"ArnNotLike is the negation of ArnLike [Condition operators: ArnNotEquals, ArnNotLike]",
			denyIf(`{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::111122223333:role/Nope","arn:aws:iam::*:role/Other*"]}}`), base, ExplicitDeny},

		// [Principal: IAM role principals] a role ARN in a trust policy is
		// saved as the role's unique ID: it names the role exactly as its
		// ARN is, path included, and matches the sessions of that role.
		{"role principal with its path matches a session of the role [Principal: IAM role principals]",
			trusting(pathRole, ""), pathCaller, Allow},
		{"role principal without the path names another role and does not match [Principal: IAM role principals, unique ID]",
			trusting(partner, ""), pathCaller, ImplicitDeny},
		{"role principal with a path does not match the role without one [Principal: IAM role principals, unique ID]",
			trusting(pathRole, ""), base, ImplicitDeny},
		{"role principal with another path does not match [Principal: IAM role principals, unique ID]",
			trusting("arn:aws:iam::111122223333:role/other/RoleCallVerifier", ""), pathCaller, ImplicitDeny},
		{"role principal matches any session of the role [Principal: IAM role principals]",
			trusting(partner, ""), session1, Allow},
		{"role principal does not match a user of the same name [Principal: IAM role principals]",
			trusting(partner, ""), sameNameUser, ImplicitDeny},
		{"aws:PrincipalArn of a session is the role's ARN with its path [Global condition keys: aws:PrincipalArn]",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalArn":"` + pathRole + `"}}}`), pathCaller, Allow},

		// [Principal: Role session principals] an assumed-role session ARN
		// names one session exactly (no wildcards).
		{"assumed-role session principal matches exactly that session [Principal: role session principals]",
			trusting(sessionArn, ""), session1, Allow},
		{"assumed-role session principal does not match another session of the role [Principal: role session principals]",
			trusting(sessionArn, ""), session2, ImplicitDeny},
		{"assumed-role session principal matches the session a role caller runs as [Principal: role session principals]",
			trusting("arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/"+sandboxSessionName, ""), base, Allow},
		{"assumed-role session principal does not match a user [Principal: role session principals]",
			trusting(sessionArn, ""), user, ImplicitDeny},

		// [Condition operators: ...IfExists] an absent key makes the
		// condition true; a present one is tested as without IfExists.
		{"StringEqualsIfExists is true without the key (the IfExists hole) [Condition operators: IfExists]",
			allowPartnerIf(`{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}`), noExt, Allow},
		{"StringEqualsIfExists tests a present key [Condition operators: IfExists]",
			allowPartnerIf(`{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}`), wrongExt, ImplicitDeny},
		{"StringLikeIfExists matches a present key [Condition operators: IfExists]",
			allowPartnerIf(`{"StringLikeIfExists":{"sts:ExternalId":"rc-EXAMPLE*"}}`), base, Allow},
		{"StringNotEqualsIfExists in a Deny fires without the key [Condition operators: IfExists]",
			denyIf(`{"StringNotEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}`), noExt, ExplicitDeny},
		{"ArnLikeIfExists tests a present ARN [Condition operators: IfExists]",
			allowPartnerIf(`{"ArnLikeIfExists":{"aws:PrincipalArn":"arn:aws:iam::444455556666:role/*"}}`), base, ImplicitDeny},
		{"BoolIfExists is true for a user, who has no aws:MultiFactorAuthPresent [Condition operators: IfExists; Global keys: aws:MultiFactorAuthPresent]",
			trusting("111122223333", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`), user, Allow},
		{"BoolIfExists tests a session's aws:MultiFactorAuthPresent (false without MFA) [Condition operators: IfExists]",
			trusting("111122223333", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`), session1, ImplicitDeny},

		// [Condition operators: String condition operators] IgnoreCase.
		{"StringEqualsIgnoreCase ignores case [Condition operators: StringEqualsIgnoreCase]",
			allowPartnerIf(`{"StringEqualsIgnoreCase":{"sts:ExternalId":"RC-exampleexample"}}`), base, Allow},
		{"StringEqualsIgnoreCase still compares the whole value [Condition operators: StringEqualsIgnoreCase]",
			allowPartnerIf(`{"StringEqualsIgnoreCase":{"sts:ExternalId":"rc-example"}}`), base, ImplicitDeny},
		{"StringNotEqualsIgnoreCase holds for no match whatever the case [Condition operators: StringNotEqualsIgnoreCase]",
			allowPartnerIf(`{"StringNotEqualsIgnoreCase":{"sts:RoleSessionName":"ROLECALL-T"}}`), base, ImplicitDeny},
		{"StringNotEqualsIgnoreCase is true for an absent key [Condition operators: Important, absent key]",
			allowPartnerIf(`{"StringNotEqualsIgnoreCase":{"sts:ExternalId":"x1"}}`), noExt, Allow},

		// [Condition operators: Boolean condition operators]
		{"Bool aws:SecureTransport is true for STS, which answers HTTPS only [Condition operators: Bool; Global keys: aws:SecureTransport]",
			allowPartnerIf(`{"Bool":{"aws:SecureTransport":true}}`), base, Allow},
		{"Bool aws:SecureTransport false in a Deny does not fire [Condition operators: Bool]",
			denyIf(`{"Bool":{"aws:SecureTransport":"false"}}`), base, Allow},
		{"Bool aws:MultiFactorAuthPresent is false for a session without MFA [Global keys: aws:MultiFactorAuthPresent]",
			trusting("111122223333", `{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`), session1, ImplicitDeny},
		{"Bool in a Deny does not fire for long-term credentials, where the key is absent [Global keys: aws:MultiFactorAuthPresent]",
			denyIf(`{"Bool":{"aws:MultiFactorAuthPresent":"false"}}`), user, Allow},
		{"Bool in a Deny fires for a session without MFA [Global keys: aws:MultiFactorAuthPresent]",
			denyIf(`{"Bool":{"aws:MultiFactorAuthPresent":"false"}}`), session1, ExplicitDeny},
		{"Null aws:MultiFactorAuthPresent true for long-term credentials [Condition operators: Null; Global keys: aws:MultiFactorAuthPresent]",
			denyIf(`{"Null":{"aws:MultiFactorAuthPresent":"true"}}`), user, ExplicitDeny},

		// [Single-valued vs. multivalued context keys; Set operators]
		{"ForAnyValue over an absent key is false [Set operators: ForAnyValue]",
			allowPartnerIf(`{"ForAnyValue:StringEquals":{"sts:ExternalId":"` + extID + `"}}`), noExt, ImplicitDeny},
		{"ForAnyValue with a negated operator over an absent key is false too [Set operators: ForAnyValue]",
			allowPartnerIf(`{"ForAnyValue:StringNotEquals":{"sts:ExternalId":"` + extID + `"}}`), noExt, ImplicitDeny},
		{"ForAnyValue on a present single-valued key is the plain operator [Set operators: ForAnyValue]",
			allowPartnerIf(`{"ForAnyValue:StringLike":{"sts:ExternalId":"*"}}`), wrongExt, Allow},
		{"ForAllValues over an absent key is true (the ForAllValues hole) [Set operators: ForAllValues]",
			allowPartnerIf(`{"ForAllValues:StringEquals":{"sts:ExternalId":"` + extID + `"}}`), noExt, Allow},
		{"ForAllValues on a present single-valued key is the plain operator [Set operators: ForAllValues]",
			allowPartnerIf(`{"ForAllValues:StringEquals":{"sts:ExternalId":"` + extID + `"}}`), wrongExt, ImplicitDeny},
		{"ForAllValues with a negated operator tests the present value [Set operators: ForAllValues]",
			allowPartnerIf(`{"ForAllValues:StringNotEquals":{"sts:ExternalId":"` + extID + `"}}`), base, ImplicitDeny},
		{"ForAnyValue with IfExists over an absent key: IfExists makes it true [Condition operators: IfExists]",
			allowPartnerIf(`{"ForAnyValue:StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}`), noExt, Allow},
		{"ForAllValues ArnLike on aws:PrincipalArn [Set operators: ForAllValues]",
			allowPartnerIf(`{"ForAllValues:ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`), base, Allow},

		// [Condition operators: Null]
		{"Null false holds for any present external ID (the Null hole) [Condition operators: Null]",
			allowPartnerIf(`{"Null":{"sts:ExternalId":"false"}}`), wrongExt, Allow},

		// [Global condition keys: aws:PrincipalOrgID] present only for a
		// principal whose account is in an organization.
		{"aws:PrincipalOrgID is absent outside an organization [Global keys: aws:PrincipalOrgID]",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-partner1234"}}}`), base, ImplicitDeny},
		{"aws:PrincipalOrgID of a principal in an organization [Global keys: aws:PrincipalOrgID]",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-partner1234"}}}`), inOrg, Allow},
	}
	runEvalCases(t, tests)
}

// decoy returns a fresh random external ID of RoleCall's shape.
func decoy(t *testing.T) string {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "rc-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// TestHoles: every Hole parses (it is evaluated, never refused), admits the
// trusted principal with the tenant's external ID, and, as IAM would, also
// admits it with a random decoy or with none; the enforced policy admits
// neither. Every hole is caught by at least one of the two negative probes.
func TestHoles(t *testing.T) {
	calls := map[string]Request{
		"right ID":      {Principal: partner, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"},
		"random decoy":  {Principal: partner, Action: "sts:AssumeRole", ExternalID: decoy(t), HasExternalID: true, RoleSessionName: "rolecall-t"},
		"other tenant":  {Principal: partner, Action: "sts:AssumeRole", ExternalID: "rc-OTHERTENANTOTHERTENANT", HasExternalID: true, RoleSessionName: "rolecall-t"},
		"no ID":         {Principal: partner, Action: "sts:AssumeRole", RoleSessionName: "rolecall-t"},
		"other account": {Principal: other, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"},
	}
	// What IAM decides for each hole: Allow for the listed calls.
	anyID := []string{"right ID", "random decoy", "other tenant"}
	want := map[Hole][]string{
		HoleNoCondition:    {"right ID", "random decoy", "other tenant", "no ID"},
		HoleIfExists:       {"right ID", "no ID"},
		HoleForAllValues:   {"right ID", "no ID"},
		HolePrefixWildcard: anyID,
		HoleWildcard:       anyID,
		HoleNullFalse:      anyID,
		HoleForAnyValue:    anyID,
	}
	if len(want) != len(Holes) {
		t.Fatalf("%d holes, %d expectations", len(Holes), len(want))
	}
	check := func(t *testing.T, doc []byte, allowed []string) {
		t.Helper()
		p, err := ParsePolicy(doc)
		if err != nil {
			t.Fatalf("ParsePolicy refused %s: %v", doc, err)
		}
		for name, req := range calls {
			exp := ImplicitDeny
			for _, a := range allowed {
				if a == name {
					exp = Allow
				}
			}
			if got := p.Evaluate(req); got != exp {
				t.Errorf("%s: %v, want %v (%s)", name, got, exp, doc)
			}
		}
	}
	for _, h := range Holes {
		t.Run(string(h), func(t *testing.T) {
			check(t, h.TrustPolicy(extID, partner), want[h])
			withoutID, decoyID := false, false
			for _, a := range want[h] {
				withoutID = withoutID || a == "no ID"
				decoyID = decoyID || a == "random decoy"
			}
			if h.AllowsWithoutExternalID() != withoutID || h.AllowsAnyExternalID() != decoyID {
				t.Errorf("AllowsWithoutExternalID() = %v, AllowsAnyExternalID() = %v, want %v, %v",
					h.AllowsWithoutExternalID(), h.AllowsAnyExternalID(), withoutID, decoyID)
			}
			if len(want[h]) < 2 {
				t.Errorf("the hole admits only the right ID: no probe would catch it")
			}
		})
	}
	t.Run("enforced", func(t *testing.T) {
		check(t, EnforcedTrustPolicy(extID, partner), []string{"right ID"})
	})
}
