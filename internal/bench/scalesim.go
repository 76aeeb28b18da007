package bench

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// simClock is the scale bench's virtual time. The event loop sets it
// (AdvanceTo); the limiter, the checker, the worker and the sweep read it.
// Nothing sleeps on it: the loop starts a check only when the limiter
// admits it (Limiter.Next), so Take never waits; a Sleep is a bug in the
// loop and fails the run.
type simClock struct {
	*testclock.Clock
	slept atomic.Int64
}

func newSimClock(t time.Time) *simClock { return &simClock{Clock: testclock.New(t)} }

// Sleep counts the wait and refuses it, leaving the clock where it is.
func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept.Add(1)
	return errors.New("simulated clock: a check waited for tokens the event loop said were there")
}

// simSTS is a sandbox-like STS in virtual time: every role trusts the
// partner with the tenant's external ID and denies calls without it or with
// another, and the account's quota throttles (code Throttling) any call
// that would make more than quota calls in a one-second window. It counts
// every call and the peak of any one-second window.
type simSTS struct {
	clock      *simClock
	quota      int
	externalID func(account string) string
	// other is the partner's other STS calls in the window ending at t.
	other func(t time.Time) int

	mu               sync.Mutex
	window           []int64 // call times in the last second, oldest first
	head             int
	calls, throttled int
	peak             int
}

var _ probe.Assumer = (*simSTS)(nil)

func (s *simSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	t := s.clock.Now()
	now := t.UnixNano()
	others := 0
	if s.other != nil {
		others = s.other(t)
	}
	s.mu.Lock()
	for s.head < len(s.window) && s.window[s.head] <= now-int64(time.Second) {
		s.head++
	}
	if s.head > 4096 && s.head*2 > len(s.window) {
		s.window = append(s.window[:0], s.window[s.head:]...)
		s.head = 0
	}
	s.calls++
	inWindow := len(s.window) - s.head
	s.window = append(s.window, now)
	s.peak = max(s.peak, inWindow+1)
	throttle := inWindow+others >= s.quota
	if throttle {
		s.throttled++
	}
	s.mu.Unlock()
	if throttle {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("Rate exceeded")}
	}
	role, err := rolearn.ParsePrincipal(in.RoleARN)
	if err != nil || role.Kind != rolearn.KindRole {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("not a role ARN")}
	}
	account := role.Account
	if in.ExternalID == "" || in.ExternalID != s.externalID(account) {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("not authorized to perform sts:AssumeRole")}
	}
	return probe.Session{AssumedRoleARN: role.SessionARN(in.SessionName), AccountID: account}, nil
}

// simQueue is one SQS queue in virtual time: the sweep (or the bus) sends
// jobs, the instances take them in order. It counts its requests as SQS
// would bill them.
type simQueue struct {
	jobs     []queued
	head     int
	notify   func()
	clock    *simClock
	batches  int // SendMessageBatch requests
	inFlight int // taken by an instance, check not done
}

type queued struct {
	job      probe.Job
	receives int
	sentAt   time.Time
}

func (q *simQueue) Send(ctx context.Context, jobs []probe.Job) error {
	q.batches++
	for _, j := range jobs {
		q.jobs = append(q.jobs, queued{job: j, sentAt: q.clock.Now()})
	}
	if q.notify != nil {
		q.notify()
	}
	return nil
}

func (q *simQueue) push(m queued) {
	q.jobs = append(q.jobs, m)
	if q.notify != nil {
		q.notify()
	}
}

func (q *simQueue) len() int { return len(q.jobs) - q.head }

// Waiting is what the sweep asks SQS: the jobs not yet taken or in flight.
func (q *simQueue) Waiting(context.Context) (queue.Backlog, error) {
	return queue.Backlog{Visible: q.len(), NotVisible: q.inFlight}, nil
}

func (q *simQueue) pop() queued {
	m := q.jobs[q.head]
	q.jobs[q.head] = queued{}
	q.head++
	if q.head > 1<<16 && q.head*2 > len(q.jobs) {
		q.jobs = append(q.jobs[:0], q.jobs[q.head:]...)
		q.head = 0
	}
	return m
}

// processor is what an instance runs a job with (verify.Worker.Process).
type processor interface {
	Process(ctx context.Context, job probe.Job, receiveCount int) (time.Duration, error)
}

// simInstance is one verify instance: its own limiter (its share of the
// budget) and worker, running up to slots checks at once from its queue.
type simInstance struct {
	limiter  *stsbudget.Regions
	worker   processor
	queue    *simQueue
	slots    int
	inFlight int
	gen      int
	wakeAt   time.Time
	waking   bool
	// busySince and busy: the time with a check in flight, for Lambda's
	// GB-seconds.
	busySince time.Time
	busy      time.Duration
}

// simEvent is one thing the loop does at a virtual time.
type simEvent struct {
	at   time.Time
	seq  int
	do   func(at time.Time)
	inst *simInstance
	gen  int
}

type simEvents []*simEvent

func (e simEvents) Len() int { return len(e) }
func (e simEvents) Less(i, j int) bool {
	if c := e[i].at.Compare(e[j].at); c != 0 {
		return c < 0
	}
	return e[i].seq < e[j].seq
}
func (e simEvents) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *simEvents) Push(x any)   { *e = append(*e, x.(*simEvent)) }
func (e *simEvents) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// simLoop is the virtual-time event loop.
type simLoop struct {
	clock  *simClock
	events simEvents
	seq    int
	// busy is how long a check holds its slot: its STS round trips.
	busy time.Duration
	// onCheck observes every check an instance starts, at its start.
	onCheck func(at time.Time, m queued)
	errs    int
	lastErr error
}

func (l *simLoop) at(t time.Time, do func(time.Time)) {
	l.seq++
	heap.Push(&l.events, &simEvent{at: t, seq: l.seq, do: do})
}

// wake schedules inst to look at its queue at t, unless it already will by
// then.
func (l *simLoop) wake(inst *simInstance, t time.Time) {
	if inst.waking && !inst.wakeAt.After(t) {
		return
	}
	inst.gen++
	inst.waking, inst.wakeAt = true, t
	l.seq++
	heap.Push(&l.events, &simEvent{at: t, seq: l.seq, inst: inst, gen: inst.gen})
}

// run processes events until end.
func (l *simLoop) run(ctx context.Context, end time.Time) error {
	for l.events.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := heap.Pop(&l.events).(*simEvent)
		if e.at.After(end) {
			heap.Push(&l.events, e)
			return nil
		}
		l.clock.AdvanceTo(e.at)
		if e.inst == nil {
			e.do(e.at)
			continue
		}
		if e.gen != e.inst.gen {
			continue // superseded by an earlier wake
		}
		e.inst.waking = false
		l.step(ctx, e.inst, e.at)
	}
	return nil
}

// step starts the checks inst has slots and tokens for, and schedules its
// next look.
func (l *simLoop) step(ctx context.Context, inst *simInstance, now time.Time) {
	for inst.inFlight < inst.slots && inst.queue.len() > 0 {
		if next := inst.limiter.Next(stsbudget.CallsPerCheck); next.After(now) {
			l.wake(inst, next)
			return
		}
		m := inst.queue.pop()
		inst.queue.inFlight++
		if l.onCheck != nil {
			l.onCheck(now, m)
		}
		m.receives++
		d, err := inst.worker.Process(ctx, m.job, m.receives)
		if err != nil && d == 0 {
			l.errs++
			l.lastErr = err
		}
		if d > 0 {
			// Delivered again after d, as the worker asked.
			l.at(now.Add(d), func(time.Time) { inst.queue.push(m) })
		}
		if inst.inFlight == 0 {
			inst.busySince = now
		}
		inst.inFlight++
		l.at(now.Add(l.busy), func(t time.Time) {
			inst.inFlight--
			inst.queue.inFlight--
			if inst.inFlight == 0 {
				inst.busy += t.Sub(inst.busySince)
			}
			l.wake(inst, t)
		})
	}
}

// busyTotal is the instances' time with a check in flight up to now.
func (l *simLoop) busyTotal(insts []*simInstance, now time.Time) time.Duration {
	var d time.Duration
	for _, in := range insts {
		d += in.busy
		if in.inFlight > 0 {
			d += now.Sub(in.busySince)
		}
	}
	return d
}

// report is what the simulated STS saw.
func (s *simSTS) report() (calls, throttled, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.throttled, s.peak
}

// verifiedConnection is connection i of a bulk load: VERIFIED, last checked
// an interval before it is due.
func verifiedConnection(p connection.Policy, i, tenants int, due time.Time) (connection.Transition, error) {
	acct := fmt.Sprintf("%012d", 300000000000+i)
	tid := fmt.Sprintf("tenant-%04d", i%tenants)
	arn, err := rolearn.Parse("arn:aws:iam::"+acct+":role/RoleCall", rolearn.Rules{})
	if err != nil {
		return connection.Transition{}, err
	}
	tr := p.Submit(nil, tid, arn, 1, due.Add(-2*p.VerifiedInterval))
	tr.After.Status, tr.Event.Status = connection.Verified, connection.Verified
	tr.After.VerifiedAt = due.Add(-p.VerifiedInterval)
	tr.After.LastCheckedAt = due.Add(-p.VerifiedInterval)
	tr.After.NextCheckAt = due
	tr.After.ExternalIDVersion = 1
	return tr, nil
}
