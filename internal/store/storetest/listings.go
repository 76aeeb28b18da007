package storetest

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// walk follows cursors to the end, failing on a loop.
func walk(t *testing.T, list func(cursor string) (store.Page, error)) ([]connection.Connection, int) {
	t.Helper()
	var all []connection.Connection
	cursor, pages := "", 0
	for {
		p, err := list(cursor)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		all = append(all, p.Items...)
		if p.Cursor == "" {
			return all, pages
		}
		if len(p.Items) == 0 || pages > 1000 {
			t.Fatalf("page %d is empty or the walk does not end", pages)
		}
		cursor = p.Cursor
	}
}

func ids(cs []connection.Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.TenantID + "/" + c.AccountID
	}
	return out
}

func account(i int) string { return fmt.Sprintf("%012d", 100000000000+i) }

func testListByTenant(t *testing.T, f *Fixture) {
	var want []connection.Connection
	for i := range 7 {
		want = append(want, f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%s:role/R", account(6-i))))
		f.MustSubmit("acme-2", fmt.Sprintf("arn:aws:iam::%s:role/S", account(i)))
	}
	f.MustSubmit("acm", "arn:aws:iam::"+account(50)+":role/R")
	slices.SortFunc(want, func(a, b connection.Connection) int { return cmp.Compare(a.AccountID, b.AccountID) })
	want[3] = f.Reschedule("acme", want[3].AccountID, f.Now.Add(time.Hour)) // items are current
	tests := []struct {
		limit, pages int
	}{{1, 7}, {2, 4}, {7, 1}, {6, 2}, {0, 1}, {store.MaxLimit + 1, 1}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			defer f.Sub(t)()
			got, pages := walk(t, func(c string) (store.Page, error) { return f.S.ListByTenant(f.Ctx, "acme", c, tc.limit) })
			if !slices.Equal(got, want) {
				t.Fatalf("walk got %v, want %v", ids(got), ids(want))
			}
			if pages != tc.pages {
				t.Fatalf("%d pages, want %d", pages, tc.pages)
			}
		})
	}
	p, err := f.S.ListByTenant(f.Ctx, "nobody", "", 10)
	if err != nil || len(p.Items) != 0 || p.Cursor != "" {
		t.Fatalf("unknown tenant: %+v %v", p, err)
	}
}

func testListByStatus(t *testing.T, f *Fixture) {
	want := map[connection.Status][]connection.Connection{}
	for i := range 12 {
		tid := fmt.Sprintf("t%d", i%3)
		c := f.MustSubmit(tid, fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		f.Now = f.Now.Add(3 * time.Minute)
		switch i % 4 {
		case 1:
			c = f.MustCheck(tid, c.AccountID, connection.ResultOK).After
		case 2:
			c = f.MustCheck(tid, c.AccountID, connection.ResultDenied).After
		case 3:
			tr, err := f.Disconnect(tid, c.AccountID)
			wantErr(t, "disconnect", err, nil)
			c = tr.After
		}
		want[c.Status] = append(want[c.Status], c)
	}
	for _, st := range connection.Statuses {
		slices.SortFunc(want[st], func(a, b connection.Connection) int {
			return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.AccountID, b.AccountID))
		})
		for _, limit := range []int{1, 2, 3, 50} {
			t.Run(fmt.Sprintf("%s limit %d", st, limit), func(t *testing.T) {
				defer f.Sub(t)()
				got, _ := walk(t, func(c string) (store.Page, error) { return f.S.ListByStatus(f.Ctx, st, c, limit) })
				if !slices.Equal(got, want[st]) {
					t.Fatalf("got %v, want %v", ids(got), ids(want[st]))
				}
			})
		}
	}
}

func testDue(t *testing.T, f *Fixture) {
	base := f.Now
	type entry struct {
		c   connection.Connection
		due bool
	}
	var all []connection.Connection
	for i := range 40 {
		tid := fmt.Sprintf("t%d", i%5)
		c := f.MustSubmit(tid, fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		switch i % 5 {
		case 0: // due long ago
			c = f.Reschedule(tid, c.AccountID, base.Add(-time.Duration(i)*time.Minute))
		case 1: // due exactly at until
			c = f.Reschedule(tid, c.AccountID, base.Add(time.Hour))
		case 2: // due a nanosecond after until
			c = f.Reschedule(tid, c.AccountID, base.Add(time.Hour+time.Nanosecond))
		case 3: // disconnected
			tr, err := f.Disconnect(tid, c.AccountID)
			wantErr(t, "disconnect", err, nil)
			c = tr.After
		case 4: // rescheduled from not due to due
			f.Reschedule(tid, c.AccountID, base.Add(48*time.Hour))
			c = f.Reschedule(tid, c.AccountID, base.Add(30*time.Minute))
		}
		all = append(all, c)
	}
	until := base.Add(time.Hour)
	total := 0
	for shard := range store.Shards {
		var want []connection.Connection
		for _, c := range all {
			if c.Live() && !c.NextCheckAt.After(until) && store.ShardOf(c.TenantID, c.AccountID) == shard {
				want = append(want, c)
			}
		}
		total += len(want)
		slices.SortFunc(want, func(a, b connection.Connection) int {
			return cmp.Or(a.NextCheckAt.Compare(b.NextCheckAt), cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.AccountID, b.AccountID))
		})
		for _, limit := range []int{1, 3, 0} {
			t.Run(fmt.Sprintf("shard %d limit %d", shard, limit), func(t *testing.T) {
				defer f.Sub(t)()
				got, _ := walk(t, func(c string) (store.Page, error) { return f.S.Due(f.Ctx, shard, until, c, limit) })
				if !slices.Equal(got, want) {
					t.Fatalf("got %v, want %v", ids(got), ids(want))
				}
			})
		}
	}
	if total != 24 {
		t.Fatalf("%d due connections over all shards, want 24", total)
	}
	// A disconnected connection that is resubmitted is due again.
	f.MustSubmit("t3", "arn:aws:iam::"+account(3)+":role/R")
	c := f.Current("t3", account(3))
	p, err := f.S.Due(f.Ctx, store.ShardOf("t3", account(3)), c.NextCheckAt, "", store.MaxLimit)
	if err != nil || !slices.Contains(p.Items, *c) {
		t.Fatalf("resubmitted connection not due: %v %v", ids(p.Items), err)
	}
	// A page that ends with the last due connection has no cursor.
	for shard := range store.Shards {
		p, err := f.S.Due(f.Ctx, shard, until, "", store.MaxLimit)
		if err != nil || len(p.Items) == 0 {
			continue
		}
		exact, err := f.S.Due(f.Ctx, shard, until, "", len(p.Items))
		if err != nil || len(exact.Items) != len(p.Items) || exact.Cursor != "" {
			t.Fatalf("shard %d, a page of exactly its %d due connections: %d items, cursor %q, %v; want no cursor", shard, len(p.Items), len(exact.Items), exact.Cursor, err)
		}
	}
	// Nothing is due before the earliest check.
	for shard := range store.Shards {
		p, err := f.S.Due(f.Ctx, shard, base.Add(-365*24*time.Hour), "", 0)
		if err != nil || len(p.Items) != 0 || p.Cursor != "" {
			t.Fatalf("shard %d due a year ago: %v %v", shard, ids(p.Items), err)
		}
	}
}

func testInvalidCursors(t *testing.T, f *Fixture) {
	for i := range 10 { // 20 connections in 8 shards: one shard has two
		f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		f.MustSubmit("bravo", fmt.Sprintf("arn:aws:iam::%s:role/R", account(10+i)))
	}
	until := f.Now.Add(time.Hour)
	byTenant, err := f.S.ListByTenant(f.Ctx, "acme", "", 1)
	if err != nil || byTenant.Cursor == "" {
		t.Fatalf("first page: %+v %v", byTenant, err)
	}
	pending, err := f.S.ListByStatus(f.Ctx, connection.Pending, "", 1)
	if err != nil || pending.Cursor == "" {
		t.Fatalf("first page: %+v %v", pending, err)
	}
	shard := -1
	var due store.Page
	for s := range store.Shards {
		if p, err := f.S.Due(f.Ctx, s, until, "", 1); err == nil && p.Cursor != "" {
			shard, due = s, p
			break
		}
	}
	if shard < 0 {
		t.Fatal("no shard with two due connections")
	}
	garbage := []string{"!!!", "not a cursor", "bm90LWpzb24", "e30", "W10"} // not base64, base64 of "not-json", of {}, of []
	type list func(cursor string) error
	lists := map[string]list{
		"ListByTenant": func(c string) error { _, err := f.S.ListByTenant(f.Ctx, "acme", c, 1); return err },
		"ListByStatus": func(c string) error { _, err := f.S.ListByStatus(f.Ctx, connection.Pending, c, 1); return err },
		"Due":          func(c string) error { _, err := f.S.Due(f.Ctx, shard, until, c, 1); return err },
	}
	for name, l := range lists {
		for _, g := range garbage {
			t.Run(name+" "+g, func(t *testing.T) { wantErr(t, "list", l(g), store.ErrInvalidCursor) })
		}
	}
	tests := []struct {
		name   string
		list   list
		cursor string
	}{
		{"tenant cursor for another tenant", func(c string) error { _, err := f.S.ListByTenant(f.Ctx, "bravo", c, 1); return err }, byTenant.Cursor},
		{"status cursor for another status", func(c string) error { _, err := f.S.ListByStatus(f.Ctx, connection.Verified, c, 1); return err }, pending.Cursor},
		{"due cursor for another shard", func(c string) error { _, err := f.S.Due(f.Ctx, (shard+1)%store.Shards, until, c, 1); return err }, due.Cursor},
		{"tenant cursor for a status listing", lists["ListByStatus"], byTenant.Cursor},
		{"status cursor for a due listing", lists["Due"], pending.Cursor},
		// Of the shape of a DynamoDB cursor of acme's listing, with a sort
		// key longer than DynamoDB takes in a key (1024 bytes): DynamoDB
		// would refuse the query.
		{"a key longer than a key can be", lists["ListByTenant"], base64.RawURLEncoding.EncodeToString(
			fmt.Appendf(nil, `{"PK":"TENANT#acme","SK":"CONN#%s"}`, strings.Repeat("1", 1100)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, "list", tc.list(tc.cursor), store.ErrInvalidCursor) })
	}
}
