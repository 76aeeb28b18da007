package sweep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// countingStore counts tenant reads and can fail one shard's queries or
// slow every query down.
type countingStore struct {
	*store.Memory
	tenantReads atomic.Int32
	failShard   int // -1: none
	delay       time.Duration
	failTenant  string // reads of this tenant fail
	failList    bool   // ListByStatus fails
}

func (c *countingStore) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	c.tenantReads.Add(1)
	if id == c.failTenant {
		return tenant.Tenant{}, errors.New("dynamodb: throttled")
	}
	return c.Memory.GetTenant(ctx, id)
}

func (c *countingStore) ListByStatus(ctx context.Context, status connection.Status, cursor string, limit int) (store.Page, error) {
	if c.failList {
		return store.Page{}, errors.New("dynamodb: internal server error")
	}
	return c.Memory.ListByStatus(ctx, status, cursor, limit)
}

func (c *countingStore) Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (store.Page, error) {
	if shard == c.failShard {
		return store.Page{}, errors.New("dynamodb: internal server error")
	}
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return store.Page{}, ctx.Err()
		}
	}
	return c.Memory.Due(ctx, shard, until, cursor, limit)
}

type world struct {
	st      *countingStore
	due     []string // tenant/account of the connections due at t0
	live    []string // every live connection
	extIDs  map[string]string
	tenants int
}

// newWorld creates 3 tenants (one rotated) and 60 connections: every fourth
// one not yet due, every tenth disconnected, plus one connection of a
// tenant that no longer exists.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{st: &countingStore{Memory: store.NewMemory(), failShard: -1}, extIDs: map[string]string{}}
	p := connection.DefaultPolicy()
	for i, id := range []string{"acme", "globex", "initech"} {
		tn, err := tenant.New(id, strings.ToUpper(id), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.st.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			r := tn.Rotated(t0)
			if err := w.st.RotateExternalID(ctx, tn, r); err != nil {
				t.Fatal(err)
			}
			tn = r
		}
		w.extIDs[id] = tn.ExternalID
	}
	w.tenants = 3
	for i := range 61 {
		tid := []string{"acme", "globex", "initech"}[i%3]
		if i == 60 {
			tid = "gone"
		}
		acct := fmt.Sprintf("%012d", 100000000000+i)
		tr := p.Submit(nil, tid, testarn.MustParse(t, "arn:aws:iam::"+acct+":role/R"), 1, t0.Add(-time.Hour))
		if i%4 == 3 {
			tr.After.NextCheckAt = t0.Add(time.Minute) // not yet due
		}
		if err := w.st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		key := tid + "/" + acct
		if i%10 == 9 {
			d := p.Disconnect(tr.After, 1, t0.Add(-time.Minute))
			if err := w.st.Apply(ctx, d); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if tid != "gone" {
			w.live = append(w.live, key)
			if i%4 != 3 {
				w.due = append(w.due, key)
			}
		}
	}
	return w
}

func keys(jobs []probe.Job) []string {
	var s []string
	for _, j := range jobs {
		s = append(s, j.Connection.TenantID+"/"+j.Connection.AccountID)
	}
	slices.Sort(s)
	return s
}

// wantEnqueued fails t unless jobs are one for each of the connections
// conns ("tenant/account"), in any order; it returns conns sorted.
func wantEnqueued(t *testing.T, jobs []probe.Job, conns []string) []string {
	t.Helper()
	want := slices.Sorted(slices.Values(conns))
	if got := keys(jobs); !slices.Equal(got, want) {
		t.Fatalf("enqueued %v\nwant %v", got, want)
	}
	return want
}

func drain(t *testing.T, q *queue.Memory) []probe.Job {
	t.Helper()
	msgs, err := q.Receive(context.Background(), 10000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []probe.Job
	for _, m := range msgs {
		jobs = append(jobs, m.Job)
	}
	return jobs
}

func newSweeper(w *world, q sweep.Queue, logs *bytes.Buffer) *sweep.Sweeper {
	s := &sweep.Sweeper{Store: w.st, Queue: q, PageSize: 4, Now: func() time.Time { return t0 }}
	s.Log = slog.New(slog.DiscardHandler)
	if logs != nil {
		s.Log = slog.New(slog.NewJSONHandler(logs, nil))
	}
	return s
}

func TestDue(t *testing.T) {
	w := newWorld(t)
	q := queue.NewMemory()
	var logs bytes.Buffer
	sw := newSweeper(w, q, &logs)
	rec := logcapture.New(sw.Log.Handler()) // counts the records; logs keeps the text to scan for secrets
	sw.Log = slog.New(rec)
	res, err := sw.Due(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, q)
	want := wantEnqueued(t, jobs, w.due)
	for _, j := range jobs {
		if j.ExternalID != w.extIDs[j.Connection.TenantID] || j.Why != probe.WhyScheduled || j.Connection.NextCheckAt.After(t0) {
			t.Errorf("job %s/%s: external ID current %v, why %s, next check %s", j.Connection.TenantID, j.Connection.AccountID,
				j.ExternalID == w.extIDs[j.Connection.TenantID], j.Why, j.Connection.NextCheckAt)
		}
		if j.ExternalIDVersion != map[string]int{"acme": 1, "globex": 2, "initech": 1}[j.Connection.TenantID] {
			t.Errorf("job for %s has external ID version %d", j.Connection.TenantID, j.ExternalIDVersion)
		}
	}
	if res.Enqueued != len(want) || res.Skipped != 1 || res.Failed != 0 || res.Stopped || res.Mode != "due" || !res.Until.Equal(t0) {
		t.Errorf("result = %+v", res)
	}
	if len(res.Parts) != store.Shards {
		t.Fatalf("%d parts, want one per shard", len(res.Parts))
	}
	sum := 0
	for i, p := range res.Parts {
		sum += p.Enqueued
		if p.Part != fmt.Sprintf("shard %d", i) || !p.Done {
			t.Errorf("part %d = %+v", i, p)
		}
	}
	if sum != res.Enqueued {
		t.Errorf("shards enqueued %d in all, result says %d", sum, res.Enqueued)
	}
	if n := w.st.tenantReads.Load(); n != int32(w.tenants+1) {
		t.Errorf("%d tenant reads, want one per tenant (%d)", n, w.tenants+1)
	}
	if n := rec.Count("swept"); n != store.Shards {
		t.Errorf("logged %d shard counts, want %d", n, store.Shards)
	}
	for _, id := range w.extIDs {
		if strings.Contains(logs.String(), id) {
			t.Error("logs disclose an external ID")
		}
	}
}

func TestAll(t *testing.T) {
	w := newWorld(t)
	q := queue.NewMemory()
	res, err := newSweeper(w, q, nil).Handle(context.Background(), sweep.Input{Mode: "all"})
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, q)
	want := wantEnqueued(t, jobs, w.live)
	for _, j := range jobs {
		if j.Why != probe.WhyRequested {
			t.Errorf("why = %s", j.Why)
		}
	}
	if res.Mode != "all" || res.Enqueued != len(want) || len(res.Parts) != 4 {
		t.Errorf("result = %+v", res)
	}
	// A sweep whose context has ended reads and enqueues nothing.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	q = queue.NewMemory()
	if res, err := newSweeper(w, q, nil).All(done); !errors.Is(err, context.Canceled) || res.Enqueued != 0 || len(drain(t, q)) != 0 {
		t.Errorf("a sweep after its context ended = %+v, %v", res, err)
	}
}

func TestHandleModes(t *testing.T) {
	w := newWorld(t)
	for _, sample := range []string{"scheduled", "all"} {
		b, err := os.ReadFile("../../events/sweep/" + sample + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var in sweep.Input
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		res, err := newSweeper(w, queue.NewMemory(), nil).Handle(context.Background(), in)
		if err != nil || res.Enqueued == 0 {
			t.Errorf("%s sample: %+v, %v", sample, res, err)
		}
	}
	res, err := newSweeper(w, queue.NewMemory(), nil).Handle(context.Background(), sweep.Input{})
	if err != nil || res.Mode != "due" {
		t.Errorf("empty input: %+v, %v", res, err)
	}
	if _, err := newSweeper(w, queue.NewMemory(), nil).Handle(context.Background(), sweep.Input{Mode: "everything"}); err == nil {
		t.Error("unknown mode accepted")
	}
}

// slowQueue takes a while per send.
type slowQueue struct {
	*queue.Memory
	delay time.Duration
	sends atomic.Int32
}

func (s *slowQueue) Send(ctx context.Context, jobs []probe.Job) error {
	s.sends.Add(1)
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return &queue.SendError{Failed: seq(len(jobs)), Err: ctx.Err()}
	}
	return s.Memory.Send(ctx, jobs)
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestDueStopsBeforeTheDeadline: a sweep whose sends are slow stops Margin
// before its context's deadline, exactly, without error; what it did not
// enqueue is still due. In a synctest bubble the queue's 40ms per send and
// the deadline are simulated, so the times below are exact.
func TestDueStopsBeforeTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		q := &slowQueue{Memory: queue.NewMemory(), delay: 40 * time.Millisecond}
		s := newSweeper(w, q, nil)
		s.PageSize = 1
		s.Margin = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := s.Due(ctx)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("a sweep stopped by its deadline is not an error: %v", err)
		}
		// Sends end at 40ms and 80ms; the third is cut at 100ms.
		if !res.Stopped || res.Enqueued != 2*queue.MaxBatch || res.Failed != queue.MaxBatch || took != 100*time.Millisecond {
			t.Fatalf("result = %+v after %s; want stopped at 100ms (deadline less margin) with 2 batches enqueued", res, took)
		}
		if ctx.Err() != nil {
			t.Error("the sweep used up its whole deadline")
		}
		if got := len(drain(t, q.Memory)); got != res.Enqueued {
			t.Errorf("queue holds %d jobs, result says %d", got, res.Enqueued)
		}
		// The rest is still due: the next sweep finds it.
		res2, err := newSweeper(w, queue.NewMemory(), nil).Due(context.Background())
		if err != nil || res2.Enqueued != len(w.due) {
			t.Errorf("next sweep = %+v, %v; want every due connection again (none was checked)", res2, err)
		}
	})
}

// TestSweepFailures: in both modes a store or queue failure fails the sweep
// with an error naming what failed, and what was not enqueued stays due;
// jobs the queue refuses one by one are counted, not fatal; a failing shard
// fails a due sweep while the other shards finish.
func TestSweepFailures(t *testing.T) {
	rejectEveryFifth := func() sweep.Queue { return &refusingQueue{Memory: queue.NewMemory(), every: 5} }
	unreachable := func() sweep.Queue { return failingQueue{} }
	failTenant := func(w *world) { w.st.failTenant = "globex" }
	tests := []struct {
		name    string
		mode    string
		setup   func(w *world)
		queue   func() sweep.Queue
		wantErr string // "" for none
		check   func(t *testing.T, res sweep.Result)
	}{
		{"due: a failing shard", sweep.ModeDue, func(w *world) { w.st.failShard = 3 }, nil, "shard 3: read page", func(t *testing.T, res sweep.Result) {
			for i, p := range res.Parts {
				if p.Done == (i == 3) {
					t.Errorf("part %d done = %v", i, p.Done)
				}
			}
			if res.Enqueued == 0 {
				t.Error("the other shards enqueued nothing")
			}
		}},
		{"due: a tenant read fails", sweep.ModeDue, failTenant, nil, "read tenant globex", nil},
		{"all: a tenant read fails", sweep.ModeAll, failTenant, nil, "read tenant globex", nil},
		{"all: listing fails", sweep.ModeAll, func(w *world) { w.st.failList = true }, nil, "read page", nil},
		{"due: an unreachable queue", sweep.ModeDue, nil, unreachable, "send jobs: sqs: access denied", nil},
		{"all: an unreachable queue", sweep.ModeAll, nil, unreachable, "send jobs: sqs: access denied", nil},
		{"due: refused jobs are counted", sweep.ModeDue, nil, rejectEveryFifth, "", nil},
		{"all: refused jobs are counted", sweep.ModeAll, nil, rejectEveryFifth, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			var q sweep.Queue = queue.NewMemory()
			if tt.queue != nil {
				q = tt.queue()
			}
			want := w.due
			if tt.mode == sweep.ModeAll {
				want = w.live
			}
			s := newSweeper(w, q, nil)
			s.PageSize = 0 // the default page
			res, err := s.Handle(context.Background(), sweep.Input{Mode: tt.mode})
			if m, ok := memoryOf(q); ok && len(drain(t, m)) != res.Enqueued {
				t.Fatalf("the queue does not hold the %d jobs the result reports", res.Enqueued)
			}
			if res.Stopped {
				t.Fatalf("result = %+v: a failure is not a stop at the deadline", res)
			}
			if tt.wantErr == "" {
				if err != nil || res.Failed == 0 || res.Failed+res.Enqueued != len(want) {
					t.Fatalf("result = %+v, %v; want failed + enqueued = %d", res, err, len(want))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one with %q", err, tt.wantErr)
			}
			if res.Enqueued >= len(want) {
				t.Fatalf("result = %+v: everything enqueued despite the failure", res)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

// refusingQueue refuses every every-th job sent with sender fault, as SQS
// refuses an entry it will not take (the queue's Send reports such jobs in
// a *queue.SendError), and sends the rest to the Memory queue.
type refusingQueue struct {
	*queue.Memory
	every int32
	n     atomic.Int32
}

func (q *refusingQueue) Send(ctx context.Context, jobs []probe.Job) error {
	var kept []probe.Job
	var refused []int
	for i, j := range jobs {
		if q.n.Add(1)%q.every == 0 {
			refused = append(refused, i)
			continue
		}
		kept = append(kept, j)
	}
	if err := q.Memory.Send(ctx, kept); err != nil {
		return err
	}
	if len(refused) == 0 {
		return nil
	}
	return &queue.SendError{Failed: refused, Err: queue.EntryFailure{Code: "InvalidMessageContents", Message: "refused by the test", SenderFault: true}}
}

// memoryOf is the Memory queue that holds what q enqueued, if any.
func memoryOf(q sweep.Queue) (*queue.Memory, bool) {
	switch q := q.(type) {
	case *queue.Memory:
		return q, true
	case *refusingQueue:
		return q.Memory, true
	}
	return nil, false
}

type failingQueue struct{}

func (failingQueue) Send(context.Context, []probe.Job) error { return errors.New("sqs: access denied") }

func TestTenantReadsAreShared(t *testing.T) {
	// Concurrent shards asking for the same tenant read it once, also
	// when every shard query takes a while (simulated in the bubble).
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		w.st.delay = 5 * time.Millisecond
		if _, err := newSweeper(w, queue.NewMemory(), nil).Due(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := w.st.tenantReads.Load(); n != int32(w.tenants+1) {
			t.Errorf("%d tenant reads, want %d", n, w.tenants+1)
		}
	})
}

// TestQuietSweepsLogAtDebug: a sweep that finds nothing due writes its
// summary at Debug only; one that enqueues writes it at Info.
func TestQuietSweepsLogAtDebug(t *testing.T) {
	for _, tc := range []struct {
		name     string
		empty    bool
		wantInfo bool
	}{
		{"nothing due", true, false},
		{"checks enqueued", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.empty {
				w = &world{st: &countingStore{Memory: store.NewMemory(), failShard: -1}}
			}
			var info, debug bytes.Buffer
			s := newSweeper(w, queue.NewMemory(), nil)
			s.Log = slog.New(slog.NewJSONHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if _, err := s.Due(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.Log = slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
			if _, err := s.Due(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(info.String(), "sweep finished"); got != tc.wantInfo {
				t.Errorf("summary at Info: %v, want %v:\n%s", got, tc.wantInfo, info.String())
			}
			if !strings.Contains(debug.String(), "sweep finished") {
				t.Errorf("no summary even at Debug:\n%s", debug.String())
			}
		})
	}
}

// signatureRefusedQueue fails every send as SQS refuses a request's
// signature: its message goes on with the canonical request, whose signed
// headers hold the function's session token.
type signatureRefusedQueue struct{}

// errSQSRefused is the error signatureRefusedQueue's messages wrap.
var errSQSRefused = errors.New("operation error SQS: SendMessageBatch")

func (signatureRefusedQueue) Send(context.Context, []probe.Job) error {
	return fmt.Errorf("%w, https response error StatusCode: 403, api error InvalidSignatureException: The request signature we calculated does not match the signature you provided.\n\n"+
		"The Canonical String for this request should have been\n'POST\n/\n\nhost:sqs.eu-west-1.amazonaws.com\nx-amz-security-token:IQoJSECRET\n\nhost;x-amz-security-token\nabc'\n", errSQSRefused)
}

// TestHandleErrorLeavesOutTheSessionToken: the error Handle returns is
// what the Lambda runtime library prints to the function's log (and sends
// to X-Ray), outside the redacting logger: it keeps what went wrong and
// leaves out an AWS service's signing diagnostics, still matching the
// error it reports.
func TestHandleErrorLeavesOutTheSessionToken(t *testing.T) {
	w := newWorld(t)
	for _, mode := range []string{sweep.ModeDue, sweep.ModeAll} {
		_, err := newSweeper(w, signatureRefusedQueue{}, nil).Handle(context.Background(), sweep.Input{Mode: mode})
		if !errors.Is(err, errSQSRefused) || !strings.Contains(err.Error(), "InvalidSignatureException") {
			t.Fatalf("%s: err = %v, want the queue's refusal, matching it", mode, err)
		}
		if strings.Contains(err.Error(), "IQoJSECRET") {
			t.Errorf("%s: the session token is in the error Handle returns: %q", mode, err)
		}
	}
}
