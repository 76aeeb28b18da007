package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// cfnBucket plays CloudFormation's response bucket: it records each PUT.
type cfnBucket struct {
	mu  sync.Mutex
	got []cfnPut
}

// cfnPut is one answer the bucket took, with the Content-Type it came with
// (CloudFormation signs its presigned response URLs without one).
type cfnPut struct {
	answer      map[string]any
	contentType string
}

func (b *cfnBucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	if r.Method != http.MethodPut {
		m = map[string]any{"unexpected method": r.Method}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, cfnPut{answer: m, contentType: r.Header.Get("Content-Type")})
}

// puts are the answers taken so far, oldest first.
func (b *cfnBucket) puts() []cfnPut {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// last is the latest answer; the test fails when there is none.
func (b *cfnBucket) last(t *testing.T) map[string]any {
	t.Helper()
	puts := b.puts()
	if len(puts) == 0 {
		t.Fatal("CloudFormation got no answer")
	}
	return puts[len(puts)-1].answer
}

// notify posts what an SNS HTTP subscription of the registration topic
// receives, with the custom-resource request as its Message.
func (c client) notify(req map[string]any, msgType string) response {
	c.t.Helper()
	m, _ := json.Marshal(req)
	env, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": randomID("m-"), "TopicArn": "arn:aws:sns:us-east-1:123456789012:rolecall-local-registration", "Message": string(m)})
	hr, _ := http.NewRequest("POST", c.base+"/_sandbox/sns/registration", bytes.NewReader(env))
	hr.Header.Set("Content-Type", "text/plain; charset=UTF-8") // what SNS sends
	if msgType != "" {
		hr.Header.Set("x-amz-sns-message-type", msgType)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b}
}

// cfnStackUID is the ID of the customer's stack that sends every request:
// one stack creates and deletes the resource.
const cfnStackUID = "5e8f0c2a-1b3d-4c6e-9f70-8a1b2c3d4e5f"

func cfnRequest(requestType, requestID, physicalID, responseURL, account, roleARN, token string) map[string]any {
	r := map[string]any{
		"RequestType": requestType, "RequestId": requestID, "ResponseURL": responseURL,
		"ResourceType": "Custom::RoleCallRegistration", "LogicalResourceId": "Registration",
		"StackId":            "arn:aws:cloudformation:us-east-1:" + account + ":stack/rolecall-customer-role/" + cfnStackUID,
		"ResourceProperties": map[string]any{"ServiceToken": "arn:aws:sns:us-east-1:123456789012:rolecall-local-registration", "RoleArn": roleARN, "RegistrationToken": token},
	}
	if physicalID != "" {
		r["PhysicalResourceId"] = physicalID
	}
	return r
}

// sandboxRegistration runs the registration flow of a customer's stack
// through serve: a sandbox role from the tenant's template, CloudFormation's
// Create through the sandbox topic, the answer to a local bucket, and the
// stack's deletion.
// It runs in the end-to-end suite, on every store.
func sandboxRegistration(t *testing.T, c client) {
	bucket, srv := answerBucket(t)

	tn := c.newSandboxTenant("reg-")
	tenantID, auth, view, acct, role := tn.id, tn.auth, tn.view, tn.account, tn.role
	token := c.registrationToken(tenantID)
	c.putRole(role, view.Sandbox.TrustPolicy)

	// Create: VERIFIED before the answer, nothing pasted.
	c.must(c.notify(cfnRequest("Create", "req-create", "", srv.URL+"/cfn/create", acct, role, token), "Notification"), 200)
	got := bucket.last(t)
	data, _ := got["Data"].(map[string]any)
	if got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != tenantID+"/"+acct || data["Status"] != "VERIFIED" || got["RequestId"] != "req-create" {
		t.Fatalf("answer = %v", got)
	}
	if ct := bucket.puts()[0].contentType; ct != "" {
		t.Errorf("Content-Type %q, want empty", ct)
	}
	if conn := c.connection(auth, acct); conn.Status != connection.Verified || conn.RoleARN != role {
		t.Fatalf("connection = %+v", conn)
	}

	// The same delivery again: the same answer, no new event. The events
	// reach the bus through the change feed after the answer, so the count
	// is taken once both have.
	c.waitEvents(tenantID, acct, "Role Submitted", "Role Verified")
	before := len(c.eventsOf(tenantID, acct))
	c.must(c.notify(cfnRequest("Create", "req-create", "", srv.URL+"/cfn/create", acct, role, token), "Notification"), 200)
	if again := bucket.last(t); again["PhysicalResourceId"] != got["PhysicalResourceId"] || again["Status"] != "SUCCESS" {
		t.Fatalf("redelivery answered %v", again)
	}
	if n := len(c.eventsOf(tenantID, acct)); n != before {
		t.Fatalf("redelivery added events: %d -> %d", before, n)
	}

	// Refused before anything happens: answered by no one.
	n := len(bucket.puts())
	hostile := []struct {
		name    string
		req     map[string]any
		msgType string
	}{
		{"not a notification", cfnRequest("Create", "r1", "", srv.URL+"/x", acct, role, token), "SubscriptionConfirmation"},
		{"no message type", cfnRequest("Create", "r2", "", srv.URL+"/x", acct, role, token), ""},
		{"another loopback address", cfnRequest("Create", "r3", "", strings.Replace(srv.URL, "127.0.0.1", "127.0.0.2", 1)+"/x", acct, role, token), "Notification"},
		{"localhost by name", cfnRequest("Create", "r4", "", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/x", acct, role, token), "Notification"},
		{"look-alike S3 host", cfnRequest("Create", "r5", "", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/x", acct, role, token), "Notification"},
	}
	for _, h := range hostile {
		if r := c.notify(h.req, h.msgType); r.status != 400 {
			t.Errorf("%s: %d %s, want 400", h.name, r.status, r.body)
		}
	}
	if len(bucket.puts()) != n {
		t.Fatalf("refused requests were answered")
	}

	// A stack in another account, and a wrong token: FAILED with the reason.
	c.must(c.notify(cfnRequest("Create", "r6", "", srv.URL+"/cfn/r6", "999999999999", role, token), "Notification"), 200)
	if a := bucket.last(t); a["Status"] != "FAILED" || !strings.HasPrefix(a["Reason"].(string), "STACK_ACCOUNT_MISMATCH") {
		t.Fatalf("other account: %v", a)
	}
	c.must(c.notify(cfnRequest("Create", "r7", "", srv.URL+"/cfn/r7", acct, role, "rcr_"+strings.Repeat("A", 43)), "Notification"), 200)
	if a := bucket.last(t); a["Status"] != "FAILED" || !strings.HasPrefix(a["Reason"].(string), "INVALID_REGISTRATION_TOKEN") {
		t.Fatalf("wrong token: %v", a)
	}

	// Delete: disconnected, SUCCESS.
	c.must(c.notify(cfnRequest("Delete", "req-delete", tenantID+"/"+acct, srv.URL+"/cfn/delete", acct, role, token), "Notification"), 200)
	if a := bucket.last(t); a["Status"] != "SUCCESS" || a["PhysicalResourceId"] != tenantID+"/"+acct {
		t.Fatalf("delete answered %v", a)
	}
	conn := c.connection(auth, acct)
	if conn.Status != connection.Disconnected || conn.Reason.Code != "STACK_DELETED" {
		t.Fatalf("after delete: %+v", conn)
	}
	c.waitEvents(tenantID, acct, "Role Submitted", "Role Verified", "Role Disconnected")
}

// A role that does not enforce the external ID fails the stack with the
// hint, and the rollback's Delete disconnects it.
func TestSandboxRegistrationFails(t *testing.T) {
	s := start(t, testOptions(t, &syncbuf.Buffer{}))
	c := newClient(t, s)
	bucket, srv := answerBucket(t)
	tn := c.newSandboxTenant("regf-")
	tenantID, auth, view, acct, role := tn.id, tn.auth, tn.view, tn.account, tn.role
	token := c.registrationToken(tenantID)
	c.putRole(role, policyWithoutExternalID(view.TrustedPrincipalARN))

	c.must(c.notify(cfnRequest("Create", "c1", "", srv.URL+"/cfn/c1", acct, role, token), "Notification"), 200)
	a := bucket.last(t)
	if a["Status"] != "FAILED" || !strings.HasPrefix(a["Reason"].(string), "EXTERNAL_ID_NOT_ENFORCED: ") || a["PhysicalResourceId"] != tenantID+"/"+acct {
		t.Fatalf("answer = %v", a)
	}
	c.must(c.notify(cfnRequest("Delete", "c2", tenantID+"/"+acct, srv.URL+"/cfn/c2", acct, role, token), "Notification"), 200)
	if conn := c.connection(auth, acct); conn.Status != connection.Disconnected {
		t.Fatalf("after rollback: %+v", conn)
	}
}

// The form's sandbox stack button, through its API: the role from the
// tenant's template and the stack's self-registration, with nothing pasted.
func TestSandboxLaunchStack(t *testing.T) {
	s := start(t, testOptions(t, &syncbuf.Buffer{}))
	c := newClient(t, s)
	tenantID := randomID("stack-")
	auth, view := c.tenantWithInvite(tenantID)
	var out struct {
		Stack struct {
			StackID            string            `json:"stackId"`
			Status             string            `json:"status"`
			Reason             string            `json:"reason"`
			PhysicalResourceID string            `json:"physicalResourceId"`
			Data               map[string]string `json:"data"`
		} `json:"stack"`
		Connection *connection.Connection `json:"connection"`
	}
	c.must(c.do("POST", "/_sandbox/stacks", auth, nil), 200).decode(t, &out)
	if out.Stack.Status != "SUCCESS" || out.Stack.Data["Status"] != "VERIFIED" || out.Stack.PhysicalResourceID != tenantID+"/"+view.Sandbox.AccountID ||
		!strings.Contains(out.Stack.StackID, ":"+view.Sandbox.AccountID+":stack/") {
		t.Fatalf("stack = %+v", out.Stack)
	}
	if out.Connection == nil || out.Connection.Status != connection.Verified || out.Connection.RoleARN != view.Sandbox.RoleARN {
		t.Fatalf("connection = %+v", out.Connection)
	}
	// Without an invite: refused.
	if r := c.do("POST", "/_sandbox/stacks", "", nil); r.status != 401 {
		t.Fatalf("no invite: %d %s", r.status, r.body)
	}
	// The launch's token served the launch only: pressing the button
	// leaves the tenant no live token that would count against the
	// partner's own.
	var tokens struct {
		Tokens []struct {
			Revoked bool `json:"revoked"`
		} `json:"tokens"`
	}
	c.must(c.opsDo("GET", "/v1/tenants/"+tenantID+"/registration-tokens", nil), 200).decode(t, &tokens)
	if len(tokens.Tokens) != 1 || !tokens.Tokens[0].Revoked {
		t.Fatalf("tokens after a launch: %+v, want the launch's, revoked", tokens.Tokens)
	}
}

// answerBucket serves a bucket that takes CloudFormation's answers, until
// the test ends.
func answerBucket(t *testing.T) (*cfnBucket, *httptest.Server) {
	bucket := &cfnBucket{}
	srv := httptest.NewServer(bucket)
	t.Cleanup(srv.Close)
	return bucket, srv
}

// registrationToken issues a registration token of the tenant through the
// ops API and returns its secret.
func (c client) registrationToken(tenantID string) string {
	c.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	c.must(c.opsDo("POST", "/v1/tenants/"+tenantID+"/registration-tokens", nil), 201).decode(c.t, &tok)
	return tok.Token
}
