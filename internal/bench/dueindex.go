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
// million connections would take the bench hours). The index buckets each
// shard's entries by the second they fall due, sorts a bucket when it is
// read, and drops outdated entries (a connection checked since) as a query
// passes them, so a query costs what it reads, not what is stored.
type indexedStore struct {
	*store.Memory
	mu     sync.Mutex
	due    map[connRef]int64 // the indexed due time of each connection
	shards [store.Shards]dueShard
	// writes counts the writes Apply made.
	writes int
}

type connRef struct{ tenant, account string }

type dueEntry struct {
	at  int64
	ref connRef
}

// dueShard is one shard's buckets, by the second they fall due.
type dueShard struct {
	seconds []int64 // ascending
	buckets map[int64]*dueBucket
}

type dueBucket struct {
	entries []dueEntry
	sorted  bool
}

func newIndexedStore() *indexedStore {
	s := &indexedStore{Memory: store.NewMemory(), due: map[connRef]int64{}}
	for i := range s.shards {
		s.shards[i].buckets = map[int64]*dueBucket{}
	}
	return s
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
	sec := at / int64(time.Second)
	b := sh.buckets[sec]
	if b == nil {
		b = &dueBucket{}
		sh.buckets[sec] = b
		i, _ := slices.BinarySearch(sh.seconds, sec)
		sh.seconds = slices.Insert(sh.seconds, i, sec)
	}
	b.entries = append(b.entries, dueEntry{at, ref})
	b.sorted = false
	return nil
}

// current reports whether e is still its connection's due time.
func (s *indexedStore) current(e dueEntry) bool {
	at, ok := s.due[e.ref]
	return ok && at == e.at
}

// compactAll is kept for callers that load in bulk; buckets sort lazily.
func (s *indexedStore) compactAll() {}

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
	end := until.UnixNano()
	s.mu.Lock()
	sh := &s.shards[shard]
	k := 0
	if after != nil {
		k, _ = slices.BinarySearch(sh.seconds, after.at/int64(time.Second))
	}
	var refs []dueEntry
	var empty []int64
	for ; k < len(sh.seconds) && len(refs) < limit; k++ {
		sec := sh.seconds[k]
		if sec*int64(time.Second) > end {
			break
		}
		b := sh.buckets[sec]
		if !b.sorted {
			slices.SortFunc(b.entries, compareEntries)
			b.sorted = true
		}
		// Drop what is outdated, keep the order.
		kept := b.entries[:0]
		for _, e := range b.entries {
			if s.current(e) {
				kept = append(kept, e)
			}
		}
		clear(b.entries[len(kept):])
		b.entries = kept
		if len(kept) == 0 {
			empty = append(empty, sec)
			continue
		}
		for _, e := range kept {
			if len(refs) == limit || e.at > end {
				break
			}
			if after != nil && compareEntries(e, *after) <= 0 {
				continue
			}
			refs = append(refs, e)
		}
	}
	for _, sec := range empty {
		delete(sh.buckets, sec)
		if i, ok := slices.BinarySearch(sh.seconds, sec); ok {
			sh.seconds = slices.Delete(sh.seconds, i, i+1)
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
