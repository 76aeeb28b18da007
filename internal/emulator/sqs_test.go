package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// flakyAssumer fails the first n calls with the external ID extID
// transiently, as throttled STS would; it counts those calls.
type flakyAssumer struct {
	next probe.Assumer

	mu    sync.Mutex
	extID string
	fail  int
	calls int
}

func (f *flakyAssumer) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	f.mu.Lock()
	fail := false
	if in.ExternalID == f.extID {
		f.calls++
		fail = f.calls <= f.fail
	}
	f.mu.Unlock()
	if fail {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Err: errors.New("Throttling (injected)")}
	}
	return f.next.AssumeRole(ctx, in)
}

// TestVerifyOverSQS runs serve's wiring with --aws and a queue URL against
// fakes: the default credential chain reads test keys from the
// environment, SQS is awsfake's (every send, receive, visibility change and
// delete goes through the SDK client over HTTP) and "real" STS is the
// sandbox on a loopback port. A submission's job goes through the fake
// queue; the first check fails transiently, so the message comes back with
// receive count 2 after its visibility is changed, then the role is
// VERIFIED and the message deleted.
func TestVerifyOverSQS(t *testing.T) {
	fakeSQS := awsfake.NewSQS()
	// deleted is closed once the fake has answered a DeleteMessage call.
	deleted := make(chan struct{})
	var deleteOnce sync.Once
	sqsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fakeSQS.ServeHTTP(w, r)
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DeleteMessage") {
			deleteOnce.Do(func() { close(deleted) })
		}
	}))
	t.Cleanup(sqsSrv.Close)
	const accessKey = "AKIAROLECALLTESTSQS0"
	sb, stsURL := sandboxSTS(t, accessKey)
	fakeAWSEnv(t, accessKey, "us-east-1", map[string]string{"AWS_ENDPOINT_URL_SQS": sqsSrv.URL, "AWS_ENDPOINT_URL_STS": stsURL})

	queueURL := sqsSrv.URL + "/" + SandboxPartnerAccount + "/rolecall-verify"
	events := &syncbuf.Buffer{}
	o := testOptions(t, events)
	o.AWS, o.QueueURL, o.TrustedPrincipalARN = true, queueURL, SandboxPrincipalARN
	flaky := &flakyAssumer{fail: 3} // the checker's 3 attempts of the first delivery, with the tenant's ID
	s := startWith(t, o, stackSetup{components: func(st *Stack) { flaky.next, st.Components.STS = st.Components.STS, flaky }})
	if s.Sandbox != nil || !strings.Contains(s.Banner(), "SQS queue "+queueURL) {
		t.Fatalf("not wired to the SQS queue: %s", s.Banner())
	}

	ctx := context.Background()
	tn, err := s.Service.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	flaky.mu.Lock()
	flaky.extID = tn.ExternalID
	flaky.mu.Unlock()
	const account = "210987654321"
	role := "arn:aws:iam::" + account + ":role/RoleCall"
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + SandboxPrincipalARN +
		`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + tn.ExternalID + `"}}}]}`
	if err := sb.PutRole(role, []byte(policy)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.Submit(ctx, tn, role); err != nil {
		t.Fatal(err)
	}

	// The event is published from the outbox after the VERIFIED write.
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if !events.WaitFor(wctx, `"detail-type":"Role Verified"`) {
		t.Fatalf("no Role Verified event:\n%s", events.String())
	}
	if conn, err := s.Service.Connection(ctx, "acme", account); err != nil || conn.Status != connection.Verified {
		t.Fatalf("connection is %s (%+v), %v; not VERIFIED", conn.Status, conn.Reason, err)
	}

	// One message, the Role Submitted rule's job: received twice (the
	// visibility change after the transient failure), then deleted.
	msgs := fakeSQS.Messages()
	if len(msgs) != 1 || msgs[0].QueueURL != queueURL {
		t.Fatalf("messages sent = %+v, want the submission's job on %s", msgs, queueURL)
	}
	var job probe.Job
	if err := json.Unmarshal([]byte(msgs[0].Body), &job); err != nil || job.Why != probe.WhySubmitted || job.Connection.AccountID != account {
		t.Errorf("message body %s (%v), want the submission's job", msgs[0].Body, err)
	}
	changes := fakeSQS.VisibilityChanges()
	if len(changes) != 1 || changes[0].VisibilityTimeout < 1 || !strings.Contains(changes[0].ReceiptHandle, msgs[0].MessageID+"-1") {
		t.Errorf("visibility changes = %+v, want one delay of the first delivery", changes)
	}
	select {
	case <-deleted:
	case <-wctx.Done():
		t.Fatal("the message was never deleted")
	}
	if d := fakeSQS.Deleted(); len(d) != 1 || d[0] != msgs[0].MessageID || fakeSQS.Pending() != 0 {
		t.Errorf("deleted %v with %d pending, want %s deleted", d, fakeSQS.Pending(), msgs[0].MessageID)
	}
	flaky.mu.Lock()
	calls := flaky.calls
	flaky.mu.Unlock()
	if calls <= 3 {
		t.Errorf("%d STS calls with the external ID, want 3 failed and more by the redelivery", calls)
	}
	if !strings.Contains(events.String(), `"detail-type":"Role Verified"`) {
		t.Errorf("no Role Verified event in %s", events.String())
	}
}

func TestQueueURLNeedsAWS(t *testing.T) {
	o := testOptions(t, &syncbuf.Buffer{})
	o.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/rolecall-verify"
	if s, err := Start(context.Background(), o); err == nil || !strings.Contains(err.Error(), "needs AWS") {
		if s != nil {
			_ = s.Shutdown(context.Background())
		}
		t.Fatalf("Start with a queue URL and no AWS = %v, want an error", err)
	}
}
