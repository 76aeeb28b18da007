package bench

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// indexedStore is the embedded store (store.Memory) with an ordered due
// index beside it. Every read and write goes to the Memory adapter, with
// its semantics; only Due is answered from the index, because Memory's Due
// scans and sorts every stored connection per page (right for tests, but a
// million connections would take the bench hours). The index keeps each
// shard's entries sorted by due time and drops outdated ones lazily, when
// new entries are merged in before a query.
type indexedStore struct {
	*store.Memory
	mu     sync.Mutex
	due    map[connRef]int64 // the indexed due time of each connection
	shards [store.Shards]dueShard
	// Writes counts the writes Apply made.
	writes int
}

type connRef struct{ tenant, account string }

type dueEntry struct {
	at  int64
	ref connRef
}

type dueShard struct{ sorted, pending []dueEntry }

func newIndexedStore() *indexedStore {
	return &indexedStore{Memory: store.NewMemory(), due: map[connRef]int64{}}
}

func compareEntries(a, b dueEntry) int {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.ref.tenant, b.ref.tenant), cmp.Compare(a.ref.account, b.ref.account))
}

// Apply writes through the Memory adapter and indexes what it wrote.
func (s *indexedStore) Apply(ctx context.Context, t connection.Transition) error {
	if err := s.Memory.Apply(ctx, t); err != nil {
		return err
	}
	c := t.After
	ref := connRef{c.TenantID, c.AccountID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if !c.Live() || c.NextCheckAt.IsZero() {
		delete(s.due, ref)
		return nil
	}
	at := c.NextCheckAt.UnixNano()
	if old, ok := s.due[ref]; ok && old == at {
		return nil
	}
	s.due[ref] = at
	sh := &s.shards[store.ShardOf(c.TenantID, c.AccountID)]
	sh.pending = append(sh.pending, dueEntry{at, ref})
	return nil
}

// compact merges a shard's pending entries into its sorted ones, dropping
// every entry that no longer is its connection's due time.
func (s *indexedStore) compact(sh *dueShard) {
	if len(sh.pending) == 0 {
		return
	}
	slices.SortFunc(sh.pending, compareEntries)
	merged := make([]dueEntry, 0, len(sh.sorted)+len(sh.pending))
	i, j := 0, 0
	for i < len(sh.sorted) || j < len(sh.pending) {
		var e dueEntry
		if j == len(sh.pending) || i < len(sh.sorted) && compareEntries(sh.sorted[i], sh.pending[j]) <= 0 {
			e, i = sh.sorted[i], i+1
		} else {
			e, j = sh.pending[j], j+1
		}
		if at, ok := s.due[e.ref]; ok && at == e.at {
			merged = append(merged, e)
		}
	}
	sh.sorted, sh.pending = merged, sh.pending[:0]
}

// compactAll merges every shard's pending entries.
func (s *indexedStore) compactAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shards {
		s.compact(&s.shards[i])
	}
}

func encodeDueCursor(e dueEntry) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(e.at, 10) + "\x00" + e.ref.tenant + "\x00" + e.ref.account))
}

func decodeDueCursor(c string) (dueEntry, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 {
		return dueEntry{}, fmt.Errorf("decode cursor: %w", store.ErrInvalidCursor)
	}
	at, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return dueEntry{}, fmt.Errorf("decode cursor: %w", store.ErrInvalidCursor)
	}
	return dueEntry{at, connRef{parts[1], parts[2]}}, nil
}

// Due answers the sweep's query from the index: the live connections of
// shard due up to until, oldest first, a page at a time.
func (s *indexedStore) Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (store.Page, error) {
	limit = min(max(limit, 1), store.MaxLimit)
	var after *dueEntry
	if cursor != "" {
		e, err := decodeDueCursor(cursor)
		if err != nil {
			return store.Page{}, err
		}
		after = &e
	}
	s.mu.Lock()
	sh := &s.shards[shard]
	s.compact(sh)
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(sh.sorted, *after, compareEntries)
		for start < len(sh.sorted) && compareEntries(sh.sorted[start], *after) <= 0 {
			start++
		}
	}
	var refs []dueEntry
	end := until.UnixNano()
	for i := start; i < len(sh.sorted) && len(refs) < limit; i++ {
		e := sh.sorted[i]
		if e.at > end {
			break
		}
		if at, ok := s.due[e.ref]; ok && at == e.at {
			refs = append(refs, e)
		}
	}
	s.mu.Unlock()
	p := store.Page{Items: make([]connection.Connection, 0, len(refs))}
	for _, e := range refs {
		c, err := s.Memory.GetConnection(ctx, e.ref.tenant, e.ref.account)
		if err != nil {
			return store.Page{}, fmt.Errorf("due index: %w", err)
		}
		p.Items = append(p.Items, c)
	}
	if len(refs) == limit {
		p.Cursor = encodeDueCursor(refs[len(refs)-1])
	}
	return p, nil
}
