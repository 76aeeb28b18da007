package queue

import "github.com/rolecall/rolecall/internal/probe"

// Polling makes m signal on the returned channel each time a Receive finds
// nothing visible and starts to wait (at most one signal pending).
func Polling(m *Memory) <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polling = ch
	return ch
}

// Reject makes m ask refuse for every job sent: a non-empty code refuses
// the job with that code, "" accepts it (nil: accept every job).
func Reject(m *Memory, refuse func(probe.Job) string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reject = refuse
}

// Dead returns the messages m moved to its dead-letter list, oldest first.
func Dead(m *Memory) []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.dead...)
}

// Len returns the number of messages m holds, in flight or not.
func Len(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}
