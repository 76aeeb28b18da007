package sweep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// verifiedWorld stores n VERIFIED connections of one tenant, due at
// dueAt(i).
func verifiedWorld(t *testing.T, n int, dueAt func(i int) time.Time) *store.Memory {
	t.Helper()
	st, _ := acmeStore(t)
	for i := range n {
		acct := fmt.Sprintf("%012d", 200000000000+i)
		storeVerified(t, st, "arn:aws:iam::"+acct+":role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), dueAt(i))
	}
	return st
}

func TestDueIsOldestFirstAcrossShardsAndCapped(t *testing.T) {
	const n = 200
	// Connection i became due i seconds before t0: the order across
	// shards is the reverse of the accounts'.
	st := verifiedWorld(t, n, func(i int) time.Time { return t0.Add(-time.Duration(i) * time.Second) })
	for _, tc := range []struct {
		name       string
		perSecond  float64
		every      time.Duration
		wantChecks int
	}{
		{"cap of 49 (0.98 of 50)", 50.0 / 60, time.Minute, 49},
		{"cap of 1", 0.01, time.Minute, 1},
		{"cap above what is due", 100, time.Minute, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queue.NewMemory()
			var logs bytes.Buffer
			s := &sweep.Sweeper{Store: st, Queue: q, PageSize: 7, Now: func() time.Time { return t0 },
				ChecksPerSecond: tc.perSecond, Every: tc.every, Interval: time.Hour,
				Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			res, err := s.Due(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			jobs := drain(t, q)
			if len(jobs) != tc.wantChecks || res.Enqueued != tc.wantChecks {
				t.Fatalf("enqueued %d (result %d), want %d", len(jobs), res.Enqueued, tc.wantChecks)
			}
			// Oldest first: the jobs are connections n-1, n-2, ... in order.
			for k, j := range jobs {
				if want := fmt.Sprintf("%012d", 200000000000+n-1-k); j.Connection.AccountID != want {
					t.Fatalf("job %d is %s, want %s (oldest due first)", k, j.Connection.AccountID, want)
				}
			}
			paced := tc.wantChecks < n
			if res.Paced != paced {
				t.Fatalf("paced %v, want %v", res.Paced, paced)
			}
			wantAge := time.Duration(n-1-tc.wantChecks) * time.Second
			if !paced {
				wantAge = 0
			}
			if res.BacklogAge != wantAge || res.MaxLag != time.Duration(n-1)*time.Second {
				t.Errorf("backlog age %s, max lag %s; want %s and %s", res.BacklogAge, res.MaxLag, wantAge, time.Duration(n-1)*time.Second)
			}
			meanLag := time.Duration(0)
			for k := range tc.wantChecks {
				meanLag += time.Duration(n-1-k) * time.Second
			}
			meanLag /= time.Duration(tc.wantChecks)
			wantInterval := time.Hour + meanLag
			if paced {
				wantInterval += tc.every / 2
			}
			if res.MeanLag != meanLag || res.EffectiveInterval != wantInterval {
				t.Errorf("mean lag %s, effective interval %s; want %s, %s", res.MeanLag, res.EffectiveInterval, meanLag, wantInterval)
			}
			// The last line is an embedded-metric-format record.
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
				t.Fatal(err)
			}
			aws, _ := rec["_aws"].(map[string]any)
			cwm, _ := aws["CloudWatchMetrics"].([]any)
			if len(cwm) != 1 || rec["msg"] != "sweep finished" {
				t.Fatalf("last log line is not a metric record: %s", lines[len(lines)-1])
			}
			for _, m := range cwm[0].(map[string]any)["Metrics"].([]any) {
				name := m.(map[string]any)["Name"].(string)
				if _, ok := rec[name].(float64); !ok {
					t.Errorf("metric %s has no value in the record", name)
				}
			}
			if rec["BacklogAgeSeconds"] != wantAge.Seconds() || rec["EnqueuedChecks"] != float64(tc.wantChecks) {
				t.Errorf("metric values %v, %v; want %v, %d", rec["BacklogAgeSeconds"], rec["EnqueuedChecks"], wantAge.Seconds(), tc.wantChecks)
			}
			if got, want := rec["BacklogChecks"], float64(int(tc.perSecond*wantAge.Seconds())); paced && got != want {
				t.Errorf("backlog %v, want %v", got, want)
			}
		})
	}
}

// TestBacklogStretchesIntervalsEvenly runs sweeps every simulated 5 minutes
// over twice as many connections as the budget can check hourly; every
// enqueued job is checked (and its next check scheduled by the lifecycle
// policy, with its jitter) at once. Once the first backlog is worked off,
// every connection waits about as long as every other: max lag ÷ mean lag
// ≤ 1.2, every connection is checked, and the sweep reports the interval
// they settle at.
func TestBacklogStretchesIntervalsEvenly(t *testing.T) {
	const n = 1000
	const perHour = 500.0
	st := verifiedWorld(t, n, func(i int) time.Time { return t0.Add(-time.Duration(i) * time.Hour / n) })
	p := connection.DefaultPolicy()
	q := queue.NewMemory()
	now := t0
	s := &sweep.Sweeper{Store: st, Queue: q, PageSize: 100, Now: func() time.Time { return now },
		ChecksPerSecond: perHour / 3600, Every: 5 * time.Minute, Interval: p.VerifiedInterval, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	settled := t0.Add(6 * time.Hour)
	lags := map[string][]time.Duration{}
	var last sweep.Result
	for now.Before(t0.Add(14 * time.Hour)) {
		res, err := s.Due(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last = res
		for _, j := range drain(t, q) {
			c := j.Connection
			checked := now.Add(30 * time.Second)
			tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: j.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: checked})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Apply(ctx, tr); err != nil {
				t.Fatal(err)
			}
			if !checked.Before(settled) {
				lags[c.AccountID] = append(lags[c.AccountID], checked.Sub(c.NextCheckAt))
			}
		}
		now = now.Add(s.Every)
	}
	if len(lags) != n {
		t.Fatalf("%d of %d connections checked after the backlog settled: some starve", len(lags), n)
	}
	var all []time.Duration
	for _, l := range lags {
		all = append(all, l...)
	}
	var sum time.Duration
	for _, l := range all {
		sum += l
	}
	mean, worst := sum/time.Duration(len(all)), slices.Max(all)
	if ratio := worst.Seconds() / mean.Seconds(); ratio > 1.2 {
		t.Fatalf("max lag %s ÷ mean lag %s = %.2f > 1.2", worst, mean, ratio)
	}
	// Twice the connections the budget checks hourly: intervals settle
	// near two hours (Fill of the budget is enqueued).
	hours := float64(n) / (perHour * sweep.Fill)
	want := time.Duration(hours * float64(time.Hour))
	if !last.Paced || last.EffectiveInterval < want*95/100 || last.EffectiveInterval > want*105/100 {
		t.Fatalf("last sweep: paced %v, effective interval %s; want paced, about %s", last.Paced, last.EffectiveInterval, want)
	}
	if last.Backlog <= 0 {
		t.Errorf("a paced sweep reports a backlog of %d", last.Backlog)
	}
	t.Logf("mean lag %s, max lag %s, effective interval %s, backlog %d", mean, worst, last.EffectiveInterval, last.Backlog)
}

// waitingQueue is a queue that says jobs still wait in it.
type waitingQueue struct {
	*queue.Memory
	waiting  int // not received yet
	received int // received: checks running, or redeliveries delayed
	err      error
}

func (w waitingQueue) Waiting(context.Context) (queue.Backlog, error) {
	return queue.Backlog{Visible: w.waiting, NotVisible: w.received}, w.err
}

func TestDueEnqueuesTheCapLessWhatStillWaits(t *testing.T) {
	st := verifiedWorld(t, 100, func(i int) time.Time { return t0.Add(-time.Duration(i) * time.Second) })
	for _, tc := range []struct {
		name     string
		waiting  int
		received int
		err      error
		want     int
	}{
		{"nothing waits: the cap", 0, 0, nil, 49},
		{"40 wait: 9 more", 40, 0, nil, 9},
		{"more than the cap waits: none", 80, 0, nil, 0},
		{"the queue cannot tell: the cap", 0, 0, fmt.Errorf("sqs: throttled"), 49},
		// Received messages (running, or delayed redeliveries of
		// connections due only after them) lower the cap but are not
		// taken for the oldest due: those are enqueued first.
		{"30 received: the 19 oldest", 0, 30, nil, 19},
		{"10 wait, 30 received: 9 after the 10 oldest", 10, 30, nil, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := waitingQueue{Memory: queue.NewMemory(), waiting: tc.waiting, received: tc.received, err: tc.err}
			s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler),
				ChecksPerSecond: 50.0 / 60, Every: time.Minute}
			res, err := s.Due(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			jobs := drain(t, q.Memory)
			if res.Enqueued != tc.want || len(jobs) != tc.want || !res.Paced {
				t.Fatalf("enqueued %d (paced %v), want %d", res.Enqueued, res.Paced, tc.want)
			}
			// The oldest tc.waiting are taken to be queued already: the
			// jobs are the next oldest.
			for k, j := range jobs {
				if want := fmt.Sprintf("%012d", 200000000000+99-tc.waiting-k); j.Connection.AccountID != want {
					t.Fatalf("job %d is %s, want %s", k, j.Connection.AccountID, want)
				}
			}
		})
	}
}

// TestDelayedRedeliveryDoesNotStarveTheOldestDue: a redelivery the worker
// delayed (ChangeVisibility) is counted by SQS as not visible, and its
// connection was made due after it; the sweep does not take it for the
// oldest due connection, which it enqueues.
func TestDelayedRedeliveryDoesNotStarveTheOldestDue(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	x := storeVerified(t, st, "arn:aws:iam::300000000000:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0.Add(10*time.Minute))
	storeVerified(t, st, "arn:aws:iam::300000000001:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0.Add(-time.Minute))
	storeVerified(t, st, "arn:aws:iam::300000000002:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0)

	fake := awsfake.NewSQS()
	q := &queue.SQS{Client: sqs.NewFromConfig(awsfake.Serve(t, fake, 1)), QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/rolecall-verify"}
	if err := q.Send(ctx, probe.JobsFor(x, tn, probe.WhyScheduled, t0)); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %v", msgs, err)
	}
	if err := q.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 5*time.Minute); err != nil {
		t.Fatal(err)
	}

	s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler),
		ChecksPerSecond: 10, Every: time.Minute, Interval: connection.DefaultPolicy().VerifiedInterval}
	res, err := s.Due(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, m := range fake.Messages()[1:] {
		var j probe.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, j.Connection.AccountID)
	}
	if len(sent) != 2 {
		t.Fatalf("the sweep (waiting %d) enqueued %v; want both due connections, 300000000001 (due longest) and 300000000002", res.Waiting, sent)
	}
}
