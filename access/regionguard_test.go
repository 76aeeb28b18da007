package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// stsLedger serves h and counts, by the Region of their signature, the
// requests it gets and the AssumeRole calls of one role among them.
type stsLedger struct {
	h    http.Handler
	role string

	mu       sync.Mutex
	requests map[string]int
	assumed  map[string]int
}

func (l *stsLedger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	region := ""
	if _, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if f := strings.Split(scope, "/"); len(f) > 2 {
			region = f[2]
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // the sandbox checks the signature of the body
	form, _ := url.ParseQuery(string(body))
	l.mu.Lock()
	l.requests[region]++
	if form.Get("Action") == "AssumeRole" && form.Get("RoleArn") == l.role {
		l.assumed[region]++
	}
	l.mu.Unlock()
	l.h.ServeHTTP(w, r)
}

func (l *stsLedger) counts() (requests, assumed map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return clone(l.requests), clone(l.assumed)
}

func clone(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// With StsRegions, the verifier's STS clients of every Region sign with
// the one access-role session of ThroughAccessRole. A Region the partner
// account has not enabled refuses every session (InvalidClientTokenId);
// each refusal used to drop the session, so every call there assumed the
// access role again, outside the STS budget. Now the Region is blocked for
// the session after it refused a new one too: its calls fail with a
// *RegionRefusedError (ErrAccessRole, the partner's configuration) without
// being sent, the access role is assumed no more, and the deployment's
// Region keeps the session. A new session is tried there once, and works
// once the Region is enabled.
func TestThroughAccessRoleStopsAtARegionThatRefusesItsSessions(t *testing.T) {
	const acct = "444455556666"
	w, ledger, home, far, in := optInWorld(t, acct, func(l *stsLedger) http.Handler { return l })
	ctx := context.Background()

	if _, err := home.AssumeRole(ctx, in); err != nil {
		t.Fatalf("in us-east-1: %v", err)
	}
	const calls = 10
	var last error
	for range calls {
		if _, last = far.AssumeRole(ctx, in); last == nil {
			t.Fatal("ap-east-1, not enabled in the partner account, took a call")
		}
	}
	var refused *RegionRefusedError
	if !errors.As(last, &refused) || refused.Region != "ap-east-1" || refused.Home != "us-east-1" || refused.Code != "InvalidClientTokenId" || !errors.Is(last, ErrAccessRole) {
		t.Fatalf("call in ap-east-1 = %v; want a *RegionRefusedError for ap-east-1 matching ErrAccessRole", last)
	}
	if !strings.Contains(last.Error(), "enable ap-east-1 in the partner account") {
		t.Errorf("error %q does not say what to fix", last)
	}
	requests, assumed := ledger.counts()
	// The first session refused there is dropped (it could be stale); the
	// second, new, refused too, is not.
	if assumed["us-east-1"] != 2 || requests["ap-east-1"] != 2 {
		t.Errorf("%d calls in ap-east-1: the access role was assumed %d times, ap-east-1 got %d requests; want 2 and 2",
			calls, assumed["us-east-1"], requests["ap-east-1"])
	}
	if _, err := home.AssumeRole(ctx, in); err != nil {
		t.Fatalf("in us-east-1 after: %v", err)
	}
	if _, a := ledger.counts(); a["us-east-1"] != 2 {
		t.Errorf("us-east-1 assumed the access role again (%d times in all)", a["us-east-1"])
	}

	// Enabled, the Region is tried with the next session: here the access
	// role is replaced, us-east-1 refuses the old session and gets a new one.
	w.sts.SetRegionNotEnabled(partnerAccount, "ap-east-1", false)
	w.sts.DeleteRole(accessRoleARN)
	w.putAccessRole(t)
	w.putCustomerRoles(t, acct)
	var ae smithy.APIError
	if _, err := home.AssumeRole(ctx, in); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("in us-east-1 with the old session: %v; want InvalidClientTokenId", err)
	}
	if _, err := far.AssumeRole(ctx, in); err != nil {
		t.Errorf("in ap-east-1, enabled, with a new session: %v", err)
	}
	if _, err := far.AssumeRole(ctx, in); err != nil {
		t.Errorf("in ap-east-1 again: %v", err)
	}
}

// heldRegion holds the requests signed for one Region until want of them
// have arrived, then lets them all through: calls sent side by side, each
// before any is answered, as a check's three probes are.
type heldRegion struct {
	h      http.Handler
	region string

	mu      sync.Mutex
	want    int
	waiting []chan struct{}
}

// hold makes the next n requests to the Region wait for each other.
func (h *heldRegion) hold(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.want, h.waiting = n, nil
}

func (h *heldRegion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential="); strings.Contains(scope, "/"+h.region+"/") {
		h.mu.Lock()
		var wait chan struct{}
		if h.want > 0 {
			wait = make(chan struct{})
			h.waiting = append(h.waiting, wait)
			if len(h.waiting) == h.want {
				for _, c := range h.waiting {
					close(c)
				}
				h.want, h.waiting = 0, nil
			}
		}
		h.mu.Unlock()
		if wait != nil {
			<-wait
		}
	}
	h.h.ServeHTTP(w, r)
}

// Calls sent side by side to a Region that refuses the partner's sessions
// are all refused, one after the other: the first refusal of a new session
// blocks the Region for it, and the others, of the same session, sent
// before the block, must not drop it. Dropping it assumed the access role
// again for each new session with two calls in flight there, and the next
// session was refused there again: with a check's three probes side by
// side, about every check sent to that Region.
func TestBlockedRegionsInFlightRefusalsKeepTheSession(t *testing.T) {
	const acct = "444455556666"
	var held *heldRegion
	_, ledger, home, far, in := optInWorld(t, acct, func(l *stsLedger) http.Handler {
		held = &heldRegion{h: l, region: "ap-east-1"}
		return held
	})
	ctx := context.Background()
	together := func(n int) []error {
		held.hold(n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = far.AssumeRole(ctx, in) })
		}
		wg.Wait()
		return errs
	}

	if _, err := home.AssumeRole(ctx, in); err != nil {
		t.Fatalf("in us-east-1: %v", err)
	}
	// The first session, refused by three calls at once, is dropped once;
	// the second, refused by three calls at once too, blocks the Region.
	for round := range 2 {
		for i, err := range together(3) {
			if err == nil {
				t.Fatalf("round %d, call %d in ap-east-1 succeeded", round+1, i+1)
			}
		}
	}
	var refused *RegionRefusedError
	if _, err := far.AssumeRole(ctx, in); !errors.As(err, &refused) {
		t.Fatalf("ap-east-1 after a new session was refused too: %v; want a *RegionRefusedError", err)
	}
	if _, err := home.AssumeRole(ctx, in); err != nil {
		t.Fatalf("in us-east-1 after: %v", err)
	}
	requests, assumed := ledger.counts()
	if assumed["us-east-1"] != 2 || requests["ap-east-1"] != 6 {
		t.Errorf("the access role was assumed %d times, ap-east-1 got %d requests; want 2 sessions (the one refused first, dropped once, and the one it refused too, kept) and the 6 calls sent before the block",
			assumed["us-east-1"], requests["ap-east-1"])
	}
}

// optInWorld is a sandbox in which the partner account has not enabled
// ap-east-1, served through wrap around a ledger of its requests, and STS
// clients through the access role in us-east-1 (home) and in ap-east-1
// (far), with the AssumeRole of acct's role they send.
func optInWorld(t *testing.T, acct string, wrap func(*stsLedger) http.Handler) (w accessWorld, ledger *stsLedger, home, far *sts.Client, in *sts.AssumeRoleInput) {
	t.Helper()
	w = newAccessWorld(t, acct)
	w.sts.SetRegionNotEnabled(partnerAccount, "ap-east-1", true)
	ledger = &stsLedger{h: w.sts, role: accessRoleARN, requests: map[string]int{}, assumed: map[string]int{}}
	srv := httptest.NewServer(wrap(ledger))
	t.Cleanup(srv.Close)
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
	through := ThroughAccessRole(base, accessRoleARN, "rolecall-verifier")
	optIn := through.Copy()
	optIn.Region = "ap-east-1"
	in = &sts.AssumeRoleInput{RoleArn: aws.String(customerRole(acct)), RoleSessionName: aws.String("rolecall-check"), ExternalId: aws.String("rc-ext-" + acct)}
	return w, ledger, sts.NewFromConfig(through), sts.NewFromConfig(optIn), in
}

// TestSignedWith reads the session and Region a request is signed with,
// and nothing from a request that carries no SigV4 scope.
func TestSignedWith(t *testing.T) {
	signed := func(auth string) any {
		r := smithyhttp.NewStackRequest().(*smithyhttp.Request)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	tests := []struct {
		name        string
		req         any
		key, region string
	}{
		{"signed", signed("AWS4-HMAC-SHA256 Credential=ASIASESSION0001/20261203/ap-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"), "ASIASESSION0001", "ap-east-1"},
		{"unsigned", signed(""), "", ""},
		{"a scope of other fields", signed("AWS4-HMAC-SHA256 Credential=ASIASESSION0001/20261203/sts/aws4_request, Signature=00"), "", ""},
		{"not an HTTP request", "a request", "", ""},
	}
	for _, tt := range tests {
		if key, region := signedWith(tt.req); key != tt.key || region != tt.region {
			t.Errorf("%s: %q, %q; want %q, %q", tt.name, key, region, tt.key, tt.region)
		}
	}
}

// TestGuardPassesOtherAnswersOn: an answer that is no refusal of the
// session (a customer role's AccessDenied, say) is the call's, as it came,
// and drops nothing, nor unblocks a Region; a Region's block stops only
// the session it was set for, never an unsigned call.
func TestGuardPassesOtherAnswersOn(t *testing.T) {
	retrieved := 0
	cache := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		retrieved++
		return aws.Credentials{AccessKeyID: "ASIASESSION0001", SecretAccessKey: "s", CanExpire: false}, nil
	}))
	if _, err := cache.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	// me-south-1 refuses this session for good, so that an unsigned call
	// there has a block it could wrongly meet.
	g := &regionGuard{cache: cache, home: "us-east-1", refusedIn: map[string]string{},
		blocked: map[string]blockedSession{"me-south-1": {key: "ASIASESSION0001", code: "InvalidClientTokenId"}}}
	denied := fmt.Errorf("operation error STS: AssumeRole: %w", &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"})
	for _, region := range []string{"ap-east-1", "me-south-1"} {
		if err := g.answered("ASIASESSION0001", region, denied); err != denied {
			t.Fatalf("answered in %s %v, want the call's own error", region, err)
		}
	}
	if _, err := cache.Retrieve(context.Background()); err != nil || retrieved != 1 || len(g.refusedIn) != 0 {
		t.Fatalf("an AccessDenied dropped the session (%d retrievals) or marked the Region (%v)", retrieved, g.refusedIn)
	}
	var refused *RegionRefusedError
	if err := g.refused("ASIASESSION0001", "me-south-1"); !errors.As(err, &refused) || refused.Region != "me-south-1" {
		t.Fatalf("after an AccessDenied there, the blocked session's call = %v; want the Region still blocked", err)
	}
	if err := g.refused("", "me-south-1"); err != nil {
		t.Fatalf("an unsigned call refused: %v", err)
	}
	if err := g.refused("ASIASESSION0002", "me-south-1"); err != nil {
		t.Fatalf("a call of another session refused: %v", err)
	}
}
