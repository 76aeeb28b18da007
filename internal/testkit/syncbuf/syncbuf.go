// Package syncbuf is a text buffer that goroutines may write and read at
// the same time: a sink for the logs and event lines of servers, workers
// and child processes that a caller reads while they still run.
package syncbuf

import (
	"bytes"
	"context"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex. The zero value is empty and
// ready to use; a Buffer must not be copied after first use.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced by every write
}

// Write appends p; it never fails (see bytes.Buffer.Write). It wakes every
// WaitFor in progress.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return n, err
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor waits until what was written contains substr, or ctx is done
// (output copied from a child process through a pipe can arrive after the
// process answered). It reports whether substr arrived; it is woken by
// writes, it never polls.
func (s *Buffer) WaitFor(ctx context.Context, substr string) bool {
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), substr) {
			s.mu.Unlock()
			return true
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}
