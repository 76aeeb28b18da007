package queuetest

import (
	"context"
	"slices"
	"sync"

	"github.com/rolecall/rolecall/internal/probe"
)

// Recorder is a job sender that keeps every job it accepts, for tests of
// the code that enqueues checks (the API, the onboarding service). Fail
// makes the following sends refuse their jobs.
type Recorder struct {
	mu   sync.Mutex
	jobs []probe.Job
	err  error
}

// Send keeps jobs, or returns the error set with Fail.
func (r *Recorder) Send(_ context.Context, jobs []probe.Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.jobs = append(r.jobs, jobs...)
	return nil
}

// Fail makes every following Send return err (nil: accept again).
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Jobs returns the jobs accepted so far, in order.
func (r *Recorder) Jobs() []probe.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.jobs)
}
