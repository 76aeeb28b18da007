// Package rejectscript scripts the refusals of the in-process fakes of
// batch APIs (the bus's PutEvents, the queue's SendMessageBatch) for their
// contract suites: a test pushes the error codes the next entries get, and
// the fake takes one code per entry it is sent. Tests only: production
// code never imports it.
package rejectscript

import "sync"

// Script is a queue of error codes, safe for concurrent use; the zero
// value is empty.
type Script struct {
	mu    sync.Mutex
	codes []string
}

// Push appends codes: the outcome of the next entries, one each ("" accepts
// the entry).
func (s *Script) Push(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(s.codes, codes...)
}

// Next takes the next scripted code, or "" (accept) once the script is
// used up.
func (s *Script) Next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.codes) == 0 {
		return ""
	}
	c := s.codes[0]
	s.codes = s.codes[1:]
	return c
}
