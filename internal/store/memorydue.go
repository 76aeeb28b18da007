package store

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// dueIndex is Memory's due index: what the DynamoDB adapter's sparse due
// index is to its table. Each shard's entries are bucketed by the second
// they fall due; a bucket is sorted when a query reads it, and entries
// made outdated by a later write (the connection checked since, or
// disconnected) are dropped as a query passes them. So a write costs a
// map update and an append, and a query costs what it reads, not what is
// stored: `rolecall serve` and the bench page through a million
// connections as a deployment does. It is not safe for concurrent use;
// Memory's lock guards it.
type dueIndex struct {
	at     map[connKey]int64 // the indexed due time (UnixNano) of each connection
	shards [Shards]dueShard
}

// dueEntry is one connection's place in the index, in Due's order: due
// time, tenant, account (the order dueOrder's keys sort in).
type dueEntry struct {
	at  int64
	key connKey
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

func newDueIndex() dueIndex {
	x := dueIndex{at: map[connKey]int64{}}
	for i := range x.shards {
		x.shards[i].buckets = map[int64]*dueBucket{}
	}
	return x
}

func compareDue(a, b dueEntry) int {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.key.tenant, b.key.tenant), cmp.Compare(a.key.account, b.key.account))
}

// second is the second at falls in, rounded down (also before 1970), so a
// bucket never starts after the entries it holds.
func second(at int64) int64 {
	s := at / int64(time.Second)
	if at%int64(time.Second) < 0 {
		s--
	}
	return s
}

// put indexes c as now stored: at its next check when it is live with one,
// nowhere otherwise.
func (x *dueIndex) put(c connection.Connection) {
	k := connKey{c.TenantID, c.AccountID}
	if !dueIndexed(c) {
		delete(x.at, k)
		return
	}
	at := c.NextCheckAt.UnixNano()
	if old, ok := x.at[k]; ok && old == at {
		return
	}
	x.at[k] = at
	sh := &x.shards[ShardOf(c.TenantID, c.AccountID)]
	sec := second(at)
	b := sh.buckets[sec]
	if b == nil {
		b = &dueBucket{}
		sh.buckets[sec] = b
		i, _ := slices.BinarySearch(sh.seconds, sec)
		sh.seconds = slices.Insert(sh.seconds, i, sec)
	}
	b.entries = append(b.entries, dueEntry{at, k})
	b.sorted = false
}

// current reports whether e is still its connection's place.
func (x *dueIndex) current(e dueEntry) bool {
	at, ok := x.at[e.key]
	return ok && at == e.at
}

// page returns, in order, at most limit of shard's entries due at or
// before until and after `after` (nil: from the first).
func (x *dueIndex) page(shard int, until time.Time, after *dueEntry, limit int) []dueEntry {
	end := until.UnixNano()
	sh := &x.shards[shard]
	k := 0
	if after != nil {
		k, _ = slices.BinarySearch(sh.seconds, second(after.at))
	}
	var out []dueEntry
	var empty []int64
	for ; k < len(sh.seconds) && len(out) < limit; k++ {
		sec := sh.seconds[k]
		if sec*int64(time.Second) > end {
			break
		}
		b := sh.buckets[sec]
		if !b.sorted {
			slices.SortFunc(b.entries, compareDue)
			b.sorted = true
		}
		// Drop what is outdated, and the copy a connection moved back to
		// a due time it had left leaves; keep the order.
		kept := b.entries[:0]
		for _, e := range b.entries {
			if x.current(e) && (len(kept) == 0 || kept[len(kept)-1] != e) {
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
			if len(out) == limit || e.at > end {
				break
			}
			if after == nil || compareDue(e, *after) > 0 {
				out = append(out, e)
			}
		}
	}
	for _, sec := range empty {
		delete(sh.buckets, sec)
		if i, ok := slices.BinarySearch(sh.seconds, sec); ok {
			sh.seconds = slices.Delete(sh.seconds, i, i+1)
		}
	}
	return out
}

// dueEntryOf reads the dueOrder key of a Due cursor back into its place in
// the index.
func dueEntryOf(key string) (dueEntry, bool) {
	ts, rest, ok := strings.Cut(key, "#")
	if !ok {
		return dueEntry{}, false
	}
	tenantID, accountID, ok := strings.Cut(rest, "#")
	at, err := time.Parse(dueTimeLayout, ts)
	if !ok || err != nil || tenantID == "" || accountID == "" || dueTime(at) != ts {
		return dueEntry{}, false
	}
	return dueEntry{at.UnixNano(), connKey{tenantID, accountID}}, true
}
