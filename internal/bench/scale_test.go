package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// TestDueIndexAnswersLikeMemory: the bench's due index returns, page by
// page, what store.Memory's Due returns, after writes that move, remove
// and add due times.
func TestDueIndexAnswersLikeMemory(t *testing.T) {
	ctx := context.Background()
	st := newIndexedStore()
	p := connection.DefaultPolicy()
	rng := rand.New(rand.NewPCG(3, 4))
	// The tenants: a store applies a check only while its tenant accepts
	// the external ID the check used.
	for i := range 7 {
		tn, err := tenant.New(fmt.Sprintf("tenant-%04d", i), "Tenant", scaleT0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	var conns []connection.Connection
	for i := range 400 {
		tr, err := verifiedConnection(p, i, 7, scaleT0.Add(time.Duration(rng.IntN(3600)-1800)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, tr.After)
	}
	// Move some due times (routine checks), disconnect a few.
	for i, c := range conns {
		switch i % 5 {
		case 0:
			tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: scaleT0.Add(-time.Duration(i) * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Apply(ctx, tr); err != nil {
				t.Fatal(err)
			}
		case 1:
			if i%3 == 0 {
				if err := st.Apply(ctx, p.Disconnect(c, 1, scaleT0)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	keysOf := func(due func(shard int, cursor string) (store.Page, error)) []string {
		var out []string
		for shard := range store.Shards {
			cursor := ""
			for {
				page, err := due(shard, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range page.Items {
					out = append(out, fmt.Sprintf("%d %s/%s %s", shard, c.TenantID, c.AccountID, c.NextCheckAt.Format(time.RFC3339Nano)))
				}
				if page.Cursor == "" {
					break
				}
				cursor = page.Cursor
			}
		}
		return out
	}
	for _, until := range []time.Time{scaleT0.Add(-time.Hour), scaleT0, scaleT0.Add(time.Hour)} {
		want := keysOf(func(shard int, cursor string) (store.Page, error) { return st.Memory.Due(ctx, shard, until, cursor, 7) })
		got := keysOf(func(shard int, cursor string) (store.Page, error) { return st.Due(ctx, shard, until, cursor, 7) })
		if !slices.Equal(got, want) {
			t.Fatalf("until %s: index returned %d items, Memory %d\n got %v\nwant %v", until, len(got), len(want), got, want)
		}
		if until.Equal(scaleT0) && len(want) == 0 {
			t.Fatal("nothing due: the test proves nothing")
		}
	}
	if _, err := st.Due(ctx, 0, scaleT0, "not a cursor!", 7); err == nil {
		t.Error("a malformed cursor was accepted")
	}
}

// TestSimSTSThrottlesAboveItsQuota: in any one-second window the stand-in
// admits quota calls and throttles the rest with STS's code.
func TestSimSTSThrottlesAboveItsQuota(t *testing.T) {
	clock := &simClock{now: scaleT0}
	s := &simSTS{clock: clock, quota: 10, externalID: func(string) string { return "rc-ext" }}
	in := probe.AssumeRequest{RoleARN: "arn:aws:iam::300000000001:role/RoleCall", ExternalID: "rc-ext", SessionName: "s"}
	throttled := 0
	for i := range 30 {
		clock.set(scaleT0.Add(time.Duration(i) * 50 * time.Millisecond)) // 20 a second
		if _, err := s.AssumeRole(context.Background(), in); err != nil {
			var se *probe.STSError
			if !errors.As(err, &se) || se.Code != "Throttling" {
				t.Fatalf("call %d: %v, want Throttling", i, err)
			}
			throttled++
		}
	}
	calls, th, peak := s.report()
	if calls != 30 || th != throttled || throttled < 10 || peak != 20 {
		t.Fatalf("calls %d, throttled %d (%d seen), peak %d; want 30 calls, 10+ throttled, peak 20", calls, th, throttled, peak)
	}
	in.ExternalID = ""
	clock.set(scaleT0.Add(time.Hour))
	if _, err := s.AssumeRole(context.Background(), in); !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("without the external ID: %v, want denied", err)
	}
}
