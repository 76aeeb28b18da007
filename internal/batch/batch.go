// Package batch sends entries to a batch API (EventBridge PutEvents, SQS
// SendMessageBatch, DynamoDB BatchGetItem) and retries exactly the entries
// the service refused as transient, in rounds with a doubling backoff. The
// EventBridge publisher, the SQS sender and the DynamoDB store's batch
// reads share it, so they split, retry and give up alike.
package batch

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
)

// Failure is one entry of a call the service refused.
type Failure struct {
	Index     int   // into the batch passed to the send function
	Retryable bool  // sending it again may succeed
	Err       error // why, as the caller reports it
}

// Policy bounds the batches and the retries.
type Policy struct {
	Size     int           // entries per call, at least 1
	Attempts int           // sends per entry, at least 1
	Backoff  time.Duration // wait before the second round, doubling per round
	// RetryCalls: a call that fails as a whole (after the SDK's own
	// retries) is sent again in the next round; otherwise its entries
	// fail at once.
	RetryCalls bool
	// AllOrNothing: once a call fails as a whole (and is not retried),
	// every entry not yet sent fails with its error and no further call is
	// made; for a read, which fails when any part of it does.
	AllOrNothing bool
	// OnRetry, when set, is told before each wait how many entries the
	// next round will send again.
	OnRetry func(pending, round int)
}

// SendFunc sends one batch: the indexes (into the caller's entries) of at
// most Policy.Size entries. It returns the refused entries, with Index
// into idx, or an error when the call failed as a whole.
type SendFunc func(ctx context.Context, idx []int) ([]Failure, error)

// Unsent is an entry that could not be sent, and why.
type Unsent struct {
	Index int // into the caller's entries
	// Err is the entry's last refusal when it was final (not retryable,
	// or on its last attempt), the error of a call that failed as a whole
	// and was not sent again, or the end of ctx before the entry was sent
	// (wrapping ctx.Err(), and the entry's last refusal when it was
	// waiting for a retry).
	Err error
}

// Send sends the entries at pending (indexes into the caller's entries) in
// rounds: each round sends every pending entry in batches of p.Size; the
// entries refused as retryable are sent again in the next round, at most
// p.Attempts times in all. Once ctx is done nothing more is sent. It
// returns the entries that could not be sent, by ascending index, each
// with its own reason.
func Send(ctx context.Context, pending []int, p Policy, send SendFunc) []Unsent {
	size, attempts := max(p.Size, 1), max(p.Attempts, 1)
	pending = slices.Clone(pending)
	var (
		unsent []Unsent
		last   = map[int]error{} // the retryable refusal an entry waits to retry
		stop   error             // with AllOrNothing, the failed call's error
	)
	fail := func(idx []int, err error) {
		for _, i := range idx {
			unsent = append(unsent, Unsent{Index: i, Err: err})
		}
	}
	for round := 1; len(pending) > 0; round++ {
		var retry []int
		final := round >= attempts
		for start := 0; start < len(pending); start += size {
			idx := pending[start:min(start+size, len(pending))]
			if stop != nil {
				fail(idx, stop)
				continue
			}
			if ctx.Err() != nil {
				for _, i := range idx {
					unsent = append(unsent, Unsent{Index: i, Err: ended(ctx, last[i])})
				}
				continue
			}
			fs, err := send(ctx, idx)
			if err != nil {
				if p.RetryCalls && !final && ctx.Err() == nil {
					retry = append(retry, idx...)
					for _, i := range idx {
						last[i] = err
					}
					continue
				}
				fail(idx, err)
				if p.AllOrNothing {
					stop = err
				}
				continue
			}
			for _, f := range fs {
				if f.Index < 0 || f.Index >= len(idx) {
					continue
				}
				i := idx[f.Index]
				if !f.Retryable || final {
					unsent = append(unsent, Unsent{Index: i, Err: f.Err})
					continue
				}
				retry = append(retry, i)
				last[i] = f.Err
			}
		}
		if stop != nil {
			// Nothing more is sent: what waited for a retry fails now.
			fail(retry, stop)
			retry = nil
		}
		pending = retry
		if len(pending) > 0 {
			if p.OnRetry != nil {
				p.OnRetry(len(pending), round)
			}
			// Cut short when ctx ends: the next round then fails what is
			// pending with ctx's end.
			_ = backoff.Wait(ctx, backoff.Doubling(p.Backoff, math.MaxInt64, round-1))
		}
	}
	slices.SortFunc(unsent, func(a, b Unsent) int { return cmp.Compare(a.Index, b.Index) })
	return unsent
}

// ended is why an entry was not sent once ctx had ended: before its first
// send (last is nil), or while it waited for a retry after last.
func ended(ctx context.Context, last error) error {
	if last == nil {
		return fmt.Errorf("not sent before the context ended: %w", ctx.Err())
	}
	return fmt.Errorf("not retried before the context ended: %w (last refusal: %w)", ctx.Err(), last)
}
