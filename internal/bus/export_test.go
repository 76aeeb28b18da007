package bus

// Reject makes m ask refuse for every entry put: a non-empty code refuses
// the entry with that code, "" accepts it (nil: accept every valid entry).
func Reject(m *Memory, refuse func(Entry) string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reject = refuse
}

// Held returns how many records m keeps and the capacity of the array
// holding them, so a test can bound the memory a long run holds.
func Held(m *Memory) (n, capacity int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records), cap(m.records)
}
