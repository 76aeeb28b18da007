package queue

// Polling makes m signal on the returned channel each time a Receive finds
// nothing visible and starts to wait (at most one signal pending).
func Polling(m *Memory) <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polling = ch
	return ch
}
