package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// TestDueIndexAnswersLikeAScan: after writes that move, remove, re-add and
// move back due times (before 1970 too), the index pages each shard as a
// scan of every connection, filtered and sorted, would.
func TestDueIndexAnswersLikeAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	x := newDueIndex()
	stored := map[connKey]connection.Connection{}
	times := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(-time.Hour), time.Unix(-1, -int64(500*time.Millisecond)), time.Unix(-2, 0)}
	write := func(c connection.Connection) {
		stored[connKey{c.TenantID, c.AccountID}] = c
		x.put(c)
	}
	writes := func(n int) {
		for i := range n {
			c := connection.Connection{TenantID: fmt.Sprintf("t%d", i%7), AccountID: fmt.Sprintf("%012d", rng.IntN(20)), Status: connection.Verified}
			switch rng.IntN(6) {
			case 0:
				c.Status = connection.Disconnected
				c.NextCheckAt = base
			case 1, 2:
				c.NextCheckAt = times[rng.IntN(len(times))] // often a time it had before
			default:
				c.NextCheckAt = base.Add(time.Duration(rng.IntN(7200)-3600) * time.Second / 3)
			}
			write(c)
		}
	}
	scan := func(shard int, until time.Time) []dueEntry {
		var out []dueEntry
		for k, c := range stored {
			if dueIndexed(c) && !c.NextCheckAt.After(until) && ShardOf(k.tenant, k.account) == shard {
				out = append(out, dueEntry{c.NextCheckAt.UnixNano(), k})
			}
		}
		slices.SortFunc(out, compareDue)
		return out
	}
	for round := range 10 {
		writes(100)
		for _, until := range []time.Time{time.Unix(-1, -int64(200*time.Millisecond)), time.Unix(-1, 0), base.Add(-time.Hour), base, base.Add(time.Hour)} {
			for shard := range Shards {
				for _, limit := range []int{1, 7, 1000} {
					var got []dueEntry
					var after *dueEntry
					for {
						p := x.page(shard, until, after, limit)
						got = append(got, p...)
						if len(p) < limit {
							break
						}
						after = &p[len(p)-1]
					}
					if want := scan(shard, until); !slices.Equal(got, want) {
						t.Fatalf("round %d, shard %d until %s by %d: index %d entries, scan %d\n got %v\nwant %v", round, shard, until, limit, len(got), len(want), got, want)
					}
				}
			}
		}
	}
	if len(scan(0, base.Add(time.Hour))) == 0 {
		t.Fatal("nothing due: the test proves nothing")
	}
}

// TestDueCursorKeys: a Due cursor's key reads back into the entry it was
// made from; anything else is refused.
func TestDueCursorKeys(t *testing.T) {
	c := connection.Connection{TenantID: "acme", AccountID: "111122223333", NextCheckAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)}
	e, ok := dueEntryOf(dueOrder(c))
	if !ok || e != (dueEntry{c.NextCheckAt.UnixNano(), connKey{"acme", "111122223333"}}) {
		t.Fatalf("dueEntryOf(%q) = %+v, %t", dueOrder(c), e, ok)
	}
	for _, key := range []string{"", "acme#111122223333", "2030-01-02T03:04:05.000000006Z", "2030-01-02T03:04:05.000000006Z#acme",
		"2030-01-02T03:04:05Z#acme#111122223333", "2030-01-02T03:04:05.000000006Z##111122223333", "2030-01-02T03:04:05.000000006Z#acme#"} {
		if e, ok := dueEntryOf(key); ok {
			t.Errorf("dueEntryOf(%q) = %+v, want refused", key, e)
		}
	}
}
