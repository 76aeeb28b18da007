package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

const (
	partnerAccount = "111122223333"
	custAccount    = "123456789012"
	roleARN        = "arn:aws:iam::123456789012:role/RoleCall"
)

// hookStore wraps the memory store so tests can inject failures and count
// lookups.
type hookStore struct {
	*store.Memory
	createTenant func(t tenant.Tenant) error // nil: pass through
	rotate       func(t tenant.Tenant) error
	setLimit     func(id string, limit int) error
	apply        func(t connection.Transition) error
	inviteReads  int
	tenantRead   func() // nil: nothing; run before each tenant read
}

func (h *hookStore) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if h.tenantRead != nil {
		h.tenantRead()
	}
	return h.Memory.GetTenant(ctx, id)
}

func (h *hookStore) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	if h.createTenant != nil {
		if err := h.createTenant(t); err != nil {
			return err
		}
	}
	return h.Memory.CreateTenant(ctx, t)
}

func (h *hookStore) SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error) {
	if h.setLimit != nil {
		if err := h.setLimit(id, limit); err != nil {
			return tenant.Tenant{}, err
		}
	}
	return h.Memory.SetMaxConnections(ctx, id, limit)
}

func (h *hookStore) RotateExternalID(ctx context.Context, from, to tenant.Tenant) error {
	if h.rotate != nil {
		if err := h.rotate(to); err != nil {
			return err
		}
	}
	return h.Memory.RotateExternalID(ctx, from, to)
}

func (h *hookStore) Apply(ctx context.Context, t connection.Transition) error {
	if h.apply != nil {
		if err := h.apply(t); err != nil {
			return err
		}
	}
	return h.Memory.Apply(ctx, t)
}

func (h *hookStore) GetInvite(ctx context.Context, hash string) (tenant.Invite, error) {
	h.inviteReads++
	return h.Memory.GetInvite(ctx, hash)
}

type fixture struct {
	svc   *onboarding.Service
	mem   *store.Memory
	hooks *hookStore
	queue *queuetest.Recorder
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: store.NewMemory(), queue: &queuetest.Recorder{}, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f.hooks = &hookStore{Memory: f.mem}
	f.svc = &onboarding.Service{
		Store:     f.hooks,
		Queue:     f.queue,
		Policy:    connection.DefaultPolicy(),
		Rules:     rolearn.Rules{Partition: "aws", OwnAccount: partnerAccount},
		InviteTTL: time.Hour,
		Now:       func() time.Time { return f.now },
	}
	return f
}

func (f *fixture) tenant(t *testing.T, id string) tenant.Tenant {
	t.Helper()
	tn, err := f.svc.CreateTenant(context.Background(), id, "Tenant "+id)
	if err != nil {
		t.Fatalf("CreateTenant(%s): %v", id, err)
	}
	return tn
}

// verify applies a successful check to a stored connection, as the verify
// worker does, and returns the connection as stored.
func (f *fixture) verify(t *testing.T, tenantID, accountID string) connection.Connection {
	t.Helper()
	return f.verifyWith(t, tenantID, accountID, 1)
}

// verifyWith is verify with the tenant's external ID of version v.
func (f *fixture) verifyWith(t *testing.T, tenantID, accountID string, v int) connection.Connection {
	t.Helper()
	ctx := context.Background()
	c, err := f.mem.GetConnection(ctx, tenantID, accountID)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.svc.Policy.Apply(c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: v, CheckedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.mem.Apply(ctx, tr); err != nil {
		t.Fatal(err)
	}
	return tr.After
}

// wantRefused asserts that call is refused with code on field and leaves
// the store as it was.
func (f *fixture) wantRefused(t *testing.T, code, field string, call func() error) {
	t.Helper()
	before := f.mem.Snapshot()
	wantCode(t, call(), code, field)
	if f.mem.Snapshot() != before {
		t.Fatalf("a call refused with %s changed the store", code)
	}
}

// conflictFirst makes the store refuse the next n transitions as written
// concurrently; it returns the count of those refused so far.
func (f *fixture) conflictFirst(n int) *int {
	refused := 0
	f.hooks.apply = func(connection.Transition) error {
		if refused < n {
			refused++
			return fmt.Errorf("apply: %w", store.ErrConflict)
		}
		return nil
	}
	return &refused
}

// wantCode asserts that err is a client error with code and field.
func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	e := onboarding.AsError(err)
	if e == nil {
		t.Fatalf("error %v is not a client error, want %s", err, code)
	}
	if e.Code != code || e.Field != field || e.Message == "" {
		t.Fatalf("error %+v, want code %s on field %q with a message", e, code, field)
	}
}

func TestCreateTenant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn, err := f.svc.CreateTenant(ctx, "acme", "Acme Corp")
	if err != nil {
		t.Fatal(err)
	}
	if tn.ExternalIDVersion != 1 || !strings.HasPrefix(tn.ExternalID, "rc-") || !tn.CreatedAt.Equal(f.now) {
		t.Fatalf("tenant %+v", tn)
	}
	stored, err := f.mem.GetTenant(ctx, "acme")
	if err != nil || stored != tn {
		t.Fatalf("stored %+v (%v), want %+v", stored, err, tn)
	}

	tests := []struct {
		name, id, tname, code, field string
	}{
		{"empty id", "", "X", tenant.CodeInvalidTenantID, "tenantId"},
		{"id with space", "a b", "X", tenant.CodeInvalidTenantID, "tenantId"},
		{"id too long", strings.Repeat("a", 65), "X", tenant.CodeInvalidTenantID, "tenantId"},
		{"empty name", "beta", "", tenant.CodeInvalidName, "name"},
		{"name with newline", "beta", "Beta\nCorp", tenant.CodeInvalidName, "name"},
		{"duplicate", "acme", "Another Acme", onboarding.CodeTenantExists, "tenantId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.wantRefused(t, tt.code, tt.field, func() error { _, err := f.svc.CreateTenant(ctx, tt.id, tt.tname); return err })
		})
	}
	_, err = f.svc.CreateTenant(ctx, "acme", "Again")
	if !errors.Is(err, store.ErrTenantExists) {
		t.Fatalf("duplicate: %v does not wrap store.ErrTenantExists", err)
	}
	if again, _ := f.mem.GetTenant(ctx, "acme"); again.ExternalID != tn.ExternalID {
		t.Fatal("a duplicate CreateTenant changed the existing tenant's external ID")
	}
}

func TestCreateTenantRetriesTakenExternalID(t *testing.T) {
	f := newFixture(t)
	var tried []string
	f.hooks.createTenant = func(tn tenant.Tenant) error {
		tried = append(tried, tn.ExternalID)
		if len(tried) == 1 {
			return fmt.Errorf("create tenant: %w", store.ErrExternalIDTaken)
		}
		return nil
	}
	tn := f.tenant(t, "acme")
	if len(tried) != 2 || tried[0] == tried[1] || tn.ExternalID != tried[1] {
		t.Fatalf("external IDs tried %v, tenant got %q", tried, tn.ExternalID)
	}

	// A store that always refuses gives up with an internal error.
	f.hooks.createTenant = func(tenant.Tenant) error { return store.ErrExternalIDTaken }
	_, err := f.svc.CreateTenant(context.Background(), "beta", "Beta")
	if !errors.Is(err, store.ErrExternalIDTaken) || onboarding.AsError(err) != nil {
		t.Fatalf("err = %v, want an internal error wrapping ErrExternalIDTaken", err)
	}
}

func TestTenantLookup(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "acme")
	_, err := f.svc.Tenant(context.Background(), "nobody")
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")
	_, err = f.svc.Tenant(context.Background(), "no/body")
	wantCode(t, err, tenant.CodeInvalidTenantID, "tenantId")
}

func TestInvites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn := f.tenant(t, "acme")
	code, inv, err := f.svc.CreateInvite(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !tenant.WellFormedCode(code) || inv.Hash != tenant.HashCode(code) || !inv.ExpiresAt.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("code %q invite %+v", code, inv)
	}
	if strings.Contains(f.mem.Snapshot(), code) {
		t.Fatal("the store holds the invite code, not only its hash")
	}

	got, err := f.svc.ResolveInvite(ctx, code)
	if err != nil || got != tn {
		t.Fatalf("ResolveInvite = %+v, %v; want %+v", got, err, tn)
	}

	unknown, _ := tenant.NewInvite("acme", f.now, time.Hour)
	tests := []struct {
		name   string
		code   string
		want   error
		lookup bool
	}{
		{"unknown", unknown, tenant.ErrInvalidInvite, true},
		{"empty", "", tenant.ErrInvalidInvite, false},
		{"malformed short", "abc", tenant.ErrInvalidInvite, false},
		{"malformed upper-case", strings.ToUpper(code), tenant.ErrInvalidInvite, false},
		{"malformed hash", inv.Hash, tenant.ErrInvalidInvite, false},
		{"malformed with space", code[:38] + " ", tenant.ErrInvalidInvite, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := f.hooks.inviteReads
			_, err := f.svc.ResolveInvite(ctx, tt.code)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ResolveInvite = %v, want %v", err, tt.want)
			}
			wantCode(t, err, tenant.CodeInvalidInvite, "")
			if did := f.hooks.inviteReads > reads; did != tt.lookup {
				t.Fatalf("store lookup %v, want %v", did, tt.lookup)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		f.now = f.now.Add(time.Hour)
		_, err := f.svc.ResolveInvite(ctx, code)
		if !errors.Is(err, tenant.ErrInviteExpired) {
			t.Fatalf("ResolveInvite after expiry = %v, want ErrInviteExpired", err)
		}
		wantCode(t, err, tenant.CodeInviteExpired, "")
	})

	t.Run("unknown tenant", func(t *testing.T) {
		f.wantRefused(t, onboarding.CodeNotFound, "tenantId", func() error { _, _, err := f.svc.CreateInvite(ctx, "nobody"); return err })
	})
}

func TestSubmit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	beta := f.tenant(t, "beta")

	t.Run("bad ARNs change nothing", func(t *testing.T) {
		tests := []struct{ arn, code string }{
			{"", rolearn.CodeInvalidARN},
			{"arn:aws:iam::123456789012:user/alice", rolearn.CodeNotRole},
			{"arn:aws:sts::123456789012:assumed-role/RoleCall/s", rolearn.CodeNotRole},
			{" " + roleARN, rolearn.CodeWhitespace},
			{roleARN + "\r\n", rolearn.CodeWhitespace},
			{strings.Replace(roleARN, "a", "\u0430", 1), rolearn.CodeLookalike},
			{"arn:aws-cn:iam::123456789012:role/RoleCall", rolearn.CodeWrongPartition},
			{"arn:aws:iam::111122223333:role/RoleCall", rolearn.CodeOwnAccount},
			{"arn:aws:iam:eu-west-1:123456789012:role/RoleCall", rolearn.CodeRegionPresent},
		}
		for _, tt := range tests {
			before := f.mem.Snapshot()
			_, err := f.svc.Submit(ctx, acme, tt.arn)
			if !errors.Is(err, &rolearn.Error{Code: tt.code}) {
				t.Errorf("Submit(%q) = %v, want %s", tt.arn, err, tt.code)
				continue
			}
			wantCode(t, err, tt.code, rolearn.Field)
			if f.mem.Snapshot() != before {
				t.Errorf("Submit(%q) changed the store", tt.arn)
			}
		}
	})

	c, err := f.svc.Submit(ctx, acme, roleARN)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != connection.Pending || c.Version != 1 || c.RoleARN != roleARN || c.AccountID != custAccount || c.TenantID != "acme" {
		t.Fatalf("submitted %+v", c)
	}
	if stored, _ := f.mem.GetConnection(ctx, "acme", custAccount); stored != c {
		t.Fatalf("stored %+v, want %+v", stored, c)
	}
	evs, _ := f.mem.Events(ctx, "acme", custAccount)
	if len(evs) != 1 || evs[0].DetailType != connection.RoleSubmitted || evs[0].ExternalIDVersion != acme.ExternalIDVersion {
		t.Fatalf("events %+v", evs)
	}

	t.Run("same ARN is idempotent", func(t *testing.T) {
		before := f.mem.Snapshot()
		again, err := f.svc.Submit(ctx, acme, roleARN)
		if err != nil || again != c {
			t.Fatalf("resubmit = %+v, %v; want %+v", again, err, c)
		}
		if f.mem.Snapshot() != before {
			t.Fatal("an idempotent resubmission changed the store")
		}
	})

	// acme's connection verifies and holds the role.
	verified := f.verify(t, "acme", custAccount)
	for _, variant := range []string{
		roleARN,
		"arn:aws:iam::123456789012:role/rolecall",
		"arn:aws:iam::123456789012:role/ROLECALL",
		"arn:aws:iam::123456789012:role/some/path/RoleCall",
	} {
		t.Run("held by another tenant, accepted all the same: "+variant, func(t *testing.T) {
			b, err := f.svc.Submit(ctx, beta, variant)
			if err != nil || b.TenantID != "beta" || b.Status != connection.Pending || b.Reason.Code != connection.CodeSubmitted {
				t.Fatalf("Submit = %+v, %v; want PENDING like any submission", b, err)
			}
			if got, _ := f.mem.GetConnection(ctx, "acme", custAccount); got != verified {
				t.Fatalf("another tenant's submission changed acme's connection: %+v", got)
			}
		})
	}
}

func TestSubmitRetriesConflict(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	conflicts := f.conflictFirst(2)
	c, err := f.svc.Submit(ctx, acme, roleARN)
	if err != nil || c.Version != 1 || *conflicts != 2 {
		t.Fatalf("Submit = %+v, %v after %d conflicts", c, err, *conflicts)
	}

	f.hooks.apply = func(connection.Transition) error { return store.ErrConflict }
	_, err = f.svc.Submit(ctx, acme, "arn:aws:iam::123456789012:role/Other")
	if !errors.Is(err, store.ErrConflict) || onboarding.AsError(err) != nil {
		t.Fatalf("persistent conflict: %v, want an internal error wrapping ErrConflict", err)
	}
}

func TestDisconnect(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	beta := f.tenant(t, "beta")
	if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
		t.Fatal(err)
	}

	_, err := f.svc.Disconnect(ctx, "acme", "123")
	wantCode(t, err, onboarding.CodeInvalidID, "accountId")
	_, err = f.svc.Disconnect(ctx, "acme", "999999999999")
	wantCode(t, err, onboarding.CodeNotFound, "accountId")
	_, err = f.svc.Disconnect(ctx, "nobody", custAccount)
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")

	t.Run("a failed write changes nothing", func(t *testing.T) {
		f.hooks.apply = func(connection.Transition) error { return errBoom }
		defer func() { f.hooks.apply = nil }()
		before := f.mem.Snapshot()
		if _, err := f.svc.Disconnect(ctx, "acme", custAccount); !errors.Is(err, errBoom) || f.mem.Snapshot() != before {
			t.Fatalf("Disconnect = %v (store changed: %v), want %v and no change", err, f.mem.Snapshot() != before, errBoom)
		}
	})

	// A concurrent write is met by reading the connection again.
	conflicts := f.conflictFirst(1)
	d, err := f.svc.Disconnect(ctx, "acme", custAccount)
	f.hooks.apply = nil
	if err != nil || *conflicts != 1 || d.Status != connection.Disconnected || d.Version != 2 {
		t.Fatalf("Disconnect = %+v, %v after %d conflicts", d, err, *conflicts)
	}
	before := f.mem.Snapshot()
	again, err := f.svc.Disconnect(ctx, "acme", custAccount)
	if err != nil || again != d || f.mem.Snapshot() != before {
		t.Fatalf("second Disconnect = %+v, %v (store changed: %v)", again, err, f.mem.Snapshot() != before)
	}

	// Submissions never claim: beta and acme both submit the role again.
	b, err := f.svc.Submit(ctx, beta, "arn:aws:iam::123456789012:role/rolecall")
	if err != nil || b.Status != connection.Pending {
		t.Fatalf("beta after disconnect: %+v, %v", b, err)
	}
	a, err := f.svc.Submit(ctx, acme, roleARN)
	if err != nil || a.Status != connection.Pending {
		t.Fatalf("acme resubmits after disconnect: %+v, %v", a, err)
	}
}

func TestRequestCheckAndRotate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	c, err := f.svc.Submit(ctx, acme, roleARN)
	if err != nil {
		t.Fatal(err)
	}

	got, err := f.svc.RequestCheck(ctx, "acme", custAccount)
	if err != nil || got != c {
		t.Fatalf("RequestCheck = %+v, %v", got, err)
	}
	want := probe.Job{Connection: c, ExternalID: acme.ExternalID, ExternalIDVersion: 1, Why: probe.WhyRequested}
	if len(f.queue.Jobs()) != 1 || f.queue.Jobs()[0] != want {
		t.Fatalf("jobs %+v, want [%+v]", f.queue.Jobs(), want)
	}
	// Another tenant's connection is never checked with acme's external ID.
	other := c
	other.TenantID = "beta"
	if err := f.svc.CheckInvited(ctx, acme, "code", other); err == nil || len(f.queue.Jobs()) != 1 {
		t.Fatalf("CheckInvited of another tenant's connection = %v, %d jobs", err, len(f.queue.Jobs()))
	}

	// A requested check a window later is queued again.
	f.now = f.now.Add(onboarding.CheckRequestWindow)
	rotated, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ExternalID == acme.ExternalID || rotated.ExternalIDVersion != 2 || !rotated.RotatedAt.Equal(f.now) {
		t.Fatalf("rotated %+v", rotated)
	}
	if stored, _ := f.mem.GetTenant(ctx, "acme"); stored != rotated {
		t.Fatalf("stored %+v, want %+v", stored, rotated)
	}

	// Checks requested after the rotation use the new external ID at once.
	if _, err := f.svc.RequestCheck(ctx, "acme", custAccount); err != nil {
		t.Fatal(err)
	}
	if j := f.queue.Jobs()[1]; j.ExternalID != rotated.ExternalID || j.ExternalIDVersion != 2 || j.Request().ExternalID != rotated.ExternalID {
		t.Fatalf("job after rotation %+v", j)
	}

	t.Run("errors", func(t *testing.T) {
		_, err := f.svc.RequestCheck(ctx, "acme", "999999999999")
		wantCode(t, err, onboarding.CodeNotFound, "accountId")
		_, err = f.svc.RequestCheck(ctx, "nobody", custAccount)
		wantCode(t, err, onboarding.CodeNotFound, "tenantId")
		_, err = f.svc.RotateExternalID(ctx, "nobody", onboarding.RotateOptions{})
		wantCode(t, err, onboarding.CodeNotFound, "tenantId")

		boom := errors.New("queue down")
		f.queue.Fail(boom)
		f.now = f.now.Add(onboarding.CheckRequestWindow)
		_, err = f.svc.RequestCheck(ctx, "acme", custAccount)
		if !errors.Is(err, boom) || onboarding.AsError(err) != nil {
			t.Fatalf("queue failure: %v", err)
		}
		f.queue.Fail(nil)

		f.hooks.rotate = func(tenant.Tenant) error { return fmt.Errorf("rotate: %w", store.ErrConflict) }
		_, err = f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
		wantCode(t, err, onboarding.CodeConflict, "")
		f.hooks.rotate = nil

		n := len(f.queue.Jobs())
		if _, err := f.svc.Disconnect(ctx, "acme", custAccount); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.RequestCheck(ctx, "acme", custAccount)
		wantCode(t, err, onboarding.CodeDisconnected, "accountId")
		if len(f.queue.Jobs()) != n {
			t.Fatal("a disconnected connection was queued")
		}
	})
}

func TestListings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	for i := range 3 {
		if _, err := f.svc.Submit(ctx, acme, fmt.Sprintf("arn:aws:iam::12345678901%d:role/R", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"", "pending", "CONNECTED", "PENDING "} {
		_, err := f.svc.ListByStatus(ctx, bad, "", 10)
		wantCode(t, err, onboarding.CodeInvalidStatus, "status")
	}
	p, err := f.svc.ListByStatus(ctx, "PENDING", "", 10)
	if err != nil || len(p.Items) != 3 {
		t.Fatalf("ListByStatus(PENDING) = %d items, %v", len(p.Items), err)
	}
	p, err = f.svc.ListByStatus(ctx, "VERIFIED", "", 10)
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("ListByStatus(VERIFIED) = %d items, %v", len(p.Items), err)
	}

	p, err = f.svc.ListByTenant(ctx, "acme", "", 2)
	if err != nil || len(p.Items) != 2 || p.Cursor == "" {
		t.Fatalf("ListByTenant page 1 = %+v, %v", p, err)
	}
	p2, err := f.svc.ListByTenant(ctx, "acme", p.Cursor, 2)
	if err != nil || len(p2.Items) != 1 || p2.Cursor != "" {
		t.Fatalf("ListByTenant page 2 = %+v, %v", p2, err)
	}
	_, err = f.svc.ListByTenant(ctx, "nobody", "", 2)
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")
	_, err = f.svc.ListByTenant(ctx, "acme", "!!not-a-cursor!!", 2)
	wantCode(t, err, onboarding.CodeInvalidCursor, "cursor")
}

func TestConnectionLookup(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"", "12345678901", "1234567890123", "12345678901a", "123456789012 "} {
		_, err := f.svc.Connection(context.Background(), "acme", bad)
		wantCode(t, err, onboarding.CodeInvalidID, "accountId")
	}
	_, err := f.svc.Connection(context.Background(), "acme", custAccount)
	wantCode(t, err, onboarding.CodeNotFound, "accountId")
}

func TestAsErrorInternal(t *testing.T) {
	if e := onboarding.AsError(errors.New("disk on fire")); e != nil {
		t.Fatalf("AsError(internal) = %+v, want nil", e)
	}
	if e := onboarding.AsError(nil); e != nil {
		t.Fatalf("AsError(nil) = %+v", e)
	}
}

// TestCheckInvited: the customer form's check queues the connection's
// jobs with its tenant's external ID, at most once per connection per
// CustomerCheckWindow, each counted against the invite's submissions; a
// refused one, or one of a disconnected connection, queues nothing.
func TestCheckInvited(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.SubmissionsPerMinute = 3
	acme := f.tenant(t, "acme")
	c, err := f.svc.Submit(ctx, acme, roleARN)
	if err != nil {
		t.Fatal(err)
	}
	gone := c
	gone.Status = connection.Disconnected
	start := f.now.Truncate(time.Minute).Add(time.Minute)
	w := onboarding.CustomerCheckWindow
	tests := []struct {
		name  string
		at    time.Duration // after start
		conn  connection.Connection
		code  string // the refusal's; "" queues a check
		retry time.Duration
	}{
		{"the first", 0, c, "", 0},
		{"again in the same window", time.Second, c, onboarding.CodeCheckTooSoon, w - time.Second},
		{"a burst at the window's end", w - time.Millisecond, c, onboarding.CodeCheckTooSoon, time.Second},
		{"the next window", w, c, "", 0},
		{"a disconnected connection", 2 * w, gone, onboarding.CodeDisconnected, 0},
		{"the third of the invite's minute", 3 * w, c, "", 0},
		{"past the invite's submissions a minute", 4 * w, c, onboarding.CodeRateLimited, time.Minute - 4*w},
		{"the next minute", time.Minute, c, "", 0},
	}
	for _, tt := range tests {
		f.now = start.Add(tt.at)
		before := len(f.queue.Jobs())
		err := f.svc.CheckInvited(ctx, acme, "invite-code", tt.conn)
		queued := len(f.queue.Jobs()) - before
		if tt.code == "" {
			if err != nil || queued != 1 || f.queue.Jobs()[before].ExternalID != acme.ExternalID {
				t.Errorf("%s: %v, %d jobs queued, want one with acme's external ID", tt.name, err, queued)
			}
			continue
		}
		e := onboarding.AsError(err)
		if e == nil || e.Code != tt.code || e.RetryAfter != tt.retry || queued != 0 {
			t.Errorf("%s: %+v (%v), %d jobs queued; want %s, retry after %v, none queued", tt.name, e, err, queued, tt.code, tt.retry)
		}
	}
	// A counter the store cannot keep is an internal error that queues
	// nothing.
	boom := errors.New("throttled")
	f.svc.Store = &limitStore{hookStore: f.hooks, hit: boom}
	f.now = start.Add(2 * time.Minute)
	before := len(f.queue.Jobs())
	if err := f.svc.CheckInvited(ctx, acme, "invite-code", c); !errors.Is(err, boom) || onboarding.AsError(err) != nil || len(f.queue.Jobs()) != before {
		t.Errorf("with the store failing: %v, %d jobs queued", err, len(f.queue.Jobs())-before)
	}
}

// TestResubmitWhileAccessLostKeepsTheClaim: the customer submits the role
// of an ACCESS_LOST connection again (they fixed it): a check of it is
// queued at once, and the connection stays ACCESS_LOST holding the role's
// claim, so another tenant's connection whose external ID the role also
// trusts cannot take it meanwhile. A failed queue send is an error, and a
// burst of resubmissions queues one check per CustomerCheckWindow, as
// CheckInvited does.
func TestResubmitWhileAccessLostKeepsTheClaim(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme, beta := f.tenant(t, "acme"), f.tenant(t, "beta")
	if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
		t.Fatal(err)
	}
	c := f.verify(t, "acme", custAccount)
	for range f.svc.Policy.LostAfter {
		f.now = f.now.Add(time.Minute)
		tr, err := f.svc.Policy.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: f.now})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.mem.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	if c.Status != connection.AccessLost {
		t.Fatalf("setup: %s", c.Status)
	}
	queued := len(f.queue.Jobs())

	f.svc.Store = &limitStore{hookStore: f.hooks, hit: errors.New("dynamodb down")}
	if _, err := f.svc.Submit(ctx, acme, roleARN); err == nil || !strings.Contains(err.Error(), "count check request") {
		t.Fatalf("a submission whose check could not be counted: %v, want its error", err)
	}
	f.svc.Store = f.hooks
	f.queue.Fail(errors.New("sqs down"))
	if _, err := f.svc.Submit(ctx, acme, roleARN); err == nil {
		t.Fatal("a submission whose check was not queued succeeded")
	}
	f.queue.Fail(nil)
	// A burst queues one check per CustomerCheckWindow, as CheckInvited
	// does; the failed send spent the window it was in.
	f.now = f.now.Add(onboarding.CustomerCheckWindow)
	for range 5 {
		got, err := f.svc.SubmitInvited(ctx, acme, "invite-code", roleARN)
		if err != nil || got.Status != connection.AccessLost || !got.HoldsClaim() || got.Version != c.Version {
			t.Fatalf("resubmitted: %+v, %v; want ACCESS_LOST, the claim held", got, err)
		}
	}
	jobs := f.queue.Jobs()
	if len(jobs) != queued+1 || jobs[len(jobs)-1].Connection.AccountID != custAccount || jobs[len(jobs)-1].Why != probe.WhyRequested {
		t.Fatalf("jobs %+v after %d, want one check of the connection", jobs, queued)
	}

	// Another tenant's connection to the role cannot take its claim.
	if _, err := f.svc.Submit(ctx, beta, roleARN); err != nil {
		t.Fatal(err)
	}
	b, _ := f.mem.GetConnection(ctx, "beta", custAccount)
	tr, err := f.svc.Policy.Apply(b, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: b.Version, ExternalIDVersion: 1, CheckedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.mem.Apply(ctx, tr); !errors.Is(err, store.ErrRoleClaimed) {
		t.Fatalf("another tenant verified the role: %v, want %v", err, store.ErrRoleClaimed)
	}
}
