package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// fakeStacks plays the sandbox's CloudFormation: it records the launch and
// answers as told.
type fakeStacks struct {
	answer   StackAnswer
	err      error
	launched []string // tenant/account/role of each launch
}

func (f *fakeStacks) LaunchStack(_ context.Context, t tenant.Tenant, accountID, roleARN string, trustPolicy []byte) (StackAnswer, error) {
	if len(trustPolicy) == 0 {
		return StackAnswer{}, errors.New("no trust policy")
	}
	f.launched = append(f.launched, t.ID+"/"+accountID+"/"+roleARN)
	return f.answer, f.err
}

// fakeInbox is the sandbox's registration topic: it keeps the envelopes.
type fakeInbox struct {
	got []string
	err error
}

func (f *fakeInbox) Notify(_ context.Context, envelope []byte) error {
	f.got = append(f.got, string(envelope))
	return f.err
}

// TestSandboxLaunchStack: the form's sandbox stack button launches the
// tenant's sandbox role through the stacks and answers with the stack's
// answer and, once registered, the connection; bad requests launch nothing.
func TestSandboxLaunchStack(t *testing.T) {
	stacks := &fakeStacks{answer: StackAnswer{StackID: "arn:aws:cloudformation:us-east-1:1:stack/s/1", Status: "SUCCESS"}}
	e := newEnv(t, func(c *Config) { c.SandboxStacks = stacks })
	e.tenant("acme")
	code := e.invite("acme")
	offer := decode[inviteView](t, e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code})).Sandbox

	w := e.do(req{method: "POST", path: "/_sandbox/stacks", auth: "Invite " + code})
	got := decode[stackLaunched](t, w)
	if w.Code != 200 || got.Stack.StackID != stacks.answer.StackID || got.Stack.Status != "SUCCESS" || got.Connection != nil || len(stacks.launched) != 1 ||
		stacks.launched[0] != "acme/"+offer.AccountID+"/"+offer.RoleARN {
		t.Fatalf("launch: %d %+v, launched %v", w.Code, got, stacks.launched)
	}
	// Registered: the answer carries the connection.
	if w := e.do(submitAs(code, offer.RoleARN)); w.Code != 202 {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	got = decode[stackLaunched](t, e.do(req{method: "POST", path: "/_sandbox/stacks", auth: "Invite " + code}))
	if got.Connection == nil || got.Connection.AccountID != offer.AccountID {
		t.Fatalf("after registration: %+v", got)
	}

	stacks.err = &onboarding.Error{Code: "STACK_FAILED", Message: "the stack failed"}
	noRole := newEnv(t, func(c *Config) { c.SandboxStacks = stacks; c.Setup = noRoleName{fakeSetup{}} })
	noRole.tenant("acme")
	tests := []struct {
		name   string
		e      *env
		r      req
		status int
		code   string
		field  string
	}{
		{"without an invite", e, req{method: "POST", path: "/_sandbox/stacks"}, 401, CodeUnauthenticated, ""},
		{"with a body", e, req{method: "POST", path: "/_sandbox/stacks", body: `{"roleArn":"x"}`, auth: "Invite " + code}, 400, CodeUnknownField, "roleArn"},
		{"the stacks refuse", e, req{method: "POST", path: "/_sandbox/stacks", auth: "Invite " + code}, 400, "STACK_FAILED", ""},
		{"no sandbox role to offer", noRole, req{method: "POST", path: "/_sandbox/stacks", auth: "Invite " + noRole.invite("acme")}, 404, CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(stacks.launched)
			w := tt.e.do(tt.r)
			wantAPIError(t, w, tt.status, tt.code, tt.field)
			if tt.code != "STACK_FAILED" && len(stacks.launched) != before {
				t.Error("a refused request launched a stack")
			}
		})
	}
	if w := newEnv(t).do(req{method: "POST", path: "/_sandbox/stacks", auth: "Invite " + code}); w.Code != 404 {
		t.Errorf("without SandboxStacks the route exists: %d", w.Code)
	}
}

// TestSandboxRegistrationTopic: POST /_sandbox/sns/registration hands an
// SNS Notification's body to the inbox, refuses anything else, and answers
// the inbox's refusal as a client error.
func TestSandboxRegistrationTopic(t *testing.T) {
	inbox := &fakeInbox{}
	e := newEnv(t, func(c *Config) { c.RegistrationInbox = inbox })
	post := func(msgType, body string) *http.Request {
		r, _ := http.NewRequest("POST", "/_sandbox/sns/registration", strings.NewReader(body))
		if msgType != "" {
			r.Header.Set("X-Amz-Sns-Message-Type", msgType)
		}
		r.Header.Set("Content-Type", "text/plain; charset=UTF-8")
		return r
	}
	w := e.serve(post("Notification", `{"Type":"Notification","Message":"{}"}`))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"delivered":true`) || len(inbox.got) != 1 || inbox.got[0] != `{"Type":"Notification","Message":"{}"}` {
		t.Fatalf("notification: %d %s, inbox %q", w.Code, w.Body, inbox.got)
	}
	for _, msgType := range []string{"", "SubscriptionConfirmation"} {
		w := e.serve(post(msgType, `{}`))
		wantAPIError(t, w, 400, CodeInvalidParameter, "x-amz-sns-message-type")
	}
	inbox.err = &onboarding.Error{Code: "INVALID_REQUEST", Message: "no such stack request"}
	w = e.serve(post("Notification", `{}`))
	wantAPIError(t, w, 400, "INVALID_REQUEST", "")
	inbox.err = &onboarding.Error{Code: onboarding.CodeAnswerNotSent, Message: "answer to bucket.test: HTTP 503"}
	w = e.serve(post("Notification", `{}`))
	wantAPIError(t, w, 502, onboarding.CodeAnswerNotSent, "")
	inbox.err = errors.New("topic down")
	w = e.serve(post("Notification", `{}`))
	wantAPIError(t, w, 500, CodeInternal, "")
	if len(inbox.got) != 4 {
		t.Errorf("the inbox got %d envelopes, want 4 (refused message types never reach it)", len(inbox.got))
	}
}

// noRoleName is a setup that names no role: the sandbox has none to offer.
type noRoleName struct{ fakeSetup }

func (n noRoleName) Guide(t tenant.Tenant) (Guide, error) {
	g, err := n.fakeSetup.Guide(t)
	g.RoleName = ""
	return g, err
}
