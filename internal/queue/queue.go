// Package queue carries check jobs (probe.Job, one per message) to the
// verify worker.
//
// Queue is the port: Send enqueues any number of jobs, in batches of
// MaxBatch, retrying the entries the queue refused for a reason on its side,
// and reports the jobs it could not enqueue with a *SendError. Two adapters
// implement it and pass the same contract suite (queuetest): SQS
// (aws-sdk-go-v2's SendMessageBatch, plus ChangeVisibility for the worker's
// backoff, and Receive and Delete for `rolecall serve --aws --queue-url`)
// and Memory, the in-process queue of `rolecall serve`, with receive
// counts, visibility timeouts and a dead-letter list like SQS. Both receive
// with long polls and hand on each message's body as sent.
package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/batch"
	"github.com/rolecall/rolecall/internal/probe"
)

// MaxBatch is the most messages one batch call takes (SQS's limit).
const MaxBatch = 10

// Queue is the port.
type Queue interface {
	// Send enqueues jobs. When some could not be enqueued it returns a
	// *SendError naming them; the others were enqueued.
	Send(ctx context.Context, jobs []probe.Job) error
}

// Errors, matched with errors.Is.
var (
	// ErrReceiptHandle: a receipt handle that is not the current one of a
	// message in flight.
	ErrReceiptHandle = errors.New("receipt handle is invalid")
)

// SendError reports the jobs Send could not enqueue.
type SendError struct {
	Failed []int // indexes into the jobs passed to Send, ascending
	Err    error // the reasons, joined
}

func (e *SendError) Error() string {
	return fmt.Sprintf("%d job(s) not enqueued: %v", len(e.Failed), e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// EntryFailure is one batch entry the queue refused.
type EntryFailure struct {
	Index       int // into the batch
	Code        string
	Message     string
	SenderFault bool // the entry itself is at fault: retrying cannot help
}

func (f EntryFailure) Error() string {
	return fmt.Sprintf("entry %d: %s: %s", f.Index, f.Code, f.Message)
}

// batchFunc sends one batch of at most MaxBatch jobs.
type batchFunc func(ctx context.Context, batch []probe.Job) ([]EntryFailure, error)

// defaultRetries bounds the retries of refused entries when the adapter's
// options leave them unset.
var defaultRetries = backoff.Retries{Attempts: 3, Base: 50 * time.Millisecond}

// sendBatches splits jobs into batches and sends each, retrying exactly the
// entries refused without sender fault, in rounds with doubling backoff. A
// batch call that fails as a whole fails all its pending entries (the SDK
// has already retried it). After ctx is done nothing more is sent.
func sendBatches(ctx context.Context, jobs []probe.Job, r backoff.Retries, send batchFunc) error {
	r = r.Or(defaultRetries)
	all := make([]int, len(jobs))
	for i := range all {
		all[i] = i
	}
	policy := batch.Policy{Size: MaxBatch, Attempts: r.Attempts, Backoff: r.Base}
	unsent := batch.Send(ctx, all, policy, func(ctx context.Context, idx []int) ([]batch.Failure, error) {
		b := make([]probe.Job, len(idx))
		for k, i := range idx {
			b[k] = jobs[i]
		}
		fs, err := send(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("send batch of %d: %w", len(b), err)
		}
		out := make([]batch.Failure, len(fs))
		for k, f := range fs {
			out[k] = batch.Failure{Index: f.Index, Retryable: !f.SenderFault, Err: f}
		}
		return out, nil
	})
	if len(unsent) == 0 {
		return nil
	}
	failed := make([]int, len(unsent))
	for k, u := range unsent {
		failed[k] = u.Index
	}
	return &SendError{Failed: failed, Err: errors.Join(dedupe(unsent)...)}
}

// entryIndex is the index an EntryFailure's text names.
var entryIndex = regexp.MustCompile(`entry [0-9]+: `)

// dedupe keeps the first of the reasons that differ only in the entry they
// name, so one cause repeated over many entries is reported once.
func dedupe(unsent []batch.Unsent) []error {
	seen := map[string]bool{}
	var out []error
	for _, u := range unsent {
		k := entryIndex.ReplaceAllString(u.Err.Error(), "")
		if !seen[k] {
			seen[k] = true
			out = append(out, u.Err)
		}
	}
	return out
}
