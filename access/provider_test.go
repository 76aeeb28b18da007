package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

const (
	partnerAccount = "111122223333"
	accessRoleARN  = "arn:aws:iam::" + partnerAccount + ":role/rolecall-dev-access"
	workloadRole   = "arn:aws:iam::" + partnerAccount + ":role/billing-backend"
	workloadKey    = "AKIAWORKLOAD00000001"
)

// world is a partner account (a workload principal and the access role),
// customer accounts with roles trusting the access role, and RoleCall's API.
type world struct {
	sts    *awsfake.ChainSTS
	api    *fakeAPI
	cfg    aws.Config
	client *Client
	clock  *testclock.Clock
}

func customerRole(acct string) string { return "arn:aws:iam::" + acct + ":role/RoleCall-3f2a9c1d" }

func newWorld(t testing.TB, accounts ...string) *world {
	t.Helper()
	w := &world{sts: awsfake.NewChainSTS(), api: &fakeAPI{token: "ops-token", conns: map[Ref]Connection{}, reasons: map[Ref]Reason{}},
		clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	w.sts.AddPrincipal(workloadKey, workloadRole)
	w.sts.AddRole(accessRoleARN, workloadRole, "")
	for _, a := range accounts {
		ext := "rc-ext-" + a
		w.sts.AddRole(customerRole(a), accessRoleARN, ext)
		ref := Ref{TenantID: "acme", AccountID: a}
		w.api.conns[ref] = Connection{TenantID: "acme", AccountID: a, RoleARN: customerRole(a), ExternalID: ext,
			AccessRoleARN: accessRoleARN, Partition: "aws", Status: "VERIFIED", VerifiedAt: w.clock.Now()}
	}
	stsSrv := httptest.NewServer(w.sts)
	apiSrv := httptest.NewServer(w.api)
	t.Cleanup(stsSrv.Close)
	t.Cleanup(apiSrv.Close)
	w.cfg = aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(stsSrv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
	w.client = New(w.cfg, &API{BaseURL: apiSrv.URL, Auth: BearerToken("ops-token")},
		Options{Workload: "billing", Now: w.clock.Now})
	return w
}

func TestCredentialsChainThroughTheAccessRole(t *testing.T) {
	w := newWorld(t, "444455556666")
	ctx := context.Background()
	out, err := sts.NewFromConfig(w.client.Config("acme", "444455556666")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:sts::444455556666:assumed-role/RoleCall-3f2a9c1d/billing-acme"; got != want {
		t.Errorf("identity %s, want %s", got, want)
	}
	if got := aws.ToString(out.Account); got != "444455556666" {
		t.Errorf("account %s", got)
	}
	// The customer role was assumed by the access role's session, never
	// by the workload itself.
	callers := w.sts.Callers(customerRole("444455556666"))
	if len(callers) != 1 || callers[0] != "arn:aws:sts::"+partnerAccount+":assumed-role/rolecall-dev-access/billing" {
		t.Errorf("customer role assumed by %v", callers)
	}
	if got := w.sts.Callers(accessRoleARN); len(got) != 1 || got[0] != workloadRole {
		t.Errorf("access role assumed by %v", got)
	}
	for _, c := range w.sts.Requests() {
		if c.Get("RoleArn") == customerRole("444455556666") {
			if c.Get("ExternalId") != "rc-ext-444455556666" || c.Get("DurationSeconds") != "3600" {
				t.Errorf("customer AssumeRole %v", c)
			}
		}
	}
}

// TestSessionsAreCachedPerConnection: many uses of three connections cost
// one access-role session and one session per customer role.
func TestSessionsAreCachedPerConnection(t *testing.T) {
	accounts := []string{"444455556666", "555566667777", "666677778888"}
	w := newWorld(t, accounts...)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 5 {
		for _, a := range accounts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.client.Credentials("acme", a).Retrieve(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := w.sts.Assumed(accessRoleARN); n != 1 {
		t.Errorf("access role assumed %d times, want 1", n)
	}
	for _, a := range accounts {
		if n := w.sts.Assumed(customerRole(a)); n != 1 {
			t.Errorf("%s assumed %d times, want 1", a, n)
		}
		if w.client.Credentials("acme", a) != w.client.Credentials("acme", a) {
			t.Error("the same connection got two providers")
		}
	}
}

// TestSessionsAreRenewedBeforeTheyExpire: a session within the shortest
// jittered window of its expiry (2.5 minutes) is replaced; one further
// away than ExpiryWindow is reused.
func TestSessionsAreRenewedBeforeTheyExpire(t *testing.T) {
	tests := []struct {
		name      string
		lifetime  time.Duration
		wantCalls int
	}{
		{"an hour: reused", time.Hour, 1},
		{"ten minutes: reused", 10 * time.Minute, 1},
		{"two minutes, inside every window: renewed", 2 * time.Minute, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "444455556666")
			w.sts.SetExpiry(tt.lifetime)
			p := w.client.Credentials("acme", "444455556666")
			for range 3 {
				if _, err := p.Retrieve(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if n := w.sts.Assumed(customerRole("444455556666")); n != tt.wantCalls {
				t.Errorf("customer role assumed %d times, want %d", n, tt.wantCalls)
			}
			if n := w.sts.Assumed(accessRoleARN); n != tt.wantCalls {
				t.Errorf("access role assumed %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestNotVerifiedConnectionsAreRefused(t *testing.T) {
	for _, status := range []string{"PENDING", "FAILED", "ACCESS_LOST", "DISCONNECTED"} {
		t.Run(status, func(t *testing.T) {
			w := newWorld(t, "444455556666")
			ref := Ref{TenantID: "acme", AccountID: "444455556666"}
			w.api.setStatus(ref, status, Reason{Code: "ASSUME_DENIED", Message: "the role could not be assumed"})
			_, err := w.client.Credentials("acme", "444455556666").Retrieve(context.Background())
			var nv *NotVerifiedError
			if !errors.As(err, &nv) {
				t.Fatalf("error %v, want a *NotVerifiedError", err)
			}
			if nv.Status != status || nv.Reason.Code != "ASSUME_DENIED" || nv.TenantID != "acme" || nv.AccountID != "444455556666" {
				t.Errorf("refusal %+v", nv)
			}
			if !strings.Contains(err.Error(), status) || strings.Contains(err.Error(), "rc-ext-") {
				t.Errorf("message %q", err)
			}
			if len(w.sts.Requests()) != 0 {
				t.Errorf("%d STS calls for a refused connection", len(w.sts.Requests()))
			}
		})
	}
}

// TestAccessDeniedAsksForARecheck: the customer's role refusing the
// session asks RoleCall to re-check the connection, at most once per
// RecheckEvery.
func TestAccessDeniedAsksForARecheck(t *testing.T) {
	w := newWorld(t, "444455556666")
	w.sts.DeleteRole(customerRole("444455556666"))
	p := w.client.Credentials("acme", "444455556666")
	steps := []struct {
		advance     time.Duration
		wantRecheck bool
	}{{0, true}, {time.Minute, false}, {3 * time.Minute, false}, {time.Minute, true}, {0, false}}
	for i, s := range steps {
		w.clock.Advance(s.advance)
		_, err := p.Retrieve(context.Background())
		var denied *AccessDeniedError
		if !errors.As(err, &denied) {
			t.Fatalf("step %d: error %v, want an *AccessDeniedError", i, err)
		}
		if denied.RecheckRequested != s.wantRecheck || denied.RecheckErr != nil {
			t.Errorf("step %d: recheck requested %v (%v), want %v", i, denied.RecheckRequested, denied.RecheckErr, s.wantRecheck)
		}
	}
	if got := w.api.checked(); len(got) != 2 || got[0] != (Ref{"acme", "444455556666"}) {
		t.Errorf("re-checks requested %v, want 2 of acme/444455556666", got)
	}
}

// TestAccessRoleRefusalIsNotBlamedOnTheCustomer: a workload the access
// role does not trust gets an error naming the access role, and no
// re-check of the customer's connection.
func TestAccessRoleRefusalIsNotBlamedOnTheCustomer(t *testing.T) {
	w := newWorld(t, "444455556666")
	w.sts.AddRole(accessRoleARN, "arn:aws:iam::"+partnerAccount+":role/someone-else", "")
	_, err := w.client.Credentials("acme", "444455556666").Retrieve(context.Background())
	var denied *AccessDeniedError
	if err == nil || errors.As(err, &denied) || !strings.Contains(err.Error(), "WorkloadPrincipalArns") {
		t.Errorf("error %v", err)
	}
	if got := w.api.checked(); len(got) != 0 {
		t.Errorf("re-checks %v", got)
	}
}

func TestAPIErrors(t *testing.T) {
	w := newWorld(t, "444455556666")
	ctx := context.Background()
	_, err := w.client.Credentials("acme", "999999999999").Retrieve(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || ae.Code != "NOT_FOUND" {
		t.Errorf("unknown connection: %v", err)
	}
	bad := &API{BaseURL: strings.TrimSuffix(w.client.api.BaseURL, "/") + "/", Auth: BearerToken("wrong")}
	if _, err := bad.Connection(ctx, "acme", "444455556666"); !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := (&API{}).Connection(ctx, "acme", "444455556666"); err == nil {
		t.Error("no base URL accepted")
	}
}

func TestSessionName(t *testing.T) {
	tests := map[string]string{
		"billing-acme":          "billing-acme",
		"billing acme/eu":       "billing-acme-eu",
		"x":                     "x-",
		"":                      "--",
		strings.Repeat("a", 80): strings.Repeat("a", 64),
		"ok+=,.@_-":             "ok+=,.@_-",
	}
	for in, want := range tests {
		if got := SessionName(in); got != want {
			t.Errorf("SessionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSigV4SignsForExecuteAPI(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	api := &API{BaseURL: srv.URL, Auth: SigV4{Credentials: credentials.NewStaticCredentialsProvider("AKIAOPS0000000000001", "s", ""), Region: "eu-west-1"}}
	if err := api.RequestCheck(context.Background(), "acme", "444455556666"); err != nil {
		t.Fatal(err)
	}
	auth := got.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIAOPS0000000000001/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization %q", auth)
	}
	if got.Header.Get("X-Amz-Content-Sha256") == "" && got.Header.Get("X-Amz-Date") == "" {
		t.Error("no SigV4 date header")
	}
}

// TestSigV4SignsWithTheSecretItIsGiven: each signature is made from the
// credentials passed in, never from a key derived earlier for the same
// access key ID (a signer shared across requests caches that key by ID):
// after signing with one secret, a request signed with another under the
// same ID carries exactly the signature a fresh signer makes from it.
func TestSigV4SignsWithTheSecretItIsGiven(t *testing.T) {
	const url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tenants"
	sign := func(secret string) *http.Request {
		t.Helper()
		r, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := SigV4{Credentials: credentials.NewStaticCredentialsProvider("AKIAOPS0000000000001", secret, ""), Region: "eu-west-1"}
		if err := s.Authorize(context.Background(), r, nil); err != nil {
			t.Fatal(err)
		}
		return r
	}
	sign("first-secret")
	got := sign("second-secret")
	at, err := time.Parse("20060102T150405Z", got.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := http.NewRequest(http.MethodGet, url, nil)
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: "AKIAOPS0000000000001", SecretAccessKey: "second-secret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, want, hex.EncodeToString(sum[:]), SigV4Service, "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
	if g, w := got.Header.Get("Authorization"), want.Header.Get("Authorization"); g != w {
		t.Errorf("signed with the second secret:\n got %s\nwant %s", g, w)
	}
}

// TestThroughAccessRoleAssumesItOncePerSession: the verifier's client
// chains every call through one cached access-role session.
func TestThroughAccessRoleAssumesItOncePerSession(t *testing.T) {
	w := newWorld(t, "444455556666", "555566667777")
	client := sts.NewFromConfig(ThroughAccessRole(w.cfg, accessRoleARN, "rolecall-verifier"))
	ctx := context.Background()
	for i := range 20 {
		acct := []string{"444455556666", "555566667777"}[i%2]
		out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(customerRole(acct)), RoleSessionName: aws.String("rolecall-check"),
			ExternalId: aws.String("rc-ext-" + acct), DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::"+acct+":assumed-role/") {
			t.Errorf("assumed %s", aws.ToString(out.AssumedRoleUser.Arn))
		}
	}
	if n := w.sts.Assumed(accessRoleARN); n != 1 {
		t.Errorf("access role assumed %d times for 20 checks, want 1", n)
	}
	if got := w.sts.Callers(customerRole("444455556666"))[0]; got != "arn:aws:sts::"+partnerAccount+":assumed-role/rolecall-dev-access/rolecall-verifier" {
		t.Errorf("customer role assumed by %s", got)
	}
}

// TestAccessRoleFailureIsNotTheCustomers: when the access role itself
// refuses, the verifier's classifier sees a transient failure (the
// partner's configuration), never a customer role's AccessDenied.
func TestAccessRoleFailureIsNotTheCustomers(t *testing.T) {
	w := newWorld(t, "444455556666")
	w.sts.AddRole(accessRoleARN, "arn:aws:iam::"+partnerAccount+":role/someone-else", "")
	client := sts.NewFromConfig(ThroughAccessRole(w.cfg, accessRoleARN, "rolecall-verifier"))
	_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(customerRole("444455556666")),
		RoleSessionName: aws.String("rolecall-check"), ExternalId: aws.String("rc-ext-444455556666")})
	if !errors.Is(err, ErrAccessRole) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("error %v", err)
	}
	if c := probe.Classify(err); !errors.Is(c, probe.ErrTransient) {
		t.Errorf("classified %v, want transient", c)
	}
	if w.sts.Assumed(customerRole("444455556666")) != 0 {
		t.Error("the customer role was called")
	}
}

// TestSessionDurationIsOneSTSAccepts: Options.Duration is taken within
// STS's bounds for a chained session (15 minutes to one hour), so every
// refresh is accepted; the fake STS refuses any other DurationSeconds as
// STS does.
func TestSessionDurationIsOneSTSAccepts(t *testing.T) {
	tests := []struct {
		name     string
		duration time.Duration
		want     string // DurationSeconds sent
	}{
		{"unset: one hour", 0, "3600"},
		{"negative: one hour", -time.Minute, "3600"},
		{"one minute: the minimum", time.Minute, "900"},
		{"a second under the minimum", 899 * time.Second, "900"},
		{"the minimum", 15 * time.Minute, "900"},
		{"half an hour", 30 * time.Minute, "1800"},
		{"one hour", time.Hour, "3600"},
		{"two hours: the chained maximum", 2 * time.Hour, "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "444455556666")
			c := New(w.cfg, w.client.api, Options{Workload: "billing", Duration: tt.duration, Now: w.clock.Now})
			if _, err := c.Credentials("acme", "444455556666").Retrieve(context.Background()); err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			var sent []string
			for _, r := range w.sts.Requests() {
				if r.Get("RoleArn") == customerRole("444455556666") {
					sent = append(sent, r.Get("DurationSeconds"))
				}
			}
			if len(sent) != 1 || sent[0] != tt.want {
				t.Errorf("DurationSeconds sent %v, want [%s]", sent, tt.want)
			}
		})
	}
}

// TestAccessDeniedRecheckAnswers: RoleCall answering that a re-check is
// already requested (CHECK_TOO_SOON, as it answers every process after the
// first in its window) is no failure of the report; any other refusal is.
func TestAccessDeniedRecheckAnswers(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantRecheck bool
		wantErr     bool
	}{
		{"queued", 0, "", true, false},
		{"already requested", http.StatusTooManyRequests,
			`{"error":{"code":"CHECK_TOO_SOON","message":"a check was already requested","field":"accountId"}}`, false, false},
		{"another 429", http.StatusTooManyRequests, `{"error":{"code":"RATE_LIMITED","message":"slow down"}}`, false, true},
		{"disconnected", http.StatusConflict, `{"error":{"code":"CONNECTION_DISCONNECTED","message":"disconnected","field":"accountId"}}`, false, true},
		{"server error", http.StatusInternalServerError, `{"error":{"code":"INTERNAL","message":"oops"}}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "444455556666")
			w.api.checkStatus, w.api.checkBody = tt.status, tt.body
			w.sts.DeleteRole(customerRole("444455556666"))
			_, err := w.client.Credentials("acme", "444455556666").Retrieve(context.Background())
			var denied *AccessDeniedError
			if !errors.As(err, &denied) {
				t.Fatalf("error %v, want an *AccessDeniedError", err)
			}
			if denied.RecheckRequested != tt.wantRecheck || (denied.RecheckErr != nil) != tt.wantErr {
				t.Errorf("recheck requested %v (%v), want %v, error %v", denied.RecheckRequested, denied.RecheckErr, tt.wantRecheck, tt.wantErr)
			}
			if n := len(w.api.checked()); n != 1 {
				t.Errorf("%d re-check requests, want 1", n)
			}
		})
	}
}

// TestSigV4RegionDefaultsToTheExecuteAPIHosts: without a Region, SigV4
// signs for the Region an API Gateway invoke host names (public or
// private, in any partition), which is the API's whatever the workload's
// configuration says; a Region given is used as it is; a host that names
// none (a custom domain) is refused before anything is sent.
func TestSigV4RegionDefaultsToTheExecuteAPIHosts(t *testing.T) {
	tests := []struct {
		name, url, region string
		want              string // the signature's Region, or "" for a refusal
	}{
		{"public", "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tenants", "", "eu-west-1"},
		{"upper case, root dot", "https://ABC123.Execute-API.eu-west-1.AmazonAWS.com./v1/tenants", "", "eu-west-1"},
		{"aws-cn", "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/v1/tenants", "", "cn-north-1"},
		{"aws-us-gov", "https://abc123.execute-api.us-gov-west-1.amazonaws.com/v1/tenants", "", "us-gov-west-1"},
		{"private", "https://abc123-vpce-0123456789abcdef0.execute-api.ap-south-1.vpce.amazonaws.com/v1/tenants", "", "ap-south-1"},
		{"with a port", "https://abc123.execute-api.eu-west-1.amazonaws.com:443/v1/tenants", "", "eu-west-1"},
		{"Region given", "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tenants", "eu-central-1", "eu-central-1"},
		{"custom domain, Region given", "https://rolecall.example.com/v1/tenants", "eu-west-1", "eu-west-1"},
		{"custom domain", "https://rolecall.example.com/v1/tenants", "", ""},
		{"look-alike domain", "https://abc123.execute-api.eu-west-1.amazonaws.com.example.com/v1/tenants", "", ""},
		{"no API ID", "https://execute-api.eu-west-1.amazonaws.com/v1/tenants", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := SigV4{Credentials: credentials.NewStaticCredentialsProvider("AKIAOPS0000000000001", "s", ""), Region: tt.region}
			err = s.Authorize(context.Background(), r, nil)
			auth := r.Header.Get("Authorization")
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "SigV4.Region") || auth != "" {
					t.Errorf("error %v, Authorization %q; want a refusal naming SigV4.Region, nothing signed", err, auth)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if scope := "/" + tt.want + "/execute-api/aws4_request"; !strings.Contains(auth, scope) {
				t.Errorf("Authorization %q, want the scope %s", auth, scope)
			}
		})
	}
}
