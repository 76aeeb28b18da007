package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
	"github.com/rolecall/rolecall/internal/verify"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// externalID has the shape of the IDs RoleCall generates, as every tenant's.
const externalID = "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345"

// fakeChecker answers every check with result, stamped at *now. With a
// gate, each check waits for a value on it before answering, so a test
// decides when checks finish and can count those in flight.
type fakeChecker struct {
	mu       sync.Mutex
	result   connection.Result
	now      time.Time
	requests []probe.Request
	inFlight atomic.Int32
	gate     chan struct{}
}

func (f *fakeChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	f.inFlight.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.inFlight.Add(-1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	return probe.Report{Outcome: connection.Outcome{ExternalIDCurrent: true, Result: f.result, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: f.now}}
}

func (f *fakeChecker) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.requests) }

func policy() connection.Policy {
	p := connection.DefaultPolicy()
	p.Jitter = 0
	return p
}

// seed creates tenant acme and a connection for account in the given
// status, at t0.
func seed(t *testing.T, st *store.Memory, account string, status connection.Status) connection.Connection {
	t.Helper()
	ctx := context.Background()
	if _, err := st.GetTenant(ctx, "acme"); errors.Is(err, store.ErrNotFound) {
		seedTenant(t, st, "acme", externalID)
	}
	arn := testarn.MustParse(t, "arn:aws:iam::"+account+":role/RoleCall")
	p := policy()
	tr := p.Submit(nil, "acme", arn, 1, t0)
	if err := st.Apply(ctx, tr); err != nil {
		t.Fatal(err)
	}
	c := tr.After
	apply := func(r connection.Result, at time.Time) {
		tr, err := p.Apply(c, connection.Outcome{ExternalIDCurrent: true, Result: r, Version: c.Version, ExternalIDVersion: 1, CheckedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	switch status {
	case connection.Verified:
		apply(connection.ResultOK, t0.Add(time.Second))
	case connection.Failed:
		apply(connection.ResultDenied, t0.Add(p.PropagationWindow))
	case connection.Disconnected:
		tr := p.Disconnect(c, 1, t0.Add(time.Second))
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	return c
}

// seedTenant creates tenant id, with externalID at version 1, at t0.
func seedTenant(t *testing.T, st *store.Memory, id, externalID string) {
	t.Helper()
	if err := st.CreateTenant(context.Background(), tenant.Tenant{ID: id, Name: id, ExternalID: externalID, ExternalIDVersion: 1, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

// seedCandidate stores a VERIFIED connection of acme for account, then the
// submission of role as its candidate at at; it returns the verified
// connection and the submission.
func seedCandidate(t *testing.T, st *store.Memory, account, role string, at time.Time) (connection.Connection, connection.Transition) {
	t.Helper()
	c := seed(t, st, account, connection.Verified)
	sub := policy().Submit(&c, "acme", testarn.MustParse(t, role), 1, at)
	if err := st.Apply(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return c, sub
}

func job(c connection.Connection, why string) probe.Job {
	return probe.Job{Connection: c, ExternalID: externalID, ExternalIDVersion: 1, Why: why}
}

func newWorker(st verify.Store, ch verify.Checker, logs *bytes.Buffer) *verify.Worker {
	w := &verify.Worker{Store: st, Checker: ch, Policy: policy(), Log: slog.New(slog.DiscardHandler)}
	if logs != nil {
		w.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return w
}

func TestProcess(t *testing.T) {
	p := policy()
	tests := []struct {
		name      string
		status    connection.Status
		result    connection.Result
		checkedAt time.Duration // after t0
		receives  int
		staleJob  bool
		wantRetry time.Duration
		wantErr   error
		wantState connection.Status
		wantFails int
		wantCheck bool
		wantEvent connection.DetailType
	}{
		{name: "pending verified", status: connection.Pending, result: connection.ResultOK, checkedAt: 2 * time.Second, receives: 1,
			wantState: connection.Verified, wantCheck: true, wantEvent: connection.RoleVerified},
		{name: "pending denied in the window backs off", status: connection.Pending, result: connection.ResultDenied, checkedAt: 2 * time.Second, receives: 1,
			wantRetry: 5 * time.Second, wantState: connection.Pending, wantFails: 1, wantCheck: true},
		{name: "backoff grows with the receive count", status: connection.Pending, result: connection.ResultDenied, checkedAt: 20 * time.Second, receives: 3,
			wantRetry: 20 * time.Second, wantState: connection.Pending, wantFails: 1, wantCheck: true},
		{name: "backoff is capped", status: connection.Pending, result: connection.ResultDenied, checkedAt: 30 * time.Second, receives: 9,
			wantRetry: p.PendingBackoffMax, wantState: connection.Pending, wantFails: 1, wantCheck: true},
		{name: "backoff ends with the window", status: connection.Pending, result: connection.ResultDenied, checkedAt: p.PropagationWindow - 2500*time.Millisecond, receives: 6,
			wantRetry: 3 * time.Second, wantState: connection.Pending, wantFails: 1, wantCheck: true},
		{name: "pending denied after the window fails", status: connection.Pending, result: connection.ResultDenied, checkedAt: p.PropagationWindow, receives: 1,
			wantState: connection.Failed, wantFails: 1, wantCheck: true, wantEvent: connection.RoleVerificationFailed},
		{name: "not enforced fails at once", status: connection.Pending, result: connection.ResultNotEnforced, checkedAt: time.Second, receives: 1,
			wantState: connection.Failed, wantFails: 1, wantCheck: true, wantEvent: connection.RoleVerificationFailed},
		{name: "routine check writes no event", status: connection.Verified, result: connection.ResultOK, checkedAt: time.Hour, receives: 1,
			wantState: connection.Verified, wantCheck: true},
		{name: "verified denied once is suspect", status: connection.Verified, result: connection.ResultDenied, checkedAt: time.Hour, receives: 1,
			wantState: connection.Verified, wantFails: 1, wantCheck: true},
		{name: "transient retries later and writes nothing", status: connection.Verified, result: connection.ResultTransient, checkedAt: time.Hour, receives: 2,
			wantRetry: 60 * time.Second, wantErr: verify.ErrTransient, wantState: connection.Verified, wantCheck: true},
		{name: "stale job is dropped", status: connection.Verified, result: connection.ResultOK, checkedAt: time.Hour, receives: 1, staleJob: true,
			wantState: connection.Verified, wantCheck: true},
		{name: "stale redelivery is dropped without a check", status: connection.Verified, result: connection.ResultOK, checkedAt: time.Hour, receives: 2, staleJob: true,
			wantState: connection.Verified},
		{name: "disconnected is dropped", status: connection.Disconnected, result: connection.ResultOK, checkedAt: time.Hour, receives: 1,
			wantState: connection.Disconnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			c := seed(t, st, "123456789012", tt.status)
			j := job(c, probe.WhyScheduled)
			if tt.staleJob {
				j.Connection.Version--
			}
			before, _ := st.Events(context.Background(), "acme", "123456789012")
			ch := &fakeChecker{result: tt.result, now: t0.Add(tt.checkedAt)}
			w := newWorker(st, ch, nil)
			d, err := w.Process(context.Background(), j, tt.receives)
			if d != tt.wantRetry || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Process = %s, %v; want %s, %v", d, err, tt.wantRetry, tt.wantErr)
			}
			if (ch.calls() == 1) != tt.wantCheck {
				t.Errorf("checker called %d times, want a check: %v", ch.calls(), tt.wantCheck)
			}
			got, _ := st.GetConnection(context.Background(), "acme", "123456789012")
			if got.Status != tt.wantState || got.ConsecutiveFailures != tt.wantFails {
				t.Errorf("connection %s with %d failures, want %s with %d", got.Status, got.ConsecutiveFailures, tt.wantState, tt.wantFails)
			}
			after, _ := st.Events(context.Background(), "acme", "123456789012")
			switch {
			case tt.wantEvent == "" && len(after) != len(before):
				t.Errorf("wrote event %s, want none", after[len(after)-1].DetailType)
			case tt.wantEvent != "" && (len(after) != len(before)+1 || after[len(after)-1].DetailType != tt.wantEvent):
				t.Errorf("events %d -> %d, want one %s", len(before), len(after), tt.wantEvent)
			}
			if tt.wantCheck && !tt.staleJob && tt.result != connection.ResultTransient && !got.LastCheckedAt.Equal(t0.Add(tt.checkedAt)) {
				t.Errorf("lastCheckedAt = %s, want the check's time", got.LastCheckedAt)
			}
		})
	}
}

func TestProcessRedeliveryUsesTheCurrentConnection(t *testing.T) {
	st := store.NewMemory()
	c := seed(t, st, "123456789012", connection.Pending)
	j := job(c, probe.WhyScheduled)
	ch := &fakeChecker{result: connection.ResultDenied, now: t0.Add(2 * time.Second)}
	w := newWorker(st, ch, nil)
	for receive, want := range map[int]time.Duration{1: 5 * time.Second} {
		if d, err := w.Process(context.Background(), j, receive); d != want || err != nil {
			t.Fatalf("first delivery = %s, %v", d, err)
		}
	}
	// The second delivery carries the job as first sent (0 failures); the
	// worker must check the stored connection (1 failure), not drop it.
	ch.now = t0.Add(8 * time.Second)
	d, err := w.Process(context.Background(), j, 2)
	if d != 10*time.Second || err != nil {
		t.Fatalf("second delivery = %s, %v; want a 10s backoff", d, err)
	}
	got, _ := st.GetConnection(context.Background(), "acme", "123456789012")
	if got.ConsecutiveFailures != 2 {
		t.Errorf("failures = %d, want 2", got.ConsecutiveFailures)
	}
}

// failingStore fails Apply or reads with a transient error.
type failingStore struct {
	*store.Memory
	applyErr, getErr, tenantErr error
}

func (f failingStore) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if f.tenantErr != nil {
		return tenant.Tenant{}, f.tenantErr
	}
	return f.Memory.GetTenant(ctx, id)
}

func (f failingStore) Apply(ctx context.Context, t connection.Transition) error {
	if f.applyErr != nil {
		return f.applyErr
	}
	return f.Memory.Apply(ctx, t)
}

func (f failingStore) GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	if f.getErr != nil {
		return connection.Connection{}, f.getErr
	}
	return f.Memory.GetConnection(ctx, tenantID, accountID)
}

// TestProcessStoreFailures: a store failure is returned, for the job to be
// retried; a write still contended after the store's own retries is one
// too, not a stale outcome to drop.
func TestProcessStoreFailures(t *testing.T) {
	boom := errors.New("dynamodb: service unavailable")
	tests := []struct {
		name     string
		st       failingStore
		receives int
		want     error
	}{
		{"write fails", failingStore{applyErr: boom}, 1, boom},
		{"write contended", failingStore{applyErr: fmt.Errorf("apply: %w", store.ErrContended)}, 1, store.ErrContended},
		{"reread fails", failingStore{getErr: boom}, 2, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.st.Memory = store.NewMemory()
			c := seed(t, tt.st.Memory, "123456789012", connection.Verified)
			w := newWorker(tt.st, &fakeChecker{result: connection.ResultOK, now: t0.Add(time.Hour)}, nil)
			d, err := w.Process(context.Background(), job(c, probe.WhyScheduled), tt.receives)
			if d != 0 || !errors.Is(err, tt.want) || errors.Is(err, verify.ErrTransient) || errors.Is(err, verify.ErrSkip) {
				t.Fatalf("Process = %s, %v; want 0 and the store error, to retry", d, err)
			}
		})
	}
}

func TestJobFromMessage(t *testing.T) {
	st := store.NewMemory()
	c := seed(t, st, "123456789012", connection.Pending)
	w := newWorker(st, &fakeChecker{}, nil)
	ctx := context.Background()
	submitted := `{"version":"0","id":"x","detail-type":"Role Submitted","source":"rolecall","account":"111122223333","time":"2025-03-01T12:00:00Z","region":"us-east-1","resources":[],"detail":{"eventId":"e","tenantId":"acme","accountId":"123456789012","roleArn":"arn:aws:iam::123456789012:role/RoleCall","status":"PENDING","previousStatus":"","reason":{"code":"SUBMITTED","message":"m"},"occurredAt":"2025-03-01T12:00:00Z","version":VERSION,"externalIdVersion":1}}`
	tests := []struct {
		name      string
		body      string
		wantFresh bool
		wantErr   error
	}{
		{name: "role submitted event", body: strings.Replace(submitted, "VERSION", "1", 1), wantFresh: true},
		{name: "job", body: `{"connection":{"tenantId":"acme","accountId":"123456789012","roleArn":"arn:aws:iam::123456789012:role/RoleCall","status":"VERIFIED","version":2},"externalId":"rc-X","externalIdVersion":1,"why":"scheduled"}`},
		{name: "submitted event for an older version", body: strings.Replace(submitted, "VERSION", "0", 1), wantErr: verify.ErrSkip},
		{name: "submitted event for a newer version", body: strings.Replace(submitted, "VERSION", "7", 1), wantErr: verify.ErrSkip},
		{name: "submitted event for an unknown connection", body: strings.Replace(strings.Replace(submitted, "VERSION", "1", 1), `"accountId":"123456789012"`, `"accountId":"999999999999"`, 1), wantErr: verify.ErrSkip},
		{name: "other detail-type", body: strings.Replace(submitted, "Role Submitted", "Role Verified", 1), wantErr: verify.ErrSkip},
		{name: "job without external id", body: `{"connection":{"tenantId":"acme","accountId":"123456789012","roleArn":"arn:aws:iam::123456789012:role/RoleCall","version":2},"why":"scheduled"}`, wantErr: verify.ErrSkip},
		{name: "submitted event with a malformed detail", body: `{"detail-type":"Role Submitted","source":"rolecall","detail":"PENDING"}`, wantErr: verify.ErrSkip},
		{name: "submitted event without a version", body: `{"detail-type":"Role Submitted","source":"rolecall","detail":{"tenantId":"acme","accountId":"123456789012"}}`, wantErr: verify.ErrSkip},
		{name: "job with a malformed connection", body: `{"connection":"acme/123456789012"}`, wantErr: verify.ErrSkip},
		{name: "not JSON", body: `not json`, wantErr: verify.ErrSkip},
		{name: "neither", body: `{"hello":"world"}`, wantErr: verify.ErrSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, fresh, err := w.JobFromMessage(ctx, []byte(tt.body))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("JobFromMessage error = %v, want %v", err, tt.wantErr)
			}
			if fresh != tt.wantFresh {
				t.Errorf("fresh = %v", fresh)
			}
			if err == nil && (j.Connection.TenantID != "acme" || j.ExternalID == "") {
				t.Errorf("job = %+v", j)
			}
			if tt.wantFresh && (j.Connection != c || j.ExternalID != externalID || j.Why != probe.WhySubmitted) {
				t.Errorf("job from event = %+v, want the stored connection and tenant", j)
			}
		})
	}
}

// TestJobFromMessageStoreFailures: a Role Submitted event whose connection
// or tenant cannot be read is retried (not ErrSkip); one whose tenant is
// gone is dropped.
func TestJobFromMessageStoreFailures(t *testing.T) {
	boom := errors.New("dynamodb: service unavailable")
	body := `{"detail-type":"Role Submitted","source":"rolecall","detail":{"tenantId":"acme","accountId":"123456789012","version":1}}`
	tests := []struct {
		name     string
		st       failingStore
		wantErr  error
		wantSkip bool
		wantText string
	}{
		{"connection read fails", failingStore{getErr: boom}, boom, false, "read connection acme/123456789012"},
		{"tenant read fails", failingStore{tenantErr: boom}, boom, false, "read tenant acme"},
		{"tenant gone", failingStore{tenantErr: fmt.Errorf("get: %w", store.ErrNotFound)}, verify.ErrSkip, true, "tenant acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.st.Memory = store.NewMemory()
			seed(t, tt.st.Memory, "123456789012", connection.Pending)
			w := newWorker(tt.st, &fakeChecker{}, nil)
			_, fresh, err := w.JobFromMessage(context.Background(), []byte(body))
			if !errors.Is(err, tt.wantErr) || errors.Is(err, verify.ErrSkip) != tt.wantSkip || fresh || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("JobFromMessage = fresh %v, %v; want %v naming %q", fresh, err, tt.wantErr, tt.wantText)
			}
		})
	}
}

// A job that will come back by redelivery must not also be due for the
// sweeper, or every sweep during an STS brownout (or a propagation wait)
// would start another chain of checks for the same connection.
func TestRedeliveredJobsAreNotDueForTheSweeper(t *testing.T) {
	tests := []struct {
		name   string
		status connection.Status
		result connection.Result
	}{
		{"transient on a verified role", connection.Verified, connection.ResultTransient},
		{"transient on a pending role", connection.Pending, connection.ResultTransient},
		{"denied inside the propagation window", connection.Pending, connection.ResultDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			c := seed(t, st, "123456789012", tt.status)
			at := t0.Add(3 * time.Second)
			w := newWorker(st, &fakeChecker{result: tt.result, now: at}, nil)
			d, _ := w.Process(context.Background(), job(c, probe.WhyScheduled), 1)
			if d <= 0 {
				t.Fatalf("redelivery delay = %s, want > 0", d)
			}
			got, err := st.GetConnection(context.Background(), "acme", "123456789012")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status || got.Version != c.Version {
				t.Fatalf("status %s v%d, want %s v%d unchanged", got.Status, got.Version, tt.status, c.Version)
			}
			if want := at.Add(d + w.Policy.PendingSafetyNet); !got.NextCheckAt.Equal(want) {
				t.Errorf("nextCheckAt = %s, want redelivery + safety net = %s", got.NextCheckAt, want)
			}
			shard := store.ShardOf("acme", "123456789012")
			p, err := st.Due(context.Background(), shard, at.Add(d), "", 10)
			if err != nil || len(p.Items) != 0 {
				t.Errorf("due at redelivery time: %d items, %v; want none", len(p.Items), err)
			}
		})
	}
}

// okChecker answers every check OK.
type okChecker struct{}

func (okChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	return probe.Report{Outcome: connection.Outcome{Result: connection.ResultOK, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: t0.Add(2 * time.Second)},
		Steps: []probe.Step{{OK: true}, {OK: true}}}
}

// TestCheckQueuedBeforeATakeoverIsWritten: a stack's new registration
// resource takes the registration over (a write that changes nothing
// else) while the first check of the PENDING connection waits in the
// queue; the check's outcome, which does not depend on the resource, is
// written to the connection as stored, not dropped as stale.
func TestCheckQueuedBeforeATakeoverIsWritten(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	seedTenant(t, st, "acme", externalID)
	p := policy()
	sub := p.Submit(nil, "acme", testarn.MustParse(t, "arn:aws:iam::111122223333:role/RoleCall"), 1, t0)
	sub.After.Stack, sub.After.StackResource = "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1", "OldResource"
	if err := st.Apply(ctx, sub); err != nil {
		t.Fatal(err)
	}
	c := sub.After
	queued := job(c, probe.WhyRequested) // the Role Submitted event's job
	// What onboarding.submit writes for a takeover (tr.Event nil).
	took := c
	took.StackResource = "NewResource"
	if err := st.Apply(ctx, connection.Transition{Before: &c, After: took}); err != nil {
		t.Fatal(err)
	}
	w := newWorker(st, okChecker{}, nil)
	if _, err := w.Process(ctx, queued, 1); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetConnection(ctx, c.TenantID, c.AccountID)
	if got.Status != connection.Verified {
		t.Fatalf("status %s after a successful check: the check queued before the takeover was dropped", got.Status)
	}
	if got.StackResource != "NewResource" {
		t.Fatalf("stackResource %q, want NewResource", got.StackResource)
	}
}
