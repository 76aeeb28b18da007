package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// testListTenants: every tenant, once, in byte order of the IDs, whatever
// the page size; only tenants (connections and events in the same
// partitions never show); rotations show; foreign cursors are refused.
func testListTenants(t *testing.T, f *Fixture) {
	empty, err := f.S.ListTenants(f.Ctx, "", 10)
	if err != nil || len(empty.Items) != 0 || empty.Cursor != "" {
		t.Fatalf("empty store: %+v %v", empty, err)
	}
	idsIn := []string{"zulu", "acme", "Acme", "a.b", "a-b", "a", "bravo-9", "m_1"}
	want := map[string]tenant.Tenant{}
	for i, id := range idsIn {
		tn, err := tenant.New(id, fmt.Sprintf("Tenant %d", i), f.Now)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.S.CreateTenant(f.Ctx, tn); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		want[id] = tn
	}
	for i := range 3 { // connections and their events share the tenant's partition
		f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
	}
	rotated := want["bravo-9"].Rotated(f.Now.Add(1))
	if err := f.S.RotateExternalID(f.Ctx, want["bravo-9"], rotated); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	want["bravo-9"] = rotated
	sorted := slices.Clone(idsIn)
	slices.Sort(sorted)

	for _, limit := range []int{1, 2, 3, 7, 8, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []tenant.Tenant
			cursor, pages := "", 0
			for {
				p, err := f.S.ListTenants(f.Ctx, cursor, limit)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				pages++
				if len(p.Items) > limit {
					t.Fatalf("page %d has %d items, limit %d", pages, len(p.Items), limit)
				}
				got = append(got, p.Items...)
				if p.Cursor == "" {
					break
				}
				if len(p.Items) == 0 || pages > 100 {
					t.Fatalf("page %d is empty or the walk does not end", pages)
				}
				cursor = p.Cursor
			}
			var gotIDs []string
			for _, tn := range got {
				gotIDs = append(gotIDs, tn.ID)
				if w := want[tn.ID]; tn != w {
					t.Errorf("listed %+v, want %+v", tn, w)
				}
			}
			if !slices.Equal(gotIDs, sorted) {
				t.Errorf("listed %v, want %v", gotIDs, sorted)
			}
			if wantPages := (len(sorted) + limit - 1) / limit; pages != wantPages && pages != wantPages+1 {
				t.Errorf("%d pages, want %d (or one more, empty)", pages, wantPages)
			}
		})
	}

	byTenant, err := f.S.ListByTenant(f.Ctx, "acme", "", 1)
	if err != nil || byTenant.Cursor == "" {
		t.Fatalf("connections page: %+v %v", byTenant, err)
	}
	for _, c := range []string{"!!!", "bm90LWpzb24", "e30", "W10", byTenant.Cursor} {
		t.Run("cursor "+c, func(t *testing.T) {
			_, err := f.S.ListTenants(f.Ctx, c, 2)
			if !errors.Is(err, store.ErrInvalidCursor) {
				t.Errorf("ListTenants(cursor %q) = %v, want ErrInvalidCursor", c, err)
			}
		})
	}
}
