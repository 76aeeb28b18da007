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
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// A re-check request that fails does not hold the RecheckEvery window:
// the next denial asks again.
func TestFailedRecheckRequestIsAskedAgain(t *testing.T) {
	w := newWorld(t, failingAccount)
	w.api.checkStatus, w.api.checkBody = 500, `{"error":{"code":"INTERNAL","message":"boom"}}`
	failures()[0].breakIt(w)
	p := w.client.Credentials("acme", failingAccount)
	_, err := p.Retrieve(context.Background())
	var d *AccessDeniedError
	if !errors.As(err, &d) || d.RecheckRequested || d.RecheckErr == nil {
		t.Fatalf("first denial = %v; want an AccessDeniedError whose re-check request failed", err)
	}
	w.api.checkStatus = 0 // RoleCall answers again
	w.clock.Advance(2 * FailureBackoff)
	_, err = p.Retrieve(context.Background())
	if !errors.As(err, &d) || !d.RecheckRequested || d.RecheckErr != nil {
		t.Fatalf("second denial = %v (requested %v); want the re-check asked for", err, d.RecheckRequested)
	}
	if n := len(w.api.checked()); n != 2 {
		t.Errorf("RoleCall got %d re-check requests, want 2: the one that failed and the one asked again", n)
	}
}

// accessWorld is a sandbox STS with the partner's access role, trusted by
// the workload, and customer roles that trust the access role.
type accessWorld struct {
	sts *sandbox.STS
	url string
}

func newAccessWorld(t *testing.T, accounts ...string) accessWorld {
	t.Helper()
	s := sandbox.New(sandbox.Config{Callers: map[string]string{workloadKey: workloadRole}})
	w := accessWorld{sts: s}
	w.putAccessRole(t)
	w.putCustomerRoles(t, accounts...)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// putAccessRole creates the access role (again, after a DeleteRole: a
// role of the same ARN and a new identity).
func (w accessWorld) putAccessRole(t *testing.T) {
	t.Helper()
	if err := w.sts.PutRole(accessRoleARN, trust(workloadRole, "")); err != nil {
		t.Fatal(err)
	}
	allow := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	if err := w.sts.SetIdentityPolicies(accessRoleARN, allow); err != nil {
		t.Fatal(err)
	}
}

// putCustomerRoles puts each account's customer role, trusting the access
// role with the account's external ID.
func (w accessWorld) putCustomerRoles(t *testing.T, accounts ...string) {
	t.Helper()
	for _, a := range accounts {
		if err := w.sts.PutRole(customerRole(a), trust(accessRoleARN, "rc-ext-"+a)); err != nil {
			t.Fatal(err)
		}
	}
}

func (w accessWorld) config() aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(w.url),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
}

func trust(principal, externalID string) []byte {
	cond := ""
	if externalID != "" {
		cond = `,"Condition":{"StringEquals":{"sts:ExternalId":"` + externalID + `"}}`
	}
	return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"` + cond + `}]}`)
}

// When the access role is deleted and created again, its cached session
// is refused, and the refresh assumes a new one at once instead of
// failing until the old one would have expired. Deleted for good, the
// refusal is the access role's (ErrAccessRole), not the customer's.
func TestRefusedAccessRoleSessionIsReplaced(t *testing.T) {
	const a1, a2, a3 = "444455556666", "555566667777", "666677778888"
	w := newAccessWorld(t, a1, a2, a3)
	api := &fakeAPI{token: "ops-token", conns: map[Ref]Connection{}, reasons: map[Ref]Reason{}}
	for _, a := range []string{a1, a2, a3} {
		api.conns[Ref{"acme", a}] = Connection{TenantID: "acme", AccountID: a, RoleARN: customerRole(a), ExternalID: "rc-ext-" + a,
			AccessRoleARN: accessRoleARN, Status: "VERIFIED"}
	}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	clock := testclock.New(time.Now())
	c := New(w.config(), &API{BaseURL: apiSrv.URL, Auth: BearerToken("ops-token")}, Options{Now: clock.Now})
	ctx := context.Background()
	if _, err := c.Credentials("acme", a1).Retrieve(ctx); err != nil {
		t.Fatal(err)
	}

	// Deleted and created again; the customers save their trust policies
	// again, naming the new role (IAM's trust policies hold the deleted
	// role's unique ID). The cached session is refused, and the refresh
	// assumes a new one.
	w.sts.DeleteRole(accessRoleARN)
	w.putAccessRole(t)
	w.putCustomerRoles(t, a1, a2, a3)
	if _, err := c.Credentials("acme", a2).Retrieve(ctx); err != nil {
		t.Errorf("with the access role created again: %v; want a session through a new access-role session", err)
	}

	// Deleted for good: the refusal is the access role's.
	w.sts.DeleteRole(accessRoleARN)
	_, err := c.Credentials("acme", a3).Retrieve(ctx)
	var denied *AccessDeniedError
	if !errors.Is(err, ErrAccessRole) || errors.As(err, &denied) {
		t.Errorf("with the access role deleted: %v; want ErrAccessRole, not the customer's AccessDenied", err)
	}
	if n := len(api.checked()); n != 0 {
		t.Errorf("%d re-checks requested of customers' connections", n)
	}
}

// ThroughAccessRole (the verifier's chain) drops a refused session: the
// call signed with it fails, the next one signs with a new session.
func TestThroughAccessRoleReplacesARefusedSession(t *testing.T) {
	w := newAccessWorld(t)
	client := sts.NewFromConfig(ThroughAccessRole(w.config(), accessRoleARN, "verifier"))
	ctx := context.Background()
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	w.sts.DeleteRole(accessRoleARN)
	w.putAccessRole(t)
	var ae smithy.APIError
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("with the old session: %v; want InvalidClientTokenId", err)
	}
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("after the refusal: %v; want a new session", err)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:sts::"+partnerAccount+":assumed-role/rolecall-dev-access/verifier"; got != want {
		t.Errorf("caller = %q, want %q (a session of the access role created again)", got, want)
	}
}

// hangingTransport answers no request: each waits for its context.
type hangingTransport struct{}

func (hangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// A refresh is bounded by RetrieveTimeout: the SDK's credential cache
// never cancels the context it hands a provider, so a RoleCall API (or
// STS) that never answers would otherwise hold the connection for ever.
func TestRetrieveIsBoundedByRetrieveTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
		api := &API{BaseURL: "http://rolecall.invalid", Auth: BearerToken("ops-token"), HTTPClient: &http.Client{Transport: hangingTransport{}}}
		c := New(cfg, api, Options{RetrieveTimeout: time.Minute})
		start := time.Now()
		_, err := c.Credentials("acme", "444455556666").Retrieve(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Retrieve = %v; want the deadline exceeded", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Retrieve returned after %s; want RetrieveTimeout (1m)", d)
		}
	})
}

// handlerTransport serves requests with an in-memory handler: no
// listener, so it runs inside a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	sr := r.Clone(r.Context())
	sr.Host, sr.RequestURI = r.URL.Host, r.URL.RequestURI()
	t.h.ServeHTTP(rec, sr)
	return rec.Result(), nil
}

// firstHangs holds its first request until that request's context ends
// (or release is closed) and serves the others with h.
type firstHangs struct {
	h       http.Handler
	once    sync.Once
	release chan struct{}
}

func (t *firstHangs) RoundTrip(r *http.Request) (*http.Response, error) {
	first := false
	t.once.Do(func() { first = true })
	if first {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-t.release:
			return nil, context.Canceled
		}
	}
	return handlerTransport{t.h}.RoundTrip(r)
}

// An access-role sts:AssumeRole that never answers ends within
// RetrieveTimeout, although the SDK's cache runs it without a deadline:
// the refresh fails as the access role's timeout (ErrAccessRole and
// context.DeadlineExceeded, without the WorkloadPrincipalArns hint of a
// refusal), and once STS answers again the next refresh after the backoff
// gets a session instead of joining the hung call for ever.
func TestHungAccessRoleCallEndsAtRetrieveTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const acct = "444455556666"
		w := accessWorld{sts: sandbox.New(sandbox.Config{Callers: map[string]string{workloadKey: workloadRole}})}
		w.putAccessRole(t)
		w.putCustomerRoles(t, acct)
		stsT := &firstHangs{h: w.sts, release: make(chan struct{})}
		// Without the bound, the hung call ends here, and its retries
		// (fake time) inside the bubble.
		defer func() { close(stsT.release); time.Sleep(time.Hour) }()
		api := &fakeAPI{token: "ops-token", conns: map[Ref]Connection{}, reasons: map[Ref]Reason{}}
		api.conns[Ref{"acme", acct}] = Connection{TenantID: "acme", AccountID: acct, RoleARN: customerRole(acct),
			ExternalID: "rc-ext-" + acct, AccessRoleARN: accessRoleARN, Status: "VERIFIED"}
		cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://sts.invalid"),
			HTTPClient:  &http.Client{Transport: stsT},
			Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
		c := New(cfg, &API{BaseURL: "http://rolecall.invalid", Auth: BearerToken("ops-token"),
			HTTPClient: &http.Client{Transport: handlerTransport{api}}}, Options{RetrieveTimeout: time.Minute})
		ctx := context.Background()
		start := time.Now()
		_, err := c.Credentials("acme", acct).Retrieve(ctx)
		if !errors.Is(err, ErrAccessRole) || !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "WorkloadPrincipalArns") {
			t.Errorf("refresh while STS hangs = %v; want ErrAccessRole and the deadline exceeded, with no WorkloadPrincipalArns hint", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("refresh while STS hangs returned after %s; want RetrieveTimeout (1m)", d)
		}
		time.Sleep(10 * time.Minute) // fake time: past the backoff
		if _, err := c.Credentials("acme", acct).Retrieve(ctx); err != nil {
			t.Errorf("refresh after STS answers again = %v; want a session: the hung access-role call still holds the shared cache", err)
		}
	})
}

// failingProvider fails every Retrieve with err.
type failingProvider struct{ err error }

func (p failingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, p.err
}

// Whatever keeps a connection's refresh from the access role's session,
// it fails as the access role's (ErrAccessRole), never as the customer's
// role's; only STS's refusal (*AccessRoleError) carries the hint to check
// WorkloadPrincipalArns.
func TestChainBlamesTheAccessRole(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantHint bool
	}{
		{"STS refused it", &AccessRoleError{RoleARN: accessRoleARN, Err: errors.New("AccessDenied")}, true},
		{"it got no answer in time", fmt.Errorf("%w %s: no answer: %w", ErrAccessRole, accessRoleARN, context.DeadlineExceeded), false},
		{"the wait for it ended", &aws.RequestCanceledError{Err: context.DeadlineExceeded}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(aws.Config{Region: "us-east-1"}, &API{BaseURL: "http://rolecall.invalid"}, Options{})
			c.accessRoles[accessRoleARN] = aws.NewCredentialsCache(failingProvider{tc.err})
			p := &connProvider{c: c, ref: Ref{"acme", "444455556666"}}
			_, _, err := p.chain(context.Background(), Connection{TenantID: "acme", AccountID: "444455556666", AccessRoleARN: accessRoleARN})
			if !errors.Is(err, ErrAccessRole) || strings.Contains(err.Error(), "WorkloadPrincipalArns") != tc.wantHint {
				t.Errorf("chain = %v; want ErrAccessRole, the hint %t", err, tc.wantHint)
			}
		})
	}
}

// TestAccessRoleRefusalBacksOff: STS's refusal of the access role is
// answered again, without asking STS, to every connection while its
// backoff lasts (FailureBackoff, doubling), and a mended access role is
// used at the first call after it.
func TestAccessRoleRefusalBacksOff(t *testing.T) {
	accounts := []string{"444455556666", "555566667777", "666677778888"}
	const fresh = "777788889999" // a connection first asked for in the second backoff
	w := newWorld(t, append(append([]string{}, accounts...), fresh)...)
	w.sts.AddRole(accessRoleARN, "arn:aws:iam::"+partnerAccount+":role/someone-else", "")
	ctx := context.Background()
	asked := func() int {
		n := 0
		for _, r := range w.sts.Requests() {
			if r.Get("RoleArn") == accessRoleARN {
				n++
			}
		}
		return n
	}
	round := func(want error) {
		t.Helper()
		for _, a := range accounts {
			if _, err := w.client.Credentials("acme", a).Retrieve(ctx); !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("credentials of %s: %v, want %v", a, err, want)
			}
		}
	}
	for i, wantAsked := range []int{1, 2} {
		round(ErrAccessRole)
		if got := asked(); got != wantAsked {
			t.Fatalf("round %d: STS asked for the access role %d times, want %d", i+1, got, wantAsked)
		}
		if i == 1 {
			// The second backoff has doubled: at least FailureBackoff
			// (jittered by up to half). Within it, a connection with no
			// backoff of its own is answered without STS.
			w.clock.Advance(FailureBackoff - time.Millisecond)
			if _, err := w.client.Credentials("acme", fresh).Retrieve(ctx); !errors.Is(err, ErrAccessRole) || asked() != 2 {
				t.Fatalf("within the doubled backoff: %v, STS asked %d times; want ErrAccessRole without asking", err, asked())
			}
			w.clock.Advance(time.Millisecond)
		}
		// Past every backoff, the connections' and the access role's.
		w.clock.Advance(FailureBackoff << i)
	}
	w.sts.AddRole(accessRoleARN, workloadRole, "")
	round(nil)
	if got := asked(); got != 3 {
		t.Fatalf("mended: STS asked for the access role %d times in all, want 3 (one session for every connection)", got)
	}
}

// TestConfigurationRefused: what STS answers for the partner's
// configuration is backed off; throttling and STS's faults are not.
func TestConfigurationRefused(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"AccessDenied", true},
		{"InvalidClientTokenId", true},
		{"ExpiredToken", true},
		{"Throttling", false},
		{"ThrottlingException", false},
		{"InternalFailure", false},
		{"ServiceUnavailable", false},
	}
	for _, tt := range tests {
		err := fmt.Errorf("operation error STS: AssumeRole: %w", &smithy.GenericAPIError{Code: tt.code, Message: "m"})
		if got := configurationRefused(err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.code, got, tt.want)
		}
	}
	if configurationRefused(context.DeadlineExceeded) {
		t.Error("a timeout is backed off")
	}
}

// TestRefusedAccessRoleSessionIsDroppedOnce: refreshes of many connections
// refused together with the access role's old session (it was deleted and
// created again) drop that session once. A refusal answered after another
// refresh has assumed the new session does not drop the new one, so the
// access role is assumed once, not once per refusal.
func TestRefusedAccessRoleSessionIsDroppedOnce(t *testing.T) {
	accts := []string{"444455556666", "555566667777", "666677778888", "777788889999"}
	w := newAccessWorld(t, accts...)
	var (
		mu            sync.Mutex
		oldKey        string
		accessAssumes int
	)
	arrived, gate := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		old := oldKey != "" && strings.Contains(r.Header.Get("Authorization"), "Credential="+oldKey+"/")
		if q, _ := url.ParseQuery(string(body)); q.Get("RoleArn") == accessRoleARN {
			accessAssumes++
		}
		mu.Unlock()
		if old {
			arrived <- struct{}{}
			<-gate // the refusals of the old session are answered one by one
		}
		w.sts.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	w.url = srv.URL
	api := &fakeAPI{token: "ops-token", conns: map[Ref]Connection{}, reasons: map[Ref]Reason{}}
	for _, a := range accts {
		api.conns[Ref{"acme", a}] = Connection{TenantID: "acme", AccountID: a, RoleARN: customerRole(a), ExternalID: "rc-ext-" + a,
			AccessRoleARN: accessRoleARN, Status: "VERIFIED"}
	}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	c := New(w.config(), &API{BaseURL: apiSrv.URL, Auth: BearerToken("ops-token")}, Options{})
	ctx := context.Background()
	session, err := c.accessRole(accessRoleARN).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.sts.DeleteRole(accessRoleARN)
	w.putAccessRole(t)
	w.putCustomerRoles(t, accts...)
	mu.Lock()
	oldKey, accessAssumes = session.AccessKeyID, 0
	mu.Unlock()

	done := make(chan error)
	for _, a := range accts {
		go func() {
			_, err := c.Credentials("acme", a).Retrieve(ctx)
			done <- err
		}()
	}
	for range accts {
		<-arrived // every refresh signs with the old session first
	}
	for range accts {
		gate <- struct{}{} // one refusal; its refresh then completes
		if err := <-done; err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if accessAssumes != 1 {
		t.Errorf("the access role was assumed %d times after it was created again, want once", accessAssumes)
	}
}
