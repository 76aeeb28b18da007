package bench

import (
	"context"
	"sync"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// indexedStore is the embedded store (store.Memory) the bench runs on,
// counting the writes Apply makes. Memory answers Due from its ordered due
// index, whose queries cost what they read, so a million connections page
// as they would from DynamoDB's due index.
type indexedStore struct {
	*store.Memory
	mu sync.Mutex
	// writes counts the writes Apply made.
	writes int
}

func newIndexedStore() *indexedStore { return &indexedStore{Memory: store.NewMemory()} }

// Apply writes through the Memory adapter and counts what it wrote.
func (s *indexedStore) Apply(ctx context.Context, t connection.Transition) error {
	if err := s.Memory.Apply(ctx, t); err != nil {
		return err
	}
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return nil
}
