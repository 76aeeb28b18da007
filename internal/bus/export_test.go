package bus

// Reject makes m ask refuse for every entry put: a non-empty code refuses
// the entry with that code, "" accepts it (nil: accept every valid entry).
func Reject(m *Memory, refuse func(Entry) string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reject = refuse
}
