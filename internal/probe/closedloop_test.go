package probe_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/tenant"
)

// The closed loop: real trust policies in the sandbox STS, checked through
// its embedded Assumer, with the tenant's external ID, the previous one and
// the checker's own decoy all evaluated by the policy.
const (
	loopPartner = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	loopRole    = "arn:aws:iam::123456789012:role/RoleCall"
)

// trustPolicy is a one-statement trust policy for the partner's verifier
// with the given condition block ("" for none).
func trustPolicy(condition string) []byte {
	cond := ""
	if condition != "" {
		cond = `,"Condition":` + condition
	}
	return fmt.Appendf(nil, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"%s}]}`, loopPartner, cond)
}

type loopCase struct {
	name       string
	policy     []byte
	previous   bool // the request carries the previous external ID
	want       connection.Result
	detail     string
	extVersion int
	extCurrent bool
	// externalID, when set, is the request's instead of externalID (an
	// ID of another shape, as `rolecall verify --external-id` takes).
	externalID string
}

func runClosedLoop(t *testing.T, tests []loopCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{})
			if err := s.PutRole(loopRole, tt.policy); err != nil {
				t.Fatalf("PutRole: %v", err)
			}
			c := newChecker(s.Assumer(loopPartner), nil)
			c.Attempts = 1
			req := request()
			if tt.previous {
				req = requestWithPrevious()
			}
			if tt.externalID != "" {
				req.ExternalID = tt.externalID
			}
			rep := c.Check(context.Background(), req)
			o := rep.Outcome
			if o.Result != tt.want || o.Detail != tt.detail || o.ExternalIDVersion != tt.extVersion || o.ExternalIDCurrent != tt.extCurrent {
				t.Fatalf("outcome %+v, want %s %q v%d current=%v; steps %+v", o, tt.want, tt.detail, tt.extVersion, tt.extCurrent, rep.Steps)
			}
			// An ID RoleCall did not generate has two decoys in the
			// decoy step: one of its shape, one of RoleCall's.
			decoys := 1
			if !tenant.IsGeneratedExternalID(req.ExternalID) {
				decoys = 2
			}
			if calls := s.Calls(); calls != uint64(len(rep.Steps)-stepsWithoutCall(rep)+decoys-1) {
				t.Fatalf("sandbox saw %d calls for steps %+v", calls, rep.Steps)
			}
		})
	}
}

// stepsWithoutCall counts the steps that make no STS call (the account).
func stepsWithoutCall(rep probe.Report) int {
	n := 0
	for _, s := range rep.Steps {
		if s.Name == probe.StepAccount {
			n++
		}
	}
	return n
}

func TestClosedLoop(t *testing.T) {
	template, err := rolesetup.TrustPolicy(externalID, loopPartner)
	if err != nil {
		t.Fatal(err)
	}
	eq := func(ids ...string) string {
		return fmt.Sprintf(`{"StringEquals":{"sts:ExternalId":["%s"]}}`, strings.Join(ids, `","`))
	}
	runClosedLoop(t, []loopCase{
		{name: "the template's trust policy", policy: template,
			want: connection.ResultOK, extVersion: 3, extCurrent: true},
		{name: "StringEquals the tenant's external ID", policy: trustPolicy(eq(externalID)),
			want: connection.ResultOK, extVersion: 3, extCurrent: true},
		{name: "no condition", policy: trustPolicy(""),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 3, extCurrent: true},
		{name: `StringLike "*"`, policy: trustPolicy(`{"StringLike":{"sts:ExternalId":"*"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		{name: `StringLike "rc-*"`, policy: trustPolicy(`{"StringLike":{"sts:ExternalId":"rc-*"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		{name: `Null "false"`, policy: trustPolicy(`{"Null":{"sts:ExternalId":"false"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		{name: "StringNotEquals another value", policy: trustPolicy(`{"StringNotEquals":{"sts:ExternalId":"rc-SOMETHINGELSE"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 3, extCurrent: true},
		{name: "another tenant's external ID", policy: trustPolicy(eq("rc-ANOTHERTENANTANOTHERTENANT2345")),
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3},
		{name: "rotation: both IDs listed", policy: trustPolicy(eq(previousID, externalID)), previous: true,
			want: connection.ResultOK, extVersion: 3, extCurrent: true},
		{name: "rotation: only the previous ID, during grace", policy: trustPolicy(eq(previousID)), previous: true,
			want: connection.ResultOK, extVersion: 2, extCurrent: false},
		{name: "rotation: only the previous ID, after grace", policy: trustPolicy(eq(previousID)),
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3},
		{name: "rotation: everything but the current ID allowed", policy: trustPolicy(`{"StringNotEquals":{"sts:ExternalId":"` + externalID + `"}}`), previous: true,
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 2},
		{name: "explicit deny without external ID beside an allow for everything", policy: []byte(`{"Version":"2012-10-17","Statement":[` +
			`{"Effect":"Allow","Principal":{"AWS":"` + loopPartner + `"},"Action":"sts:AssumeRole"},` +
			`{"Effect":"Deny","Principal":{"AWS":"` + loopPartner + `"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"true"}}}]}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
	})
}

// TestClosedLoopIAMGrammar covers the real-world holes written with grammar
// the sandbox may refuse at load until its evaluator models it; such a case
// is skipped with a message saying so, never passed.
func TestClosedLoopIAMGrammar(t *testing.T) {
	runClosedLoop(t, []loopCase{
		// ...IfExists holds when the key is absent: the call without an
		// external ID is allowed, the decoy is not.
		{name: "StringEqualsIfExists the tenant's external ID", policy: trustPolicy(`{"StringEqualsIfExists":{"sts:ExternalId":"` + externalID + `"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 3, extCurrent: true},
		{name: `StringLikeIfExists "rc-*"`, policy: trustPolicy(`{"StringLikeIfExists":{"sts:ExternalId":"rc-*"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 3, extCurrent: true},
		// ForAnyValue: on a single-valued key compares the one value: a
		// wildcard accepts any external ID, and no key gives false.
		{name: `ForAnyValue:StringLike "*"`, policy: trustPolicy(`{"ForAnyValue:StringLike":{"sts:ExternalId":"*"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		{name: `ForAnyValue:StringLike "rc-*"`, policy: trustPolicy(`{"ForAnyValue:StringLike":{"sts:ExternalId":"rc-*"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		// ForAllValues: is true when the key is absent.
		{name: "ForAllValues:StringEquals the tenant's external ID", policy: trustPolicy(`{"ForAllValues:StringEquals":{"sts:ExternalId":"` + externalID + `"}}`),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedWithoutExternalID, extVersion: 3, extCurrent: true},
		{name: "StringEqualsIgnoreCase the tenant's external ID", policy: trustPolicy(`{"StringEqualsIgnoreCase":{"sts:ExternalId":"` + strings.ToLower(externalID) + `"}}`),
			want: connection.ResultOK, extVersion: 3, extCurrent: true},
	})
}

// TestClosedLoopWildcardOfTheIDsShape: an external ID RoleCall did not
// generate (a partner's legacy "acme-123", given to `rolecall verify
// --external-id`) gets a decoy of its own shape, so a trust policy whose
// wildcard accepts any ID of that shape fails as EXTERNAL_ID_NOT_ENFORCED,
// and one that names the ID alone (even ignoring case) still verifies.
func TestClosedLoopWildcardOfTheIDsShape(t *testing.T) {
	like := func(pattern string) []byte {
		return trustPolicy(`{"StringLike":{"sts:ExternalId":"` + pattern + `"}}`)
	}
	notEnforced := func(name, id, pattern string) loopCase {
		return loopCase{name: name, externalID: id, policy: like(pattern),
			want: connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true}
	}
	verified := func(name, id string, policy []byte) loopCase {
		return loopCase{name: name, externalID: id, policy: policy, want: connection.ResultOK, extVersion: 3, extCurrent: true}
	}
	runClosedLoop(t, []loopCase{
		notEnforced(`"acme-*" for acme-123`, "acme-123", "acme-*"),
		notEnforced(`"acme-???" for acme-123`, "acme-123", "acme-???"),
		notEnforced(`"acme-*" for acme-1`, "acme-1", "acme-*"),
		notEnforced(`"Acme_Prod-*" for Acme_Prod-9f3A`, "Acme_Prod-9f3A", "Acme_Prod-*"),
		notEnforced(`"tenant/42:*" for tenant/42:deadbeef`, "tenant/42:deadbeef", "tenant/42:*"),
		notEnforced(`"acme-*." for acme-123.`, "acme-123.", "acme-*."),
		notEnforced(`"legacy*" for legacy123`, "legacy123", "legacy*"),
		notEnforced(`"LEGACY??????" for LEGACYABC123`, "LEGACYABC123", "LEGACY??????"),
		// A wildcard of RoleCall's shape is caught too: every
		// tenant's ID matches it.
		{name: `["acme-123", "rc-*"] for acme-123`, externalID: "acme-123",
			policy: trustPolicy(`{"StringLike":{"sts:ExternalId":["acme-123","rc-*"]}}`),
			want:   connection.ResultNotEnforced, detail: connection.NotEnforcedAnyExternalID, extVersion: 3, extCurrent: true},
		verified("StringEquals acme-123", "acme-123", trustPolicy(`{"StringEquals":{"sts:ExternalId":"acme-123"}}`)),
		verified("StringLike acme-123 with no wildcard", "acme-123", like("acme-123")),
		verified("StringEqualsIgnoreCase acme-xy", "acme-xY", trustPolicy(`{"StringEqualsIgnoreCase":{"sts:ExternalId":"ACME-XY"}}`)),
	})
}
