package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

func withRegistrations(e **onboarding.Registrations) func(*Config) {
	return func(c *Config) {
		r := &onboarding.Registrations{Service: c.Service.(*onboarding.Service), Tokens: store.NewMemoryRegistrations()}
		*e = r
		c.Registrations = r
	}
}

func TestRegistrationTokenRoutes(t *testing.T) {
	var regs *onboarding.Registrations
	e := newEnv(t, withRegistrations(&regs))
	e.tenant("acme")
	e.tenant("other")

	w := e.do(ops("POST", "/v1/tenants/acme/registration-tokens", ""))
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	// The answer's fields, exactly: the secret (once), never its digest
	// nor the invite it was minted with; no setup without a topic.
	if keys, _ := jsonKeys(t, w.Body.Bytes()); !slices.Equal(keys, []string{"createdAt", "createdVia", "expiresAt", "revoked", "tenantId", "token", "tokenId"}) {
		t.Fatalf("created fields %v: %s", keys, w.Body)
	}
	created := decode[tokenCreated](t, w)
	if !registration.WellFormed(created.Secret) || !registration.WellFormedID(created.ID) || created.TenantID != "acme" || created.Revoked || created.Via != registration.ViaOps {
		t.Fatalf("created = %+v", created)
	}
	if got := created.ExpiresAt.Sub(created.CreatedAt); got != registration.DefaultTTL {
		t.Errorf("default lifetime %v, want %v", got, registration.DefaultTTL)
	}
	if tn, _, err := regs.Authenticate(context.Background(), created.Secret); err != nil || tn.ID != "acme" {
		t.Fatalf("the returned token does not authenticate acme: %v %v", tn.ID, err)
	}

	e.now = e.now.Add(time.Minute) // listings are oldest first
	w = e.do(ops("POST", "/v1/tenants/acme/registration-tokens", `{"ttlSeconds":7200}`))
	if w.Code != http.StatusCreated {
		t.Fatalf("create with ttl: %d %s", w.Code, w.Body)
	}
	second := decode[tokenCreated](t, w)
	if got := second.ExpiresAt.Sub(second.CreatedAt); got != 2*time.Hour {
		t.Errorf("lifetime %v, want 2h", got)
	}

	w = e.do(ops("GET", "/v1/tenants/acme/registration-tokens", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), created.Secret) || strings.Contains(w.Body.String(), registration.Hash(created.Secret)) || strings.Contains(w.Body.String(), `"token"`) {
		t.Fatalf("the listing shows a secret or its digest: %s", w.Body)
	}
	list := decode[tokenList](t, w)
	if len(list.Tokens) != 2 || list.Tokens[0].ID != created.ID || list.Tokens[1].ID != second.ID {
		t.Fatalf("list = %s", w.Body)
	}
	if w := e.do(ops("GET", "/v1/tenants/other/registration-tokens", "")); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"tokens":[]`) {
		t.Fatalf("another tenant's listing: %d %s", w.Code, w.Body)
	}

	// Another tenant cannot revoke acme's token.
	if w := e.do(ops("DELETE", "/v1/tenants/other/registration-tokens/"+created.ID, "")); w.Code != http.StatusNotFound {
		t.Fatalf("revoke through another tenant: %d %s", w.Code, w.Body)
	}
	w = e.do(ops("DELETE", "/v1/tenants/acme/registration-tokens/"+created.ID, ""))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"revoked":true`) {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	_, _, err := regs.Authenticate(context.Background(), created.Secret)
	if oe := onboarding.AsError(err); oe == nil || oe.Code != onboarding.CodeTokenRevoked {
		t.Fatalf("revoked token authenticates: %v", err)
	}
}

func TestRegistrationTokenRefusals(t *testing.T) {
	var regs *onboarding.Registrations
	e := newEnv(t, withRegistrations(&regs))
	e.tenant("acme")
	tests := []struct {
		name       string
		r          req
		wantStatus int
		wantCode   string
	}{
		{"no ops credentials", req{method: "POST", path: "/v1/tenants/acme/registration-tokens"}, 401, CodeUnauthenticated},
		{"invite is not ops", req{method: "GET", path: "/v1/tenants/acme/registration-tokens", auth: "Invite " + e.invite("acme")}, 401, CodeUnauthenticated},
		{"unknown tenant", ops("POST", "/v1/tenants/nobody/registration-tokens", ""), 404, onboarding.CodeNotFound},
		{"invalid tenant", ops("GET", "/v1/tenants/a%20b/registration-tokens", ""), 400, "INVALID_TENANT_ID"},
		{"ttl too short", ops("POST", "/v1/tenants/acme/registration-tokens", `{"ttlSeconds":59}`), 400, onboarding.CodeInvalidTTL},
		{"ttl too long", ops("POST", "/v1/tenants/acme/registration-tokens", fmt.Sprintf(`{"ttlSeconds":%d}`, int64(registration.MaxTTL/time.Second)+1)), 400, onboarding.CodeInvalidTTL},
		{"ttl negative", ops("POST", "/v1/tenants/acme/registration-tokens", `{"ttlSeconds":-1}`), 400, onboarding.CodeInvalidTTL},
		{"ttl not integer", ops("POST", "/v1/tenants/acme/registration-tokens", `{"ttlSeconds":"1h"}`), 400, CodeInvalidType},
		{"unknown field", ops("POST", "/v1/tenants/acme/registration-tokens", `{"tenantId":"other"}`), 400, CodeUnknownField},
		{"revoke malformed id", ops("DELETE", "/v1/tenants/acme/registration-tokens/abc", ""), 404, onboarding.CodeNotFound},
		{"revoke unknown id", ops("DELETE", "/v1/tenants/acme/registration-tokens/"+registration.NewTokenID(), ""), 404, onboarding.CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.r)
			if w.Code != tc.wantStatus || !strings.Contains(w.Body.String(), `"code":"`+tc.wantCode+`"`) {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tc.wantStatus, tc.wantCode)
			}
		})
	}
	list, _ := regs.ListTokens(context.Background(), "acme")
	if len(list) != 0 {
		t.Fatalf("refused requests created %d tokens", len(list))
	}
	for range registration.MaxLive {
		if w := e.do(ops("POST", "/v1/tenants/acme/registration-tokens", "")); w.Code != 201 {
			t.Fatal(w.Body)
		}
	}
	if w := e.do(ops("POST", "/v1/tenants/acme/registration-tokens", "")); w.Code != 400 || !strings.Contains(w.Body.String(), onboarding.CodeTooManyTokens) {
		t.Fatalf("token beyond the limit: %d %s", w.Code, w.Body)
	}
}

func TestRegistrationRoutesNeedConfig(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	if w := e.do(ops("POST", "/v1/tenants/acme/registration-tokens", "")); w.Code != http.StatusNotFound {
		t.Fatalf("without Registrations: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", path: "/_sandbox/sns/registration", body: "{}"}); w.Code != http.StatusNotFound {
		t.Fatalf("without an inbox: %d %s", w.Code, w.Body)
	}
}

// batchAnswer is the batch route's answer as a client reads it: per ARN,
// the connection stored or the refusal.
type batchAnswer struct {
	Results []struct {
		RoleARN    string `json:"roleArn"`
		Connection *struct {
			AccountID string `json:"accountId"`
			Status    string `json:"status"`
		} `json:"connection"`
		Error *struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
	} `json:"results"`
}

// submitBatch posts arns to the batch route with the invite's
// Authorization header auth and decodes its answer, which must be a 200.
func (e *env) submitBatch(t *testing.T, auth string, arns []string) batchAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"roleArns": arns})
	w := e.do(req{method: "POST", path: "/v1/connections:batch", body: string(body), auth: auth})
	if w.Code != http.StatusOK {
		t.Fatalf("batch: %d %s", w.Code, w.Body)
	}
	return decode[batchAnswer](t, w)
}

func TestSubmitBatch(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	code := e.invite("acme")
	inv := "Invite " + code
	arns := []string{
		customerRole,
		"arn:aws:iam::999988887777:role/Own",         // the partner's own account
		"arn:aws:iam::555566667777:user/not-a-role",  // not a role
		"arn:aws:iam::111122223333:role/SecondOfOne", // same account as the first
		customerRole2,
		"arn:aws-cn:iam::222233334444:role/X", // wrong partition
	}
	out := e.submitBatch(t, inv, arns)
	if len(out.Results) != len(arns) {
		t.Fatalf("%d results for %d ARNs", len(out.Results), len(arns))
	}
	want := []string{"PENDING", "OWN_ACCOUNT", "NOT_A_ROLE", CodeDuplicateAccount, "PENDING", "WRONG_PARTITION"}
	for i, r := range out.Results {
		if r.RoleARN != arns[i] {
			t.Errorf("result %d is for %q, want %q", i, r.RoleARN, arns[i])
		}
		got := ""
		switch {
		case r.Connection != nil && r.Error == nil:
			got = r.Connection.Status
		case r.Error != nil && r.Connection == nil:
			got = r.Error.Code
			if r.Error.Field != fmt.Sprintf("roleArns[%d]", i) {
				t.Errorf("result %d field = %q", i, r.Error.Field)
			}
		}
		if got != want[i] {
			t.Errorf("result %d = %q, want %q", i, got, want[i])
		}
	}
	page, _ := e.mem.ListByTenant(context.Background(), "acme", "", 100)
	if len(page.Items) != 2 || page.Items[0].RoleARN != customerRole {
		t.Fatalf("stored %d connections: %+v", len(page.Items), page.Items)
	}
	// Resubmitting the batch changes nothing that is PENDING.
	before, _ := e.mem.Events(context.Background(), "acme", customerAcct)
	e.submitBatch(t, inv, arns)
	after, _ := e.mem.Events(context.Background(), "acme", customerAcct)
	if len(after) != len(before) {
		t.Fatalf("resubmitted batch added events: %d -> %d", len(before), len(after))
	}
}

// A batch's entries count against the invite's rate limit as single
// submissions do: a batch cannot submit more than the limit allows.
func TestSubmitBatchIsRateLimited(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	n := onboarding.DefaultSubmissionsPerMinute + 5
	arns := make([]string, n)
	for i := range arns {
		arns[i] = fmt.Sprintf("arn:aws:iam::%012d:role/RoleCall", 300000000000+i)
	}
	accepted, limited := 0, 0
	for _, r := range e.submitBatch(t, inv, arns).Results {
		switch {
		case r.Connection != nil:
			accepted++
		case r.Error != nil && r.Error.Code == onboarding.CodeRateLimited:
			limited++
		}
	}
	page, _ := e.mem.ListByTenant(context.Background(), "acme", "", 100)
	if accepted != onboarding.DefaultSubmissionsPerMinute || limited != 5 || len(page.Items) != accepted {
		t.Fatalf("%d accepted, %d rate limited, %d stored; want %d, 5, %d", accepted, limited, len(page.Items), onboarding.DefaultSubmissionsPerMinute, onboarding.DefaultSubmissionsPerMinute)
	}
	// A single submission of the same invite is refused too.
	one, _ := json.Marshal(map[string]string{"roleArn": "arn:aws:iam::400000000000:role/RoleCall"})
	if w := e.do(req{method: "POST", path: "/v1/connections", body: string(one), auth: inv}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("single submission after the batch: %d %s", w.Code, w.Body)
	}
}

func TestSubmitBatchRefusals(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	many := make([]string, MaxBatch+1)
	for i := range many {
		many[i] = fmt.Sprintf("arn:aws:iam::%012d:role/R", 100000000000+i)
	}
	big, _ := json.Marshal(map[string]any{"roleArns": many})
	exact, _ := json.Marshal(map[string]any{"roleArns": many[:MaxBatch]})
	tests := []struct {
		name       string
		r          req
		wantStatus int
		wantCode   string
	}{
		{"no invite", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":[]}`}, 401, CodeUnauthenticated},
		{"ops token is not an invite", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":["` + customerRole + `"]}`, auth: "Bearer " + testToken}, 401, CodeUnauthenticated},
		{"missing roleArns", req{method: "POST", path: "/v1/connections:batch", body: `{}`, auth: inv}, 400, CodeMissingField},
		{"empty", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":[]}`, auth: inv}, 400, CodeBatchTooLarge},
		{"too many", req{method: "POST", path: "/v1/connections:batch", body: string(big), auth: inv}, 400, CodeBatchTooLarge},
		{"not strings", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":[1]}`, auth: inv}, 400, CodeInvalidType},
		{"not an array", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":"` + customerRole + `"}`, auth: inv}, 400, CodeInvalidType},
		{"unknown field", req{method: "POST", path: "/v1/connections:batch", body: `{"roleArns":["` + customerRole + `"],"tenantId":"x"}`, auth: inv}, 400, CodeUnknownField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.r)
			if w.Code != tc.wantStatus || !strings.Contains(w.Body.String(), `"code":"`+tc.wantCode+`"`) {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tc.wantStatus, tc.wantCode)
			}
		})
	}
	page, _ := e.mem.ListByTenant(context.Background(), "acme", "", 100)
	if len(page.Items) != 0 {
		t.Fatalf("refused batches stored %d connections", len(page.Items))
	}
	e.svc.SubmissionsPerMinute = MaxBatch // an invite allowed a whole batch a minute
	if w := e.do(req{method: "POST", path: "/v1/connections:batch", body: string(exact), auth: inv}); w.Code != 200 || strings.Count(w.Body.String(), `"status":"PENDING"`) != MaxBatch {
		t.Fatalf("a batch of exactly %d: %d", MaxBatch, w.Code)
	}
}

// A store failure on one ARN is a generic INTERNAL for that ARN only.
func TestSubmitBatchInternalError(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	e.h.cfg.Service = failOnAccount{Onboarding: e.svc, account: customerAcct}
	body, _ := json.Marshal(map[string]any{"roleArns": []string{customerRole, customerRole2}})
	w := e.do(req{method: "POST", path: "/v1/connections:batch", body: string(body), auth: inv})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"code":"INTERNAL"`) || strings.Contains(w.Body.String(), "disk on fire") || !strings.Contains(w.Body.String(), `"status":"PENDING"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

type failOnAccount struct {
	Onboarding
	account string
}

func (f failOnAccount) SubmitInvited(ctx context.Context, tn tenant.Tenant, code, arn string) (connection.Connection, error) {
	if strings.Contains(arn, "::"+f.account+":") {
		return connection.Connection{}, errors.New("disk on fire")
	}
	return f.Onboarding.SubmitInvited(ctx, tn, code, arn)
}

func TestRegistrationTokenComesWithSetup(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:999988887777:rolecall-dev-registration"
	var regs *onboarding.Registrations
	e := newEnv(t, withRegistrations(&regs), func(c *Config) {
		c.Setup = RoleSetup{TrustedPrincipalARN: principalARN, TemplateURL: "https://b.s3.amazonaws.com/customer-role.yaml", Region: "us-east-1", RegistrationTopicARN: topic}
	})
	e.tenant("acme")
	w := e.do(ops("POST", "/v1/tenants/acme/registration-tokens", ""))
	if w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var out struct {
		Token string `json:"token"`
		Setup struct {
			QuickCreateURL string `json:"quickCreateUrl"`
			StackSet       string `json:"stackSet"`
		} `json:"setup"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Setup.QuickCreateURL, "param_RegistrationToken="+out.Token) || !strings.Contains(out.Setup.QuickCreateURL, "region=eu-west-1") ||
		!strings.Contains(out.Setup.QuickCreateURL, "param_RegistrationTopicArn=arn%3Aaws%3Asns%3Aeu-west-1") {
		t.Errorf("quick-create link = %s", out.Setup.QuickCreateURL)
	}
	if !strings.Contains(out.Setup.StackSet, "create-stack-set") || !strings.Contains(out.Setup.StackSet, out.Token) || !strings.Contains(out.Setup.StackSet, "SERVICE_MANAGED") {
		t.Errorf("StackSet commands = %s", out.Setup.StackSet)
	}
	// Without a topic the token comes alone.
	e2 := newEnv(t, withRegistrations(&regs), func(c *Config) { c.Setup = RoleSetup{TrustedPrincipalARN: principalARN} })
	e2.tenant("acme")
	if w := e2.do(ops("POST", "/v1/tenants/acme/registration-tokens", "")); w.Code != 201 || strings.Contains(w.Body.String(), `"setup"`) {
		t.Fatalf("without a topic: %d %s", w.Code, w.Body)
	}
}

func TestInviteRegistration(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:999988887777:rolecall-dev-registration"
	var regs *onboarding.Registrations
	e := newEnv(t, withRegistrations(&regs), func(c *Config) {
		c.Setup = RoleSetup{TrustedPrincipalARN: principalARN, TemplateURL: "https://b.s3.amazonaws.com/customer-role.yaml", RegistrationTopicARN: topic}
	})
	e.tenant("acme")
	code := e.invite("acme")
	inv := "Invite " + code

	var view struct {
		SelfRegistration bool `json:"selfRegistration"`
	}
	w := e.do(req{method: "GET", path: "/v1/invite", auth: inv})
	_ = json.Unmarshal(w.Body.Bytes(), &view)
	if !view.SelfRegistration {
		t.Fatalf("the invite view does not offer self-registration: %s", w.Body)
	}

	for i := range registration.MaxPerInvite {
		w := e.do(req{method: "POST", path: "/v1/invite/registration", auth: inv})
		if w.Code != http.StatusCreated || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("mint %d: %d %s", i, w.Code, w.Body)
		}
		var out struct {
			TokenID        string `json:"tokenId"`
			Token          string `json:"token"`
			QuickCreateURL string `json:"quickCreateUrl"`
			StackSet       string `json:"stackSet"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		if !strings.Contains(out.QuickCreateURL, "param_RegistrationToken="+out.Token) || !strings.Contains(out.StackSet, out.Token) {
			t.Fatalf("mint %d: %s", i, w.Body)
		}
		tn, tok, err := regs.Authenticate(context.Background(), out.Token)
		if err != nil || tn.ID != "acme" || tok.Via != registration.ViaInvite || tok.InviteHash != tenant.HashCode(code) {
			t.Fatalf("minted token: %+v %v", tok, err)
		}
	}
	if w := e.do(req{method: "POST", path: "/v1/invite/registration", auth: inv}); w.Code != 400 || !strings.Contains(w.Body.String(), onboarding.CodeTooManyTokens) {
		t.Fatalf("beyond the per-invite limit: %d %s", w.Code, w.Body)
	}
	// Another invite of the same tenant has its own allowance.
	if w := e.do(req{method: "POST", path: "/v1/invite/registration", auth: "Invite " + e.invite("acme")}); w.Code != 201 {
		t.Fatalf("another invite: %d %s", w.Code, w.Body)
	}
	// The listing shows who created them.
	if w := e.do(ops("GET", "/v1/tenants/acme/registration-tokens", "")); strings.Count(w.Body.String(), `"createdVia":"invite"`) != registration.MaxPerInvite+1 {
		t.Fatalf("listing: %s", w.Body)
	}
	if w := e.do(req{method: "POST", path: "/v1/invite/registration"}); w.Code != 401 {
		t.Fatalf("without an invite: %d", w.Code)
	}

	// Without a topic: not offered.
	e2 := newEnv(t, withRegistrations(&regs), func(c *Config) { c.Setup = RoleSetup{TrustedPrincipalARN: principalARN} })
	e2.tenant("acme")
	code2 := e2.invite("acme")
	if w := e2.do(req{method: "POST", path: "/v1/invite/registration", auth: "Invite " + code2}); w.Code != 404 {
		t.Fatalf("without a topic: %d %s", w.Code, w.Body)
	}
	if v := decode[inviteView](t, e2.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code2})); v.SelfRegistration {
		t.Fatal("the form offers self-registration without a topic")
	}
}

// failingGuides is a registration setup whose guides cannot be rendered.
type failingGuides struct{ RoleSetup }

func (failingGuides) RegistrationGuide(tenant.Tenant, string) (RegistrationGuide, bool, error) {
	return RegistrationGuide{}, false, setupFault{errors.New("the template URL cannot be rendered")}
}

// TestInviteRegistrationGuideFailureSpendsNoToken: a guide that cannot be
// rendered refuses the request before one of the invite's tokens is minted.
func TestInviteRegistrationGuideFailureSpendsNoToken(t *testing.T) {
	var regs *onboarding.Registrations
	e := newEnv(t, withRegistrations(&regs), func(c *Config) {
		c.Setup = failingGuides{RoleSetup{TrustedPrincipalARN: principalARN, RegistrationTopicARN: "arn:aws:sns:us-east-1:999988887777:rolecall-dev-registration"}}
	})
	e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	if w := e.do(req{method: "POST", path: "/v1/invite/registration", auth: inv}); w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), registration.Prefix) {
		t.Fatalf("a guide that cannot be rendered: %d %s", w.Code, w.Body)
	}
	if w := e.do(ops("GET", "/v1/tenants/acme/registration-tokens", "")); w.Code != 200 || !strings.Contains(w.Body.String(), `"tokens":[]`) {
		t.Fatalf("a refused request minted a token: %s", w.Body)
	}
}

// TestBatchRefusedEntryDoesNotBlockItsAccount: a wrong-partition ARN
// refused in a batch does not make a later, valid ARN for the same account
// a DUPLICATE_ACCOUNT: nothing was submitted for that account.
func TestBatchRefusedEntryDoesNotBlockItsAccount(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	arns := []string{
		"arn:aws-cn:iam::" + customerAcct + ":role/RoleCallAccess", // WRONG_PARTITION, nothing stored
		customerRole, // the same account, correctly spelled
	}
	out := e.submitBatch(t, inv, arns)
	if r := out.Results[0]; r.Error == nil || r.Error.Code != "WRONG_PARTITION" {
		t.Fatalf("result 0 = %+v, want WRONG_PARTITION", r)
	}
	if r := out.Results[1]; r.Connection == nil {
		t.Errorf("result 1 = error %+v, want the connection PENDING", r.Error)
	}
}

// TestInviteViewHidesPreviousIDAfterGrace: once a rotation's grace has
// ended, the previous external ID is accepted nowhere, and the invite view
// gives it to no one, also before the sweep records the retirement.
func TestInviteViewHidesPreviousIDAfterGrace(t *testing.T) {
	e := newEnv(t)
	tn := e.tenant("acme")
	inv := "Invite " + e.invite("acme")
	r := tn.RotatedWithGrace(e.now, time.Hour)
	if err := e.mem.RotateExternalID(context.Background(), tn, r); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour) // the grace is over; no sweep has run
	if r.PreviousAccepted(e.now) {
		t.Fatal("test setup: previous ID still accepted")
	}
	w := e.do(req{method: "GET", path: "/v1/invite", auth: inv})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/invite: %d %s", w.Code, w.Body)
	}
	v := decode[inviteView](t, w)
	if v.PreviousExternalID != "" {
		t.Errorf("invite view still hands out the previous external ID %q, no longer accepted since %s", v.PreviousExternalID, v.GraceEndsAt)
	}
	// The current ID's version, which the form compares with a
	// connection's to tell one not checked since the rotation.
	if v.ExternalIDVersion != r.ExternalIDVersion || !strings.Contains(w.Body.String(), `"externalIdVersion":2`) {
		t.Errorf("invite view external ID version %d, want %d", v.ExternalIDVersion, r.ExternalIDVersion)
	}
}

// TestBatchResubmissionStillTakesItsAccount: a batch whose first entry is
// the role of an ACCESS_LOST connection takes its account, also when that
// entry fails (its check cannot be queued): a second entry, another role
// for the same account, is DUPLICATE_ACCOUNT and does not replace the
// connection (releasing the role's claim).
func TestBatchResubmissionStillTakesItsAccount(t *testing.T) {
	for _, queueDown := range []bool{false, true} {
		t.Run(map[bool]string{false: "queued", true: "the queue down"}[queueDown], func(t *testing.T) {
			e := newEnv(t)
			tn := e.tenant("acme")
			code := e.invite("acme")
			c := e.submitAs(tn, customerRole, connection.ResultOK, connection.ResultDenied, connection.ResultDenied, connection.ResultDenied)
			if c.Status != connection.AccessLost {
				t.Fatalf("setup: status %s", c.Status)
			}
			if queueDown {
				e.queue.Fail(errors.New("sqs down"))
			}
			other := "arn:aws:iam::" + customerAcct + ":role/SomeOtherRole"
			out := e.submitBatch(t, "Invite "+code, []string{customerRole, other})
			if r := out.Results[0]; (r.Error != nil) != queueDown {
				t.Fatalf("result 0 = %+v %+v", r.Connection, r.Error)
			}
			if r := out.Results[1]; r.Error == nil || r.Error.Code != CodeDuplicateAccount {
				t.Errorf("result 1 = connection %+v, error %+v; want DUPLICATE_ACCOUNT (the batch named the account's ACCESS_LOST role first)", r.Connection, r.Error)
			}
			w := e.do(req{method: "GET", path: "/v1/connections/" + customerAcct, auth: "Invite " + code})
			if w.Code != http.StatusOK {
				t.Fatalf("GET: %d %s", w.Code, w.Body)
			}
			if got := decode[connection.Connection](t, w); got.RoleARN != customerRole || got.Status != connection.AccessLost {
				t.Errorf("after the batch the connection is %s %s, want %s ACCESS_LOST holding its claim", got.RoleARN, got.Status, customerRole)
			}
		})
	}
}
