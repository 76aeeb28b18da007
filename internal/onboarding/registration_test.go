package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// tokenStore wraps the memory token store so tests can inject failures;
// put sees every write (nil: pass through), the errors fail their call.
type tokenStore struct {
	*store.MemoryRegistrations
	put               func(registration.Token) error
	list, get, revoke error
	// stale lists no token, as a listing read before concurrent
	// creations wrote answers; staleOnce does so for the next listing
	// only.
	stale, staleOnce bool
	// relist fails the listings after the first.
	relist error
	lists  int
}

func (s *tokenStore) PutRegistrationToken(ctx context.Context, t registration.Token) error {
	if s.put != nil {
		if err := s.put(t); err != nil {
			return err
		}
	}
	return s.MemoryRegistrations.PutRegistrationToken(ctx, t)
}

func (s *tokenStore) ListRegistrationTokens(ctx context.Context, tenantID string) ([]registration.Token, error) {
	s.lists++
	if s.relist != nil && s.lists > 1 {
		return nil, s.relist
	}
	if s.list != nil || s.stale || s.staleOnce {
		s.staleOnce = false
		return nil, s.list
	}
	return s.MemoryRegistrations.ListRegistrationTokens(ctx, tenantID)
}

func (s *tokenStore) GetRegistrationToken(ctx context.Context, hash string) (registration.Token, error) {
	if s.get != nil {
		return registration.Token{}, s.get
	}
	return s.MemoryRegistrations.GetRegistrationToken(ctx, hash)
}

func (s *tokenStore) RevokeRegistrationToken(ctx context.Context, tenantID, tokenID string, at time.Time) (registration.Token, error) {
	if s.revoke != nil {
		return registration.Token{}, s.revoke
	}
	return s.MemoryRegistrations.RevokeRegistrationToken(ctx, tenantID, tokenID, at)
}

// registrations returns the registration operations over f's service and
// a fresh token store.
func (f *fixture) registrations() (*onboarding.Registrations, *tokenStore) {
	ts := &tokenStore{MemoryRegistrations: store.NewMemoryRegistrations()}
	return &onboarding.Registrations{Service: f.svc, Tokens: ts}, ts
}

// newRegistrations is a fixture with the tenants created, and its
// registration operations over a fresh token store.
func newRegistrations(t *testing.T, tenantIDs ...string) (*fixture, *onboarding.Registrations, *tokenStore) {
	t.Helper()
	f := newFixture(t)
	for _, id := range tenantIDs {
		f.tenant(t, id)
	}
	regs, ts := f.registrations()
	return f, regs, ts
}

// tokens lists a tenant's stored tokens straight from the store.
func tokens(t *testing.T, ts *tokenStore, tenantID string) []registration.Token {
	t.Helper()
	list, err := ts.MemoryRegistrations.ListRegistrationTokens(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestCreateToken(t *testing.T) {
	ctx := context.Background()
	f, regs, ts := newRegistrations(t, "acme")
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"default lifetime", 0, registration.DefaultTTL},
		{"shortest", registration.MinTTL, registration.MinTTL},
		{"longest", registration.MaxTTL, registration.MaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, tok, err := regs.CreateToken(ctx, "acme", tt.ttl)
			if err != nil || !registration.WellFormed(secret) || tok.Hash != registration.Hash(secret) ||
				tok.TenantID != "acme" || tok.Via != registration.ViaOps || !tok.ExpiresAt.Equal(f.now.Add(tt.want)) {
				t.Fatalf("CreateToken = %q, %+v, %v; want a token expiring in %v", secret, tok, err, tt.want)
			}
			if got, _ := ts.GetRegistrationToken(ctx, tok.Hash); got != tok {
				t.Fatalf("stored %+v, want %+v", got, tok)
			}
		})
	}

	bad := []struct {
		name, tenantID string
		ttl            time.Duration
		code, field    string
	}{
		{"too short", "acme", registration.MinTTL - time.Second, onboarding.CodeInvalidTTL, "ttlSeconds"},
		{"too long", "acme", registration.MaxTTL + time.Second, onboarding.CodeInvalidTTL, "ttlSeconds"},
		{"negative", "acme", -time.Hour, onboarding.CodeInvalidTTL, "ttlSeconds"},
		{"unknown tenant", "nobody", 0, onboarding.CodeNotFound, "tenantId"},
		{"malformed tenant", "no/body", 0, tenant.CodeInvalidTenantID, "tenantId"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			before := tokens(t, ts, "acme")
			_, _, err := regs.CreateToken(ctx, tt.tenantID, tt.ttl)
			wantCode(t, err, tt.code, tt.field)
			if after := tokens(t, ts, "acme"); !reflect.DeepEqual(after, before) {
				t.Fatal("a refused CreateToken stored a token")
			}
		})
	}
}

func TestCreateTokenLimits(t *testing.T) {
	ctx := context.Background()
	f, regs, ts := newRegistrations(t, "acme", "beta")

	t.Run("per invite", func(t *testing.T) {
		for i := range registration.MaxPerInvite {
			_, tok, err := regs.CreateTokenForInvite(ctx, "beta", "hash-a")
			if err != nil || tok.Via != registration.ViaInvite || tok.InviteHash != "hash-a" || !tok.ExpiresAt.Equal(f.now.Add(registration.DefaultTTL)) {
				t.Fatalf("token %d for the invite = %+v, %v", i, tok, err)
			}
		}
		_, _, err := regs.CreateTokenForInvite(ctx, "beta", "hash-a")
		wantCode(t, err, onboarding.CodeTooManyTokens, "")
		if _, _, err := regs.CreateTokenForInvite(ctx, "beta", "hash-b"); err != nil {
			t.Fatalf("another invite's first token: %v", err)
		}
		_, _, err = regs.CreateTokenForInvite(ctx, "beta", "")
		if err == nil || onboarding.AsError(err) != nil {
			t.Fatalf("no invite: %v, want an internal error", err)
		}
		if n := len(tokens(t, ts, "beta")); n != registration.MaxPerInvite+1 {
			t.Fatalf("beta holds %d tokens, want %d", n, registration.MaxPerInvite+1)
		}
	})

	// Requests that arrive together all list the tokens before any is
	// written: the invite's count is taken in the store all the same.
	t.Run("per invite, listed together", func(t *testing.T) {
		ts.stale = true
		defer func() { ts.stale = false }()
		made := 0
		for range registration.MaxPerInvite + 3 {
			_, _, err := regs.CreateTokenForInvite(ctx, "beta", "hash-c")
			if err == nil {
				made++
				continue
			}
			wantCode(t, err, onboarding.CodeTooManyTokens, "")
		}
		if made != registration.MaxPerInvite {
			t.Fatalf("an invite made %d tokens when its requests listed together, want %d", made, registration.MaxPerInvite)
		}
	})

	// A count the store cannot keep is an internal error, and no token.
	t.Run("per invite, the store cannot count", func(t *testing.T) {
		boom := errors.New("throttled")
		saved := f.svc.Store
		f.svc.Store = &limitStore{hookStore: f.hooks, hit: boom}
		defer func() { f.svc.Store = saved }()
		before := len(tokens(t, ts, "beta"))
		if _, _, err := regs.CreateTokenForInvite(ctx, "beta", "hash-d"); !errors.Is(err, boom) || onboarding.AsError(err) != nil {
			t.Fatalf("with the store failing: %v", err)
		}
		if n := len(tokens(t, ts, "beta")); n != before {
			t.Fatalf("a token was stored: %d, %d before", n, before)
		}
	})

	t.Run("live per tenant", func(t *testing.T) {
		var first registration.Token
		for i := range registration.MaxLive {
			_, tok, err := regs.CreateToken(ctx, "acme", 0)
			if err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
			if i == 0 {
				first = tok
			}
		}
		_, _, err := regs.CreateToken(ctx, "acme", 0)
		wantCode(t, err, onboarding.CodeTooManyTokens, "")
		if n := len(tokens(t, ts, "acme")); n != registration.MaxLive {
			t.Fatalf("acme holds %d tokens after the refusal, want %d", n, registration.MaxLive)
		}
		// A creation whose listing was read before others wrote theirs
		// passes the first count; counted again once written, it is
		// revoked and refused.
		ts.staleOnce = true
		secret, _, err := regs.CreateToken(ctx, "acme", 0)
		wantCode(t, err, onboarding.CodeTooManyTokens, "")
		live := 0
		for _, tok := range tokens(t, ts, "acme") {
			if tok.Live(f.now) {
				live++
			}
		}
		if secret != "" || live != registration.MaxLive {
			t.Fatalf("a creation racing others: secret %q, %d live tokens, want none and %d", secret, live, registration.MaxLive)
		}
		if _, err := regs.RevokeToken(ctx, "acme", first.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := regs.CreateToken(ctx, "acme", 0); err != nil {
			t.Fatalf("after a revocation: %v", err)
		}
	})
}

func TestCreateTokenStoreFailures(t *testing.T) {
	ctx := context.Background()
	_, regs, ts := newRegistrations(t, "acme")

	var tried []string
	ts.put = func(tok registration.Token) error {
		tried = append(tried, tok.Hash)
		if len(tried) == 1 {
			return fmt.Errorf("put: %w", store.ErrConflict)
		}
		return nil
	}
	secret, tok, err := regs.CreateToken(ctx, "acme", 0)
	if err != nil || len(tried) != 2 || tried[0] == tried[1] || tok.Hash != tried[1] || registration.Hash(secret) != tried[1] {
		t.Fatalf("CreateToken after a collision = %+v, %v; tried %v", tok, err, tried)
	}

	tests := []struct {
		name  string
		put   func(registration.Token) error
		list  error
		cause error
	}{
		{"collides every time", func(registration.Token) error { return store.ErrConflict }, nil, store.ErrConflict},
		{"write fails", func(registration.Token) error { return errBoom }, nil, errBoom},
		{"listing fails", nil, errBoom, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.put, ts.list = tt.put, tt.list
			before := tokens(t, ts, "acme")
			secret, _, err := regs.CreateToken(ctx, "acme", 0)
			wantInternal(t, err, tt.cause)
			if secret != "" || !reflect.DeepEqual(tokens(t, ts, "acme"), before) {
				t.Fatal("a failed CreateToken returned a secret or stored a token")
			}
		})
	}

	// The count after the write fails: the token written is revoked, as
	// nobody holds its secret.
	ts.put, ts.list, ts.relist, ts.lists = nil, nil, errBoom, 0
	secret, _, err = regs.CreateToken(ctx, "acme", 0)
	wantInternal(t, err, errBoom)
	live := 0
	for _, tok := range tokens(t, ts, "acme") {
		if !tok.Revoked {
			live++
		}
	}
	if secret != "" || live != 1 {
		t.Fatalf("the recount failed: secret %q, %d tokens not revoked, want none and 1 (the one created above)", secret, live)
	}
	// And the revocation too: both are said.
	ts.revoke, ts.lists = errors.New("revoke down"), 0
	_, _, err = regs.CreateToken(ctx, "acme", 0)
	if !errors.Is(err, errBoom) || !errors.Is(err, ts.revoke) {
		t.Fatalf("the recount and the revocation failed: %v; want both", err)
	}
}

var errBoom = errors.New("dynamodb is down")

func TestListAndRevokeToken(t *testing.T) {
	ctx := context.Background()
	f, regs, ts := newRegistrations(t, "acme", "beta")
	var made []registration.Token
	for range 2 {
		_, tok, err := regs.CreateToken(ctx, "acme", 0)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, tok)
		f.now = f.now.Add(time.Second)
	}
	betaSecret, betaTok, err := regs.CreateToken(ctx, "beta", 0)
	if err != nil {
		t.Fatal(err)
	}

	list, err := regs.ListTokens(ctx, "acme")
	if err != nil || !reflect.DeepEqual(list, made) {
		t.Fatalf("ListTokens = %+v, %v; want %+v", list, err, made)
	}
	_, err = regs.ListTokens(ctx, "nobody")
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")

	r, err := regs.RevokeToken(ctx, "acme", made[0].ID)
	if err != nil || !r.Revoked || !r.RevokedAt.Equal(f.now) || r.ID != made[0].ID {
		t.Fatalf("RevokeToken = %+v, %v", r, err)
	}
	if l := tokens(t, ts, "acme"); !l[0].Revoked || l[1].Revoked {
		t.Fatalf("stored after revoking the first: %+v", l)
	}

	tests := []struct {
		name, tenantID, tokenID, code, field string
	}{
		{"another tenant's token", "acme", betaTok.ID, onboarding.CodeNotFound, "tokenId"},
		{"unknown", "acme", "rtk-0123456789abcdef0123", onboarding.CodeNotFound, "tokenId"},
		{"malformed", "acme", "rtk-XYZ", onboarding.CodeNotFound, "tokenId"},
		{"empty", "acme", "", onboarding.CodeNotFound, "tokenId"},
		{"unknown tenant", "nobody", made[1].ID, onboarding.CodeNotFound, "tenantId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acme, beta := tokens(t, ts, "acme"), tokens(t, ts, "beta")
			_, err := regs.RevokeToken(ctx, tt.tenantID, tt.tokenID)
			wantCode(t, err, tt.code, tt.field)
			if !reflect.DeepEqual(tokens(t, ts, "acme"), acme) || !reflect.DeepEqual(tokens(t, ts, "beta"), beta) {
				t.Fatal("a refused revocation changed the tokens")
			}
		})
	}
	if _, _, err := regs.Authenticate(ctx, betaSecret); err != nil {
		t.Fatalf("beta's token after acme tried to revoke it: %v", err)
	}

	t.Run("store fails", func(t *testing.T) {
		ts.list, ts.revoke = errBoom, errBoom
		defer func() { ts.list, ts.revoke = nil, nil }()
		_, err := regs.ListTokens(ctx, "acme")
		wantInternal(t, err, errBoom)
		_, err = regs.RevokeToken(ctx, "acme", made[1].ID)
		wantInternal(t, err, errBoom)
	})
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	f, regs, ts := newRegistrations(t)
	acme, beta := f.tenant(t, "acme"), f.tenant(t, "beta")
	mint := func(tenantID string, ttl time.Duration) (string, registration.Token) {
		s, tok, err := regs.CreateToken(ctx, tenantID, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s, tok
	}
	acmeSecret, acmeTok := mint("acme", 0)
	betaSecret, betaTok := mint("beta", 0)
	revokedSecret, revokedTok := mint("acme", 0)
	if _, err := regs.RevokeToken(ctx, "acme", revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	shortSecret, _ := mint("acme", registration.MinTTL)
	unknown, _, _ := registration.New("acme", f.now, 0)
	// A token whose tenant is gone cannot be authenticated.
	ghostSecret, ghost, _ := registration.New("ghost", f.now, 0)
	if err := ts.MemoryRegistrations.PutRegistrationToken(ctx, ghost); err != nil {
		t.Fatal(err)
	}

	ok := []struct {
		name, secret string
		tenant       tenant.Tenant
		token        registration.Token
	}{
		{"acme's token acts for acme", acmeSecret, acme, acmeTok},
		{"beta's token acts for beta", betaSecret, beta, betaTok},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			tn, tok, err := regs.Authenticate(ctx, tt.secret)
			if err != nil || tn != tt.tenant || tok != tt.token {
				t.Fatalf("Authenticate = %+v, %+v, %v; want %+v, %+v", tn, tok, err, tt.tenant, tt.token)
			}
		})
	}

	f.now = f.now.Add(registration.MinTTL)
	refused := []struct {
		name, secret, code string
		want               error
	}{
		{"empty", "", onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"malformed", "not-a-token", onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"truncated", acmeSecret[:len(acmeSecret)-1], onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"with a space", acmeSecret[:len(acmeSecret)-1] + " ", onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"the stored digest", acmeTok.Hash, onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"unknown", unknown, onboarding.CodeInvalidToken, registration.ErrInvalid},
		{"revoked", revokedSecret, onboarding.CodeTokenRevoked, registration.ErrRevoked},
		{"expired", shortSecret, onboarding.CodeTokenExpired, registration.ErrExpired},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			tn, tok, err := regs.Authenticate(ctx, tt.secret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.want)
			}
			var e *onboarding.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Field != "RegistrationToken" || e.Message == "" {
				t.Fatalf("error %+v, want code %s on RegistrationToken", e, tt.code)
			}
			if tn != (tenant.Tenant{}) || tok != (registration.Token{}) {
				t.Fatalf("a refused token returned %+v, %+v", tn, tok)
			}
			if strings.Contains(err.Error(), tt.secret) && tt.secret != "" {
				t.Fatal("the refusal repeats the secret")
			}
			// A deleted stack's token may have expired, nothing else.
			tn, _, err = regs.AuthenticateDeletion(ctx, tt.secret)
			switch {
			case tt.name == "expired" && (err != nil || tn != acme):
				t.Errorf("AuthenticateDeletion of an expired token = %+v, %v; want acme", tn, err)
			case tt.name != "expired" && !errors.Is(err, tt.want):
				t.Errorf("AuthenticateDeletion = %v, want %v", err, tt.want)
			}
		})
	}

	internal := []struct {
		name, secret string
		get, cause   error
	}{
		{"tenant gone", ghostSecret, nil, store.ErrNotFound},
		{"store fails", acmeSecret, errBoom, errBoom},
	}
	for _, tt := range internal {
		t.Run(tt.name, func(t *testing.T) {
			ts.get = tt.get
			defer func() { ts.get = nil }()
			_, _, err := regs.Authenticate(ctx, tt.secret)
			wantInternal(t, err, tt.cause)
		})
	}
}

// The stacks of the stack-deletion tests: stackA registers roleARN,
// stackB a candidate.
const (
	stackA = "arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	stackB = "arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall-next/1b2c3d4e-5f60-789a-bcde-f0123456789a"
)

// TestStackDeletedDisconnects: deleting the stack whose role the
// connection uses disconnects it (reason STACK_DELETED), once, and refuses
// or fails without a write.
func TestStackDeletedDisconnects(t *testing.T) {
	ctx := context.Background()
	f, regs, _ := newRegistrations(t)
	stackDeleted := func(tn tenant.Tenant, accountID string) (connection.Connection, error) {
		c, _, err := regs.StackRoleDeleted(ctx, tn, accountID, roleARN, stackA, "Registration")
		return c, err
	}
	acme, beta := f.tenant(t, "acme"), f.tenant(t, "beta")
	if c, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration"); err != nil || c.Stack != stackA {
		t.Fatalf("SubmitFromStack = %+v, %v; want the stack recorded", c, err)
	}
	verified := f.verify(t, "acme", custAccount)

	refused := []struct {
		name      string
		tn        tenant.Tenant
		accountID string
		code      string
	}{
		{"another tenant's account", beta, custAccount, onboarding.CodeNotFound},
		{"unknown account", acme, "999999999999", onboarding.CodeNotFound},
		{"malformed account", acme, "12345", onboarding.CodeInvalidID},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			f.wantRefused(t, tt.code, "accountId", func() error { _, err := stackDeleted(tt.tn, tt.accountID); return err })
		})
	}

	t.Run("apply fails", func(t *testing.T) {
		f.hooks.apply = func(connection.Transition) error { return errBoom }
		defer func() { f.hooks.apply = nil }()
		before := f.mem.Snapshot()
		_, err := stackDeleted(acme, custAccount)
		wantInternal(t, err, errBoom)
		if f.mem.Snapshot() != before {
			t.Fatal("a failed stack deletion changed the store")
		}
	})

	conflicts := f.conflictFirst(2)
	d, err := stackDeleted(acme, custAccount)
	f.hooks.apply = nil
	if err != nil || *conflicts != 2 || d.Status != connection.Disconnected || d.Reason.Code != onboarding.CodeStackDeleted ||
		d.Reason.Message == "" || d.Reason.Hint == "" || d.Version != verified.Version+1 {
		t.Fatalf("stack deleted = %+v, %v after %d conflicts", d, err, *conflicts)
	}
	if stored, _ := f.mem.GetConnection(ctx, "acme", custAccount); stored != d {
		t.Fatalf("stored %+v, want %+v", stored, d)
	}
	evs, _ := f.mem.Events(ctx, "acme", custAccount)
	if last := evs[len(evs)-1]; len(evs) != 3 || last.Reason.Code != onboarding.CodeStackDeleted {
		t.Fatalf("events %+v, want a third one with reason STACK_DELETED", evs)
	}

	t.Run("already disconnected changes nothing", func(t *testing.T) {
		before := f.mem.Snapshot()
		again, err := stackDeleted(acme, custAccount)
		if err != nil || again != d || f.mem.Snapshot() != before {
			t.Fatalf("stack deleted again = %+v, %v (store changed: %v)", again, err, f.mem.Snapshot() != before)
		}
	})

	t.Run("persistent conflict", func(t *testing.T) {
		if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration"); err != nil {
			t.Fatal(err)
		}
		f.hooks.apply = func(connection.Transition) error { return store.ErrConflict }
		defer func() { f.hooks.apply = nil }()
		_, err := stackDeleted(acme, custAccount)
		wantInternal(t, err, store.ErrConflict)
	})
}

// TestStackRoleDeleted: what a deleted stack's role is to the connection
// decides what its deletion does, and only what that stack registered
// counts (a Delete's StackId is whatever its publisher writes, the stored
// stack is not); a concurrent write makes it decide again on the
// connection as it is then.
func TestStackRoleDeleted(t *testing.T) {
	const candidateARN = "arn:aws:iam::123456789012:role/RoleCallNext"
	ctx := context.Background()
	// withCandidate stores acme's connection VERIFIED with roleARN, which
	// stackA registered (the form, when byForm), and a pending candidate
	// candidateStack submitted.
	withCandidate := func(t *testing.T, f *fixture, regs *onboarding.Registrations, byForm bool, candidateStack string) (tenant.Tenant, connection.Connection) {
		t.Helper()
		acme := f.tenant(t, "acme")
		submit := func() (connection.Connection, error) {
			return regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration")
		}
		if byForm {
			submit = func() (connection.Connection, error) { return f.svc.Submit(ctx, acme, roleARN) }
		}
		if _, err := submit(); err != nil {
			t.Fatal(err)
		}
		f.verify(t, "acme", custAccount)
		c, err := regs.SubmitFromStack(ctx, acme, candidateARN, candidateStack, "Registration")
		if err != nil || !c.Candidate.Pending() || c.Candidate.Stack != candidateStack {
			t.Fatalf("candidate submission: %+v, %v", c, err)
		}
		return acme, c
	}
	tests := []struct {
		name      string
		role      string
		stack     string // the deleted stack
		byForm    bool   // the form submitted roleARN
		conflicts int    // concurrent writes before the one that is applied
		want      onboarding.StackDeletion
		status    connection.Status
		candidate connection.Status
		candBy    string // the stack that submitted the candidate
	}{
		{"the role in use", roleARN, stackA, false, 0, onboarding.StackDisconnected, connection.Disconnected, "", stackB},
		{"the pending candidate", candidateARN, stackB, false, 0, onboarding.StackCandidateDropped, connection.Verified, connection.Failed, stackB},
		{"the pending candidate, after concurrent writes", candidateARN, stackB, false, 2, onboarding.StackCandidateDropped, connection.Verified, connection.Failed, stackB},
		{"neither", "arn:aws:iam::123456789012:role/Other", stackA, false, 0, onboarding.StackRoleUnused, connection.Verified, connection.Pending, stackB},
		{"the role in use, named by another stack", roleARN, stackB, false, 0, onboarding.StackRoleUnused, connection.Verified, connection.Pending, stackB},
		{"the candidate, named by the role's stack", candidateARN, stackA, false, 0, onboarding.StackRoleUnused, connection.Verified, connection.Pending, stackB},
		{"the candidate of the stack that registered the role in use", candidateARN, stackA, false, 0, onboarding.StackDisconnected, connection.Disconnected, "", stackA},
		{"the role in use, which the form submitted", roleARN, stackA, true, 0, onboarding.StackRoleUnused, connection.Verified, connection.Pending, stackB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			regs, _ := f.registrations()
			acme, before := withCandidate(t, f, regs, tt.byForm, tt.candBy)
			conflicts := f.conflictFirst(tt.conflicts)
			c, did, err := regs.StackRoleDeleted(ctx, acme, custAccount, tt.role, tt.stack, "Registration")
			if err != nil || did != tt.want || c.Status != tt.status || c.Candidate.Status != tt.candidate || *conflicts != tt.conflicts {
				t.Fatalf("StackRoleDeleted = %+v, %v, %v after %d conflicts; want %v, status %s, candidate %q", c, did, err, *conflicts, tt.want, tt.status, tt.candidate)
			}
			if stored, _ := f.mem.GetConnection(ctx, "acme", custAccount); stored != c {
				t.Fatalf("stored %+v, want %+v", stored, c)
			}
			evs, _ := f.mem.Events(ctx, "acme", custAccount)
			last := evs[len(evs)-1]
			if did == onboarding.StackRoleUnused {
				if c != before || last.Version != before.Version {
					t.Fatalf("changed: %+v (event %+v), was %+v", c, last, before)
				}
				return
			}
			if last.Version != before.Version+1 || last.Reason.Code != onboarding.CodeStackDeleted || last.Reason.Hint == "" || c.Version != last.Version {
				t.Fatalf("event %+v of connection %+v, want STACK_DELETED at version %d", last, c, before.Version+1)
			}
			if did == onboarding.StackCandidateDropped {
				if last.DetailType != connection.RoleVerificationFailed || last.CandidateRoleARN != candidateARN || last.RoleARN != roleARN ||
					last.Status != connection.Verified || last.PreviousStatus != connection.Verified || last.EventID != connection.EventID("acme", custAccount, c.Version) ||
					c.RoleARN != roleARN || c.Reason != before.Reason || c.Candidate.Reason.Code != onboarding.CodeStackDeleted {
					t.Fatalf("candidate drop: connection %+v, event %+v", c, last)
				}
				// Dropped once: a second deletion of its stack changes nothing.
				again, did, err := regs.StackRoleDeleted(ctx, acme, custAccount, tt.role, tt.stack, "Registration")
				if err != nil || did != onboarding.StackRoleUnused || again != c {
					t.Fatalf("again: %+v, %v, %v", again, did, err)
				}
			}
		})
	}

	t.Run("refused and failed writes change nothing", func(t *testing.T) {
		f := newFixture(t)
		regs, _ := f.registrations()
		acme, _ := withCandidate(t, f, regs, false, stackB)
		before := f.mem.Snapshot()
		_, _, err := regs.StackRoleDeleted(ctx, acme, "999999999999", candidateARN, stackB, "Registration")
		wantCode(t, err, onboarding.CodeNotFound, "accountId")
		f.hooks.apply = func(connection.Transition) error { return errBoom }
		_, _, err = regs.StackRoleDeleted(ctx, acme, custAccount, candidateARN, stackB, "Registration")
		wantInternal(t, err, errBoom)
		if f.mem.Snapshot() != before {
			t.Fatal("a refused or failed StackRoleDeleted changed the store")
		}
	})
}

// TestStackResourceTakeover: the role in use submitted again by another
// registration resource of the stack that registered it (the stack
// replaced its resource) is taken over by that resource, changing nothing
// else and telling no one; another stack or the form takes nothing over.
// Only the resource recorded undoes the registration when deleted; a
// registration recorded without a resource is undone by any of its
// stack's.
func TestStackResourceTakeover(t *testing.T) {
	ctx := context.Background()
	f, regs, _ := newRegistrations(t)
	acme := f.tenant(t, "acme")
	if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration"); err != nil {
		t.Fatal(err)
	}
	verified := f.verify(t, "acme", custAccount)
	events := func() int { evs, _ := f.mem.Events(ctx, "acme", custAccount); return len(evs) }
	nEvents := events()
	for _, by := range []struct{ name, stack, resource string }{
		{"another stack", stackB, "Renamed"},
		{"the same resource", stackA, "Registration"},
		{"no resource", stackA, ""},
	} {
		c, err := regs.SubmitFromStack(ctx, acme, roleARN, by.stack, by.resource)
		if err != nil || c != verified {
			t.Fatalf("%s: %+v, %v; want the connection unchanged", by.name, c, err)
		}
	}
	if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
		t.Fatal(err)
	}
	c, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Renamed")
	want := verified
	want.StackResource = "Renamed"
	if err != nil || c != want {
		t.Fatalf("taken over: %+v, %v; want %+v", c, err, want)
	}
	if stored, _ := f.mem.GetConnection(ctx, "acme", custAccount); stored != want || events() != nEvents {
		t.Fatalf("stored %+v with %d events, want %+v with %d", stored, events(), want, nEvents)
	}
	if _, did, err := regs.StackRoleDeleted(ctx, acme, custAccount, roleARN, stackA, "Registration"); err != nil || did != onboarding.StackRoleUnused {
		t.Fatalf("deleting the replaced resource: %v, %v; want nothing undone", did, err)
	}
	if _, did, err := regs.StackRoleDeleted(ctx, acme, custAccount, roleARN, stackA, "Renamed"); err != nil || did != onboarding.StackDisconnected {
		t.Fatalf("deleting the resource in use: %v, %v; want disconnected", did, err)
	}

	// Recorded without a resource: any resource of the stack undoes it.
	beta := f.tenant(t, "beta")
	if _, err := regs.SubmitFromStack(ctx, beta, roleARN, stackA, ""); err != nil {
		t.Fatal(err)
	}
	if _, did, err := regs.StackRoleDeleted(ctx, beta, custAccount, roleARN, stackA, "AnyName"); err != nil || did != onboarding.StackDisconnected {
		t.Fatalf("deleting a resource of a registration recorded without one: %v, %v; want disconnected", did, err)
	}
}

// TestStackDeletedAfterADisconnectionChangesNothing: disconnecting a
// disconnected connection changes nothing. Deleting the stack that
// registered the role in use after an operator disconnected the connection
// writes nothing and answers the connection as stored.
func TestStackDeletedAfterADisconnectionChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	regs, _ := f.registrations()
	acme := f.tenant(t, "acme")
	if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration"); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "acme", custAccount)
	if c, err := f.svc.Disconnect(ctx, "acme", custAccount); err != nil || c.Status != connection.Disconnected {
		t.Fatalf("disconnect: %+v, %v", c, err)
	}
	stored, _ := f.mem.GetConnection(ctx, "acme", custAccount)
	writes := 0
	f.hooks.apply = func(connection.Transition) error { writes++; return nil }
	again, _, err := regs.StackRoleDeleted(ctx, acme, custAccount, roleARN, stackA, "Registration")
	if err != nil {
		t.Fatal(err)
	}
	if writes != 0 || again != stored {
		t.Fatalf("stack deleted after the disconnection: %d writes; answered reason %s v%d, stored %s v%d", writes, again.Reason.Code, again.Version, stored.Reason.Code, stored.Version)
	}
}

// TestRenamedResourceWithANewRoleKeepsTheConnection: a CDK construct
// renamed together with its role: CloudFormation creates the new
// registration resource (submitting the new role: a candidate of the same
// stack), then deletes the old one, naming the role in use. The stack
// still registers a role: the old resource's deletion neither disconnects
// the account nor drops the stack's candidate.
func TestRenamedResourceWithANewRoleKeepsTheConnection(t *testing.T) {
	const nextARN = "arn:aws:iam::123456789012:role/RoleCallNext"
	ctx := context.Background()
	f, regs, _ := newRegistrations(t)
	acme := f.tenant(t, "acme")
	if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Old"); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "acme", custAccount)
	c, err := regs.SubmitFromStack(ctx, acme, nextARN, stackA, "New")
	if err != nil || !c.Candidate.Pending() || c.Candidate.StackResource != "New" {
		t.Fatalf("setup: %+v, %v", c, err)
	}
	got, did, err := regs.StackRoleDeleted(ctx, acme, custAccount, roleARN, stackA, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if did != onboarding.StackResourceReplaced || got.Status == connection.Disconnected || !got.Candidate.Pending() || got.StackResource != "New" {
		t.Fatalf("deleting the replaced resource Old: %v, status %s, resource %q, candidate %+v; want the connection and the stack's candidate kept, New taking it over", did, got.Status, got.StackResource, got.Candidate)
	}
	// Deleting the stack then deletes New: the connection is disconnected,
	// its candidate dropped with it.
	got, did, err = regs.StackRoleDeleted(ctx, acme, custAccount, nextARN, stackA, "New")
	if err != nil || did != onboarding.StackDisconnected || got.Status != connection.Disconnected {
		t.Fatalf("deleting New: %v, %v, status %s; want DISCONNECTED", did, err, got.Status)
	}
}
