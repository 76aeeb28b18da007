package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/tenant"
)

// sandboxCloudFormation plays CloudFormation for the form's "Launch the
// stack in a sandbox account" button: it creates the stack's role in the
// sandbox STS, publishes the stack's Custom::RoleCallRegistration Create to
// the sandbox registration topic (the register handler) with a ResponseURL
// of its own response bucket, and reads the answer from there.
type sandboxCloudFormation struct {
	roles httpapi.Sandbox
	regs  interface { // *onboarding.Registrations
		CreateToken(ctx context.Context, tenantID string, ttl time.Duration) (string, registration.Token, error)
		RevokeToken(ctx context.Context, tenantID, tokenID string) (registration.Token, error)
	}
	inbox   *register.Handler
	region  string
	topic   string
	bucket  *responseBucket
	baseURL string // http://127.0.0.1:PORT of the bucket
	srv     *http.Server
}

var _ httpapi.SandboxStacks = (*sandboxCloudFormation)(nil)

// responseBucket records the answers PUT to the paths of launches in
// progress. A PUT to any other path is a 404 and keeps nothing, so what it
// holds is bounded by the launches under way.
type responseBucket struct {
	mu      sync.Mutex
	answers map[string][]byte // by path; nil until answered
}

func (b *responseBucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "PUT only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, register.MaxResponseBody))
	if err != nil {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, expected := b.answers[r.URL.Path]; !expected {
		http.NotFound(w, r)
		return
	}
	b.answers[r.URL.Path] = body
}

// expect makes path take an answer, until take.
func (b *responseBucket) expect(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answers[path] = nil
}

// take returns the answer PUT to path, if any, and stops expecting one.
func (b *responseBucket) take(path string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.answers[path]
	delete(b.answers, path)
	return a, a != nil
}

// startSandboxCloudFormation listens on a loopback port of its own for the
// answers.
func startSandboxCloudFormation(roles httpapi.Sandbox, s *Stack, inbox *register.Handler, region string) (*sandboxCloudFormation, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the sandbox response bucket: %w", err)
	}
	c := &sandboxCloudFormation{
		roles: roles, regs: s.Registrations, inbox: inbox, region: region,
		topic:   "arn:aws:sns:" + region + ":" + s.PartnerAccountID + ":rolecall-sandbox-registration",
		bucket:  &responseBucket{answers: map[string][]byte{}},
		baseURL: "http://" + ln.Addr().String(),
	}
	// The bucket is a loopback listener like serve's others: a page of
	// another site reached through DNS rebinding is refused by its Host.
	c.srv = &http.Server{Handler: s.opts.hostGuard(c.bucket), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *sandboxCloudFormation) shutdown(ctx context.Context) error { return c.srv.Shutdown(ctx) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuidLike() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// LaunchStack implements httpapi.SandboxStacks.
func (c *sandboxCloudFormation) LaunchStack(ctx context.Context, t tenant.Tenant, accountID, roleARN string, trustPolicy []byte) (httpapi.StackAnswer, error) {
	if err := c.roles.PutRole(roleARN, trustPolicy); err != nil {
		return httpapi.StackAnswer{}, err
	}
	// The partner gives the stack a registration token; the sandbox mints
	// a short-lived one per launch, and revokes it once the launch is
	// answered (a sandbox stack is never updated or deleted), so pressing
	// the button again and again cannot use up the tenant's live tokens,
	// which the partner's own would need. A revocation that fails leaves
	// the token to expire within the hour.
	token, tok, err := c.regs.CreateToken(ctx, t.ID, registration.MinTTL)
	if err != nil {
		return httpapi.StackAnswer{}, err
	}
	defer func() { _, _ = c.regs.RevokeToken(context.WithoutCancel(ctx), t.ID, tok.ID) }()
	stackID := "arn:aws:cloudformation:" + c.region + ":" + accountID + ":stack/rolecall-customer-role/" + uuidLike()
	requestID := uuidLike()
	path := "/responses/" + randomHex(16) // unguessable: only this launch writes it
	req := map[string]any{
		"RequestType": "Create", "ServiceToken": c.topic, "ResponseURL": c.baseURL + path,
		"StackId": stackID, "RequestId": requestID, "LogicalResourceId": "Registration",
		"ResourceType":       register.ResourceType,
		"ResourceProperties": map[string]any{"ServiceToken": c.topic, "RoleArn": roleARN, "RegistrationToken": token},
	}
	msg, _ := json.Marshal(req) // strings only: always marshals
	env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": uuidLike(), "TopicArn": c.topic,
		"Subject": "AWS CloudFormation custom resource request", "Message": string(msg)})
	c.bucket.expect(path)
	if err := c.inbox.Notify(ctx, env); err != nil {
		c.bucket.take(path)
		return httpapi.StackAnswer{}, fmt.Errorf("sandbox stack %s: %w", stackID, err)
	}
	body, ok := c.bucket.take(path)
	if !ok {
		return httpapi.StackAnswer{}, errors.New("sandbox stack: the registration was not answered")
	}
	var a struct {
		Status             string            `json:"Status"`
		Reason             string            `json:"Reason"`
		PhysicalResourceID string            `json:"PhysicalResourceId"`
		Data               map[string]string `json:"Data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return httpapi.StackAnswer{}, fmt.Errorf("sandbox stack: the answer is not JSON: %w", err)
	}
	return httpapi.StackAnswer{StackID: stackID, Status: a.Status, Reason: a.Reason, PhysicalResourceID: a.PhysicalResourceID, Data: a.Data}, nil
}
