package sweep

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
)

// Fill is the share of what the budget serves between two sweeps that a
// sweep enqueues: the rest covers the verify function's polling and batch
// gaps, so a sweep's jobs are done before the next sweep would find them
// still due and queue them a second time.
const Fill = 0.98

// DefaultEvery is how often the schedule runs due sweeps.
const DefaultEvery = time.Minute

// MaxChecks is the most routine checks a due sweep enqueues: what the STS
// budget serves until the next sweep (0: no limit).
func (s *Sweeper) MaxChecks() int {
	if s.ChecksPerSecond <= 0 || s.Every <= 0 {
		return 0
	}
	return max(1, int(s.ChecksPerSecond*s.Every.Seconds()*Fill))
}

// Waiting is a queue that says how many jobs are not done yet
// (queue.SQS). A capped sweep enqueues MaxChecks less all of them, so that
// a verify side slowed down (throttling) is not given more than it serves.
// The visible ones, not received yet, are the oldest due connections
// (earlier sweeps enqueued oldest first, and what they left is younger):
// the sweep passes over that many before it enqueues, so that they are not
// queued twice. The received ones are not passed over: they are checks
// running now, or redeliveries a worker delayed (transient errors, IAM
// propagation), whose connections it made due only after them; passing
// over as many of the oldest due would leave those waiting for as long as
// the redeliveries do. A check running now may thus be queued again, and
// that job, finding the connection checked since, is dropped.
type Waiting interface {
	Waiting(ctx context.Context) (queue.Backlog, error)
}

// Due enqueues the connections due now, oldest-due first across every
// shard, and no more than MaxChecks less the jobs still waiting: when more
// is due than the budget serves, the oldest wait least, so every
// connection's interval stretches by the same lag and none starves.
func (s *Sweeper) Due(ctx context.Context) (Result, error) {
	until := s.now()
	work, cancel := s.bounded(ctx)
	defer cancel()
	res := Result{Mode: ModeDue, Until: until, Parts: make([]PartCount, store.Shards)}
	limit := s.PageSize
	if limit <= 0 {
		limit = 100
	}
	if m := s.MaxChecks(); m > 0 {
		// Oldest-first takes about as many from every shard: pages of a
		// quarter more than a shard's part of the cap read few items the
		// sweep then leaves (and reads again next time).
		limit = min(limit, m/store.Shards+m/(4*store.Shards)+1)
	}
	readers := make([]*shardReader, store.Shards)
	var wg sync.WaitGroup
	for i := range readers {
		res.Parts[i].Part = fmt.Sprintf("shard %d", i)
		readers[i] = &shardReader{shard: i, part: &res.Parts[i]}
		wg.Go(func() { readers[i].fill(work, s.Store, until, limit) })
	}
	wg.Wait()
	h := &dueHeap{}
	for _, r := range readers {
		if len(r.items) > 0 {
			*h = append(*h, r)
		}
	}
	heap.Init(h)

	tenants := &tenantCache{store: s.Store, m: map[string]*tenantEntry{}, now: s.now(), log: s.log()}
	maxChecks := s.MaxChecks()
	capped := maxChecks > 0
	skip := 0
	if w, ok := s.Queue.(Waiting); ok && capped {
		b, err := w.Waiting(work)
		if err != nil {
			s.log().Warn("cannot tell how many jobs wait; enqueuing the full cap", "error", err)
		} else {
			res.Waiting, skip = b.Total(), b.Visible
			maxChecks = max(0, maxChecks-b.Total())
		}
	}
	var (
		batch   []probe.Job
		parts   []int // the part of each job of batch
		lagSum  time.Duration
		sendErr error
	)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		err := s.Queue.Send(work, batch)
		var se *queue.SendError
		failed := map[int]bool{}
		switch {
		case err == nil:
		case errors.As(err, &se):
			for _, i := range se.Failed {
				failed[i] = true
			}
			if work.Err() == nil {
				s.log().Error("jobs not enqueued; they stay due", "count", len(se.Failed), "error", err)
			}
		default:
			for i := range batch {
				failed[i] = true
			}
			sendErr = fmt.Errorf("send jobs: %w", err)
		}
		for i, j := range batch {
			p := &res.Parts[parts[i]]
			if failed[i] {
				p.Failed++
				res.Failed++
				continue
			}
			p.Enqueued++
			res.Enqueued++
			lag := max(0, until.Sub(j.Connection.NextCheckAt))
			lagSum += lag
			res.MaxLag = max(res.MaxLag, lag)
		}
		batch, parts = batch[:0], parts[:0]
		return sendErr == nil && work.Err() == nil
	}
	for h.Len() > 0 && (!capped || res.Enqueued+res.Failed+len(batch) < maxChecks) {
		if work.Err() != nil {
			break
		}
		r := (*h)[0]
		c := r.items[0]
		r.items = r.items[1:]
		if len(r.items) == 0 {
			r.fill(work, s.Store, until, limit)
			if len(r.items) == 0 {
				heap.Pop(h)
			} else {
				heap.Fix(h, 0)
			}
		} else {
			heap.Fix(h, 0)
		}
		if !c.Live() {
			continue
		}
		if skip > 0 {
			skip-- // already queued
			continue
		}
		t, err := tenants.get(work, c.TenantID)
		if errors.Is(err, store.ErrNotFound) {
			res.Parts[r.shard].Skipped++
			res.Skipped++
			s.log().Warn("connection of an unknown tenant skipped", "tenantId", c.TenantID, "accountId", c.AccountID)
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("read tenant %s: %w", c.TenantID, err)
			break
		}
		// The role in use's job, and its candidate's while one waits; a
		// batch never holds more than SQS takes in one call.
		jobs := probe.JobsFor(c, t, probe.WhyScheduled, s.now())
		if len(batch)+len(jobs) > queue.MaxBatch && !flush() {
			break
		}
		for _, j := range jobs {
			batch = append(batch, j)
			parts = append(parts, r.shard)
		}
		if len(batch) == queue.MaxBatch && !flush() {
			break
		}
	}
	flush()
	if res.Enqueued > 0 {
		res.MeanLag = lagSum / time.Duration(res.Enqueued)
	}
	if h.Len() > 0 && capped && res.Enqueued+res.Failed >= maxChecks {
		// Paced: what is left waits for the next sweep. The oldest left
		// says how far behind the schedule the budget is.
		res.Paced = true
		res.BacklogAge = max(0, until.Sub((*h)[0].items[0].NextCheckAt))
		res.Backlog = int(s.ChecksPerSecond * res.BacklogAge.Seconds())
	}
	for _, r := range readers {
		r.part.Done = r.done && len(r.items) == 0 && r.err == nil
	}
	var failures []error
	for i, r := range readers {
		if r.err != nil && !(work.Err() != nil && ctx.Err() == nil && errors.Is(r.err, context.DeadlineExceeded)) {
			failures = append(failures, fmt.Errorf("%s: %w", res.Parts[i].Part, r.err))
		}
	}
	if sendErr != nil {
		failures = append(failures, sendErr)
	}
	if work.Err() == nil {
		n, err := s.settleGraces(work, until, tenants)
		res.RotationsCompleted = n
		if err != nil {
			failures = append(failures, err)
		}
	}
	res.Stopped = work.Err() != nil && !res.Paced && h.Len() > 0
	if s.Interval > 0 {
		res.EffectiveInterval = s.Interval + res.MeanLag
		if res.Paced {
			// A paced sweep's jobs are checked over the next Every, at the
			// budget's pace: on average Every/2 after they were enqueued.
			res.EffectiveInterval += s.Every / 2
		}
	}
	s.report(res)
	if len(failures) > 0 {
		return res, fmt.Errorf("sweep %s: %w", ModeDue, errors.Join(failures...))
	}
	return res, nil
}

// shardReader pages through one shard of the due index.
type shardReader struct {
	shard  int
	part   *PartCount
	items  []connection.Connection
	cursor string
	done   bool // no page left to read
	err    error
}

// fill reads the shard's next page, if there is one; a failure ends the
// shard for this sweep.
func (r *shardReader) fill(ctx context.Context, st Store, until time.Time, limit int) {
	if r.done || r.err != nil {
		return
	}
	if err := ctx.Err(); err != nil {
		r.err = err
		return
	}
	page, err := st.Due(ctx, r.shard, until, r.cursor, limit)
	if err != nil {
		r.err = fmt.Errorf("read page: %w", err)
		return
	}
	r.items, r.cursor, r.done = page.Items, page.Cursor, page.Cursor == ""
}

// dueHeap orders shard readers by their next connection's due time.
type dueHeap []*shardReader

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	a, b := h[i].items[0], h[j].items[0]
	if c := a.NextCheckAt.Compare(b.NextCheckAt); c != 0 {
		return c < 0
	}
	return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.AccountID, b.AccountID)) < 0
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(*shardReader)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
