package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// limitStore injects failures into the limit and invite methods.
type limitStore struct {
	*hookStore
	hit       error
	countLive error
	revokeN   int // RevokeInvite fails from the revokeN-th call (0: never)
	revokes   int
}

func (l *limitStore) Hit(ctx context.Context, key string, w time.Time, limit int, exp time.Time) (bool, error) {
	if l.hit != nil {
		return false, l.hit
	}
	return l.hookStore.Hit(ctx, key, w, limit, exp)
}

func (l *limitStore) CountLive(ctx context.Context, tenantID string) (int, error) {
	if l.countLive != nil {
		return 0, l.countLive
	}
	return l.hookStore.CountLive(ctx, tenantID)
}

func (l *limitStore) RevokeInvite(ctx context.Context, tenantID, id string) (tenant.Invite, error) {
	l.revokes++
	if l.revokeN > 0 && l.revokes >= l.revokeN {
		return tenant.Invite{}, errors.New("dynamodb is down")
	}
	return l.hookStore.RevokeInvite(ctx, tenantID, id)
}

func TestRetryAfter(t *testing.T) {
	end := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	tests := []struct {
		left time.Duration
		want time.Duration
	}{
		{60 * time.Second, 60 * time.Second},
		{59*time.Second + time.Nanosecond, 60 * time.Second},
		{time.Second, time.Second},
		{time.Nanosecond, time.Second},
		{0, time.Second},
		{-time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := onboarding.RetryAfter(end.Add(-tt.left), end); got != tt.want {
			t.Errorf("RetryAfter(%v before the end) = %v, want %v", tt.left, got, tt.want)
		}
	}
}

// TestLimitStoreFailures: when the store cannot count, a submission fails
// as an internal error and writes nothing.
func TestLimitStoreFailures(t *testing.T) {
	tests := []struct {
		name       string
		hit, count error
	}{
		{"rate counter fails", errors.New("throttled"), nil},
		{"live count fails", nil, errors.New("throttled")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ls := &limitStore{hookStore: f.hooks, hit: tt.hit, countLive: tt.count}
			f.svc.Store = ls
			tn := f.tenant(t, "acme")
			code, _, err := f.svc.CreateInvite(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			before := f.mem.Snapshot()
			_, err = f.svc.SubmitInvited(context.Background(), tn, code, roleARN)
			want := tt.hit
			if want == nil {
				want = tt.count
			}
			if !errors.Is(err, want) || onboarding.AsError(err) != nil {
				t.Fatalf("SubmitInvited = %v, want the store's error as an internal one", err)
			}
			if f.mem.Snapshot() != before {
				t.Fatal("a failed submission changed the store")
			}
		})
	}
}

func TestCreateWithOptionsValidatesFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []int{0, -1, 10_001} {
		_, err := f.svc.CreateTenantWith(ctx, "acme", "Acme", onboarding.TenantOptions{MaxConnections: &n})
		wantCode(t, err, tenant.CodeInvalidMaxConnections, "maxConnections")
	}
	f.tenant(t, "acme")
	before := f.mem.Snapshot()
	for _, s := range []int64{0, 3599, 30*86400 + 1} {
		_, _, err := f.svc.CreateInviteWith(ctx, "acme", onboarding.InviteOptions{TTLSeconds: &s})
		wantCode(t, err, tenant.CodeInvalidTTL, "ttlSeconds")
	}
	ok := int64(3600)
	_, _, err := f.svc.CreateInviteWith(ctx, "nobody", onboarding.InviteOptions{TTLSeconds: &ok})
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")
	if f.mem.Snapshot() != before {
		t.Fatal("refused creations changed the store")
	}
}

// TestRevokeInvitesResumes: revoking every invite is not one transaction;
// after a failure, calling again revokes the rest.
func TestRevokeInvitesResumes(t *testing.T) {
	f := newFixture(t)
	ls := &limitStore{hookStore: f.hooks, revokeN: 2}
	f.svc.Store = ls
	ctx := context.Background()
	f.tenant(t, "acme")
	f.tenant(t, "globex")
	var codes []string
	for range 3 {
		c, _, err := f.svc.CreateInvite(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c)
		f.now = f.now.Add(time.Second)
	}
	other, _, _ := f.svc.CreateInvite(ctx, "globex")
	n, err := f.svc.RevokeInvites(ctx, "acme")
	if err == nil || n != 1 {
		t.Fatalf("RevokeInvites with a failing store = %d, %v; want 1 and an error", n, err)
	}
	ls.revokeN = 0
	if n, err := f.svc.RevokeInvites(ctx, "acme"); err != nil || n != 2 {
		t.Fatalf("RevokeInvites again = %d, %v; want the 2 left", n, err)
	}
	if n, err := f.svc.RevokeInvites(ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("RevokeInvites a third time = %d, %v; want 0", n, err)
	}
	for _, c := range codes {
		if _, err := f.svc.ResolveInvite(ctx, c); !errors.Is(err, tenant.ErrInviteRevoked) {
			t.Fatalf("revoked code resolves: %v", err)
		}
	}
	if _, err := f.svc.ResolveInvite(ctx, other); err != nil {
		t.Fatalf("another tenant's invite: %v", err)
	}
	if _, err := f.svc.RevokeInvites(ctx, "nobody"); onboarding.AsError(err) == nil || onboarding.AsError(err).Code != onboarding.CodeNotFound {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// TestCreateTenantWithOptions: no MaxConnections is the default limit, a
// valid one is stored as given.
func TestCreateTenantWithOptions(t *testing.T) {
	five := 5
	tests := []struct {
		name string
		opts onboarding.TenantOptions
		want int
	}{
		{"no options: the default limit", onboarding.TenantOptions{}, tenant.DefaultMaxConnections},
		{"a limit", onboarding.TenantOptions{MaxConnections: &five}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			tn, err := f.svc.CreateTenantWith(ctx, "acme", "Acme", tt.opts)
			if err != nil || tn.MaxConnections != tt.want {
				t.Fatalf("CreateTenantWith = %+v, %v; want maxConnections %d", tn, err, tt.want)
			}
			stored, err := f.svc.Tenant(ctx, "acme")
			if err != nil || stored.MaxConnections != tt.want {
				t.Fatalf("stored %+v, %v; want maxConnections %d", stored, err, tt.want)
			}
		})
	}
}

// TestSubmitInvitedLimits: the rate limit and the connection limit refuse
// with their codes and change nothing; malformed input is refused before it
// counts against the rate limit.
func TestSubmitInvitedLimits(t *testing.T) {
	ctx := context.Background()
	accountARN := func(i int) string { return fmt.Sprintf("arn:aws:iam::%012d:role/RoleCall", 200000000000+i) }
	// submit makes n submissions for tn, with the invite code or without.
	submit := func(t *testing.T, f *fixture, tn tenant.Tenant, code string, n int) {
		t.Helper()
		for i := range n {
			var err error
			if code != "" {
				_, err = f.svc.SubmitInvited(ctx, tn, code, accountARN(i))
			} else {
				_, err = f.svc.Submit(ctx, tn, accountARN(i))
			}
			if err != nil {
				t.Fatalf("submission %d: %v", i, err)
			}
		}
	}
	tests := []struct {
		name      string
		maxConns  *int // the tenant's option (nil: default)
		perMinute int
		// before runs before the submission under test; it returns the
		// tenant as the API resolved it.
		before func(t *testing.T, f *fixture, tn tenant.Tenant, code string) tenant.Tenant
		role   string
		code   string
		field  string
	}{
		{"malformed ARN: refused, not counted", nil, 1, func(t *testing.T, f *fixture, tn tenant.Tenant, code string) tenant.Tenant { return tn },
			"this-is-not-a-role-arn-at-all", rolearn.CodeInvalidARN, "roleArn"},
		{"rate limited", nil, 2, func(t *testing.T, f *fixture, tn tenant.Tenant, code string) tenant.Tenant {
			submit(t, f, tn, code, 2)
			return tn
		}, roleARN, onboarding.CodeRateLimited, ""},
		{"connection limit of the tenant", ptr(1), 0, func(t *testing.T, f *fixture, tn tenant.Tenant, code string) tenant.Tenant {
			submit(t, f, tn, "", 1)
			return tn
		}, roleARN, onboarding.CodeConnectionLimit, ""},
		{"a tenant read without a limit has the default one", nil, 0, func(t *testing.T, f *fixture, tn tenant.Tenant, code string) tenant.Tenant {
			submit(t, f, tn, "", tenant.DefaultMaxConnections)
			tn.MaxConnections = 0
			return tn
		}, roleARN, onboarding.CodeConnectionLimit, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.svc.SubmissionsPerMinute = tt.perMinute
			tn, err := f.svc.CreateTenantWith(ctx, "acme", "Acme", onboarding.TenantOptions{MaxConnections: tt.maxConns})
			if err != nil {
				t.Fatal(err)
			}
			code, _, err := f.svc.CreateInvite(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			tn = tt.before(t, f, tn, code)
			f.wantRefused(t, tt.code, tt.field, func() error { _, err = f.svc.SubmitInvited(ctx, tn, code, tt.role); return err })
			if tt.code == onboarding.CodeRateLimited && onboarding.AsError(err).RetryAfter <= 0 {
				t.Fatalf("RATE_LIMITED without RetryAfter: %+v", onboarding.AsError(err))
			}
			if tt.code == rolearn.CodeInvalidARN {
				// The malformed submission did not count: the one allowed
				// this minute is still there.
				if _, err := f.svc.SubmitInvited(ctx, tn, code, roleARN); err != nil {
					t.Fatalf("the next well-formed submission: %v", err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSetMaxConnections: a valid limit is stored and takes effect at the
// next submission, whether raised past the live connections or lowered
// below them (which disconnects none); bad input is refused with its code
// and field and changes nothing.
func TestSetMaxConnections(t *testing.T) {
	ctx := context.Background()
	arn := func(i int) string { return fmt.Sprintf("arn:aws:iam::%012d:role/RoleCall", 300000000000+i) }
	f := newFixture(t)
	one := 1
	if _, err := f.svc.CreateTenantWith(ctx, "acme", "Acme", onboarding.TenantOptions{MaxConnections: &one}); err != nil {
		t.Fatal(err)
	}
	submit := func(i int) error {
		tn, err := f.svc.Tenant(ctx, "acme") // as the API reads it for each request
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Submit(ctx, tn, arn(i))
		return err
	}
	if err := submit(0); err != nil {
		t.Fatal(err)
	}
	f.wantRefused(t, onboarding.CodeConnectionLimit, "", func() error { return submit(1) })
	if msg := onboarding.AsError(submit(1)).Message; !strings.Contains(msg, "has 1 connected accounts and may have at most 1") {
		t.Fatalf("CONNECTION_LIMIT says %q; want the count and the limit", msg)
	}

	for _, tt := range []struct {
		name, id    string
		limit       int
		code, field string
	}{
		{"no such tenant", "nobody", 5, onboarding.CodeNotFound, "tenantId"},
		{"malformed tenant ID", "Not A Tenant!", 5, tenant.CodeInvalidTenantID, "tenantId"},
		{"zero", "acme", 0, tenant.CodeInvalidMaxConnections, "maxConnections"},
		{"negative", "acme", -3, tenant.CodeInvalidMaxConnections, "maxConnections"},
		{"above the most", "acme", tenant.MaxMaxConnections + 1, tenant.CodeInvalidMaxConnections, "maxConnections"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.wantRefused(t, tt.code, tt.field, func() error { _, err := f.svc.SetMaxConnections(ctx, tt.id, tt.limit); return err })
		})
	}

	raised, err := f.svc.SetMaxConnections(ctx, "acme", 3)
	if err != nil || raised.MaxConnections != 3 || raised.ID != "acme" || raised.ExternalIDVersion != 1 {
		t.Fatalf("SetMaxConnections(acme, 3) = %+v, %v", raised, err)
	}
	for i := 1; i < 3; i++ {
		if err := submit(i); err != nil {
			t.Fatalf("submission %d under the raised limit: %v", i, err)
		}
	}
	f.wantRefused(t, onboarding.CodeConnectionLimit, "", func() error { return submit(3) })

	if _, err := f.svc.SetMaxConnections(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := f.mem.CountLive(ctx, "acme"); err != nil || n != 3 {
		t.Fatalf("after lowering the limit, %d live connections (%v); want the 3 kept", n, err)
	}
	if msg := onboarding.AsError(submit(3)).Message; !strings.Contains(msg, "has 3 connected accounts and may have at most 1") {
		t.Fatalf("CONNECTION_LIMIT below the live count says %q", msg)
	}
	if err := submit(0); err != nil {
		t.Fatalf("resubmitting a live connection under a lowered limit: %v", err)
	}
}

// TestTenantWritesContended: a store that could not set the limit or
// rotate for the transactions in flight on the tenant (store.ErrContended,
// or ErrConflict) is a 409 CONFLICT to retry, not an internal error.
func TestTenantWritesContended(t *testing.T) {
	for _, sentinel := range []error{store.ErrConflict, store.ErrContended} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			f := newFixture(t)
			f.tenant(t, "acme")
			f.hooks.setLimit = func(string, int) error { return fmt.Errorf("set connection limit of acme: %w", sentinel) }
			f.hooks.rotate = func(tenant.Tenant) error { return fmt.Errorf("rotate external id of acme: %w", sentinel) }
			ctx := context.Background()
			f.wantRefused(t, onboarding.CodeConflict, "", func() error { _, err := f.svc.SetMaxConnections(ctx, "acme", 5); return err })
			f.wantRefused(t, onboarding.CodeConflict, "", func() error {
				_, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
				return err
			})
		})
	}
}
