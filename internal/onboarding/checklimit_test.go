package onboarding_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store/storetest"
)

// TestRequestCheckLimit: requested checks are counted in the store, one per
// connection per CheckRequestWindow; one over it is refused with
// CHECK_TOO_SOON and when to retry, and changes nothing and queues
// nothing. The counter is the store's, so it holds for every caller (each
// `rolecall credentials` is a new process) on both adapters.
func TestRequestCheckLimit(t *testing.T) {
	const other = "210987654321"
	// start is 30 s into a window.
	start := time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)
	type req struct {
		at        time.Duration // after start
		account   string        // custAccount when empty
		wantRetry time.Duration // 0: queued; else CHECK_TOO_SOON with this Retry-After
	}
	tests := []struct {
		name string
		reqs []req
	}{
		{"two requests 2 s apart queue one check", []req{{at: 0}, {at: 2 * time.Second, wantRetry: 268 * time.Second}}},
		{"a burst queues one check", []req{{at: 0}, {at: 0, wantRetry: 270 * time.Second}, {at: time.Minute, wantRetry: 210 * time.Second},
			{at: 4*time.Minute + 29*time.Second + time.Millisecond, wantRetry: time.Second}}},
		{"the next window queues another", []req{{at: 0}, {at: time.Second, wantRetry: 269 * time.Second},
			{at: 270 * time.Second}, {at: 271 * time.Second, wantRetry: 299 * time.Second}, {at: 270*time.Second + onboarding.CheckRequestWindow}}},
		{"each connection has its own count", []req{{at: 0}, {at: 0, account: other}, {at: time.Second, account: other, wantRetry: 269 * time.Second}}},
	}
	for _, a := range storetest.Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					st := a.New(t)
					q := &queuetest.Recorder{}
					now := start
					svc := &onboarding.Service{Store: st, Queue: q, Policy: connection.DefaultPolicy(),
						Rules: rolearn.Rules{Partition: "aws", OwnAccount: partnerAccount}, InviteTTL: time.Hour,
						Now: func() time.Time { return now }}
					acme, err := svc.CreateTenant(ctx, "acme", "Acme")
					if err != nil {
						t.Fatal(err)
					}
					for _, arn := range []string{roleARN, "arn:aws:iam::" + other + ":role/RoleCall"} {
						if _, err := svc.Submit(ctx, acme, arn); err != nil {
							t.Fatal(err)
						}
					}
					queued := 0
					for i, r := range tt.reqs {
						now = start.Add(r.at)
						acct := r.account
						if acct == "" {
							acct = custAccount
						}
						before, err := st.GetConnection(ctx, "acme", acct)
						if err != nil {
							t.Fatal(err)
						}
						c, err := svc.RequestCheck(ctx, "acme", acct)
						if r.wantRetry == 0 {
							if err != nil {
								t.Fatalf("request %d: %v", i, err)
							}
							queued++
							if jobs := q.Jobs(); len(jobs) != queued || jobs[queued-1].Connection != c {
								t.Fatalf("request %d: jobs %+v, want %d, the last of %+v", i, jobs, queued, c)
							}
							continue
						}
						wantCode(t, err, onboarding.CodeCheckTooSoon, "accountId")
						if e := onboarding.AsError(err); e.RetryAfter != r.wantRetry {
							t.Errorf("request %d: Retry-After %v, want %v", i, e.RetryAfter, r.wantRetry)
						}
						if n := len(q.Jobs()); n != queued {
							t.Fatalf("request %d: a refused request queued a check (%d jobs, want %d)", i, n, queued)
						}
						if after, err := st.GetConnection(ctx, "acme", acct); err != nil || after != before {
							t.Fatalf("request %d: the refused request changed the connection: %+v, was %+v (%v)", i, after, before, err)
						}
					}
				})
			}
		})
	}
}

// TestRequestCheckLimitRefusalsDoNotCount: a request refused before the
// count (unknown tenant or connection, a disconnected one) does not spend
// the window, and a counter the store cannot keep fails the request as an
// internal error that queues nothing.
func TestRequestCheckLimitRefusalsDoNotCount(t *testing.T) {
	tests := []struct {
		name    string
		first   func(f *fixture) error
		wantErr func(t *testing.T, err error)
	}{
		{"unknown connection", func(f *fixture) error {
			_, err := f.svc.RequestCheck(context.Background(), "acme", "999999999999")
			return err
		}, func(t *testing.T, err error) { wantCode(t, err, onboarding.CodeNotFound, "accountId") }},
		{"unknown tenant", func(f *fixture) error {
			_, err := f.svc.RequestCheck(context.Background(), "nobody", custAccount)
			return err
		}, func(t *testing.T, err error) { wantCode(t, err, onboarding.CodeNotFound, "tenantId") }},
		{"store cannot count", func(f *fixture) error {
			boom := errors.New("throttled")
			f.svc.Store = &limitStore{hookStore: f.hooks, hit: boom}
			defer func() { f.svc.Store = f.hooks }()
			_, err := f.svc.RequestCheck(context.Background(), "acme", custAccount)
			if !errors.Is(err, boom) {
				return errors.New("the store's failure is not in the chain")
			}
			return err
		}, func(t *testing.T, err error) {
			if onboarding.AsError(err) != nil {
				t.Fatalf("a store failure answered as a client error: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			acme := f.tenant(t, "acme")
			if _, err := f.svc.Submit(context.Background(), acme, roleARN); err != nil {
				t.Fatal(err)
			}
			err := tt.first(f)
			if err == nil {
				t.Fatal("the first request was not refused")
			}
			tt.wantErr(t, err)
			if n := len(f.queue.Jobs()); n != 0 {
				t.Fatalf("a refused request queued %d checks", n)
			}
			if _, err := f.svc.RequestCheck(context.Background(), "acme", custAccount); err != nil {
				t.Fatalf("the refused request spent the window: %v", err)
			}
		})
	}

	t.Run("disconnected", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t)
		acme := f.tenant(t, "acme")
		if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Disconnect(ctx, "acme", custAccount); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.RequestCheck(ctx, "acme", custAccount)
		wantCode(t, err, onboarding.CodeDisconnected, "accountId")
		if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RequestCheck(ctx, "acme", custAccount); err != nil {
			t.Fatalf("the disconnected connection's refusal spent the window: %v", err)
		}
	})
}
