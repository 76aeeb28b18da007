package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Memory is the embedded adapter: in-memory, safe for concurrent use, with
// the same semantics as DynamoDB, and a change feed of outbox events in
// commit order (ReadOutbox) standing in for the DynamoDB stream.
type Memory struct {
	mu      sync.Mutex
	tenants map[string]tenant.Tenant
	extIDs  map[string]string        // external ID -> tenant ID, never released
	invites map[string]tenant.Invite // by hash
	hits    map[hitKey]hitCount
	conns   map[connKey]connection.Connection
	claims  map[string]connKey
	history map[connKey][]connection.Event
	tevents map[string][]connection.Event // tenant events by tenant
	outbox  []connection.Event
	notify  chan struct{} // closed and replaced on every outbox append
	due     dueIndex
}

type connKey struct{ tenant, account string }

type hitKey struct {
	key    string
	window int64 // UnixNano of the window's start
}

type hitCount struct {
	n       int
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{
		tenants: map[string]tenant.Tenant{},
		extIDs:  map[string]string{},
		invites: map[string]tenant.Invite{},
		hits:    map[hitKey]hitCount{},
		conns:   map[connKey]connection.Connection{},
		claims:  map[string]connKey{},
		history: map[connKey][]connection.Event{},
		tevents: map[string][]connection.Event{},
		notify:  make(chan struct{}),
		due:     newDueIndex(),
	}
}

// CreateTenant implements Store.
func (m *Memory) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tenants[t.ID]; ok {
		return fmt.Errorf("create tenant %s: %w", t.ID, ErrTenantExists)
	}
	if _, ok := m.extIDs[t.ExternalID]; ok {
		return fmt.Errorf("create tenant %s: %w", t.ID, ErrExternalIDTaken)
	}
	m.tenants[t.ID] = t
	m.extIDs[t.ExternalID] = t.ID
	return nil
}

// GetTenant implements Store.
func (m *Memory) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := lookup(m.tenants, id, "get tenant "+id)
	return withDefaultLimit(t), err
}

// RotateExternalID implements Store.
func (m *Memory) RotateExternalID(ctx context.Context, from, to tenant.Tenant) error {
	evs, err := rotationEvents(from, to)
	if err != nil {
		return fmt.Errorf("rotate external id of %s: %w", to.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.tenants[to.ID]
	if !ok {
		return fmt.Errorf("rotate external id of %s: %w", to.ID, ErrNotFound)
	}
	if cur.ExternalIDVersion != from.ExternalIDVersion || withDefaultLimit(cur).MaxConnections != withDefaultLimit(from).MaxConnections ||
		cur.InGrace() != from.InGrace() || cur.PreviousExternalIDVersion != from.PreviousExternalIDVersion {
		return fmt.Errorf("rotate external id of %s: %w", to.ID, ErrConflict)
	}
	if _, ok := m.extIDs[to.ExternalID]; ok {
		return fmt.Errorf("rotate external id of %s: %w", to.ID, ErrExternalIDTaken)
	}
	m.tenants[to.ID] = to
	m.extIDs[to.ExternalID] = to.ID
	for _, ev := range evs {
		m.appendTenantEvent(ev)
	}
	return nil
}

// SetMaxConnections implements Store.
func (m *Memory) SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := lookup(m.tenants, id, "set connection limit of "+id)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t.MaxConnections = limit
	m.tenants[id] = t
	return withDefaultLimit(t), nil
}

// CompleteRotation implements Store.
func (m *Memory) CompleteRotation(ctx context.Context, t tenant.Tenant, completion string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.tenants[t.ID]
	switch {
	case !ok:
		return fmt.Errorf("complete rotation of %s: %w", t.ID, ErrNotFound)
	case !t.InGrace() || cur.ExternalIDVersion != t.ExternalIDVersion || cur.PreviousExternalIDVersion != t.PreviousExternalIDVersion || !cur.InGrace(),
		completion == connection.CompletionAllCurrent && cur.GraceWrites != t.GraceWrites:
		return fmt.Errorf("complete rotation of %s to v%d: %w", t.ID, t.ExternalIDVersion, ErrConflict)
	}
	m.tenants[t.ID] = cur.Retired()
	m.appendTenantEvent(connection.RotationCompleted(cur, completion, at))
	return nil
}

// TenantEvents implements Store.
func (m *Memory) TenantEvents(ctx context.Context, tenantID string) ([]connection.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tevents[tenantID]), nil
}

// appendTenantEvent adds a tenant event to the outbox; m.mu is held.
func (m *Memory) appendTenantEvent(ev connection.Event) {
	m.tevents[ev.TenantID] = append(m.tevents[ev.TenantID], ev)
	m.outbox = append(m.outbox, ev)
	close(m.notify)
	m.notify = make(chan struct{})
}

// PutInvite implements Store.
func (m *Memory) PutInvite(ctx context.Context, inv tenant.Invite) error {
	if tenant.ValidateInviteID(inv.ID) != nil {
		return fmt.Errorf("put invite %q for %s: %w", inv.ID, inv.TenantID, ErrInvalidInvite)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.invites[inv.Hash]; ok {
		return fmt.Errorf("put invite %s for %s: %w", inv.ID, inv.TenantID, ErrInviteExists)
	}
	if _, ok := m.inviteByID(inv.TenantID, inv.ID); ok {
		return fmt.Errorf("put invite %s for %s: %w", inv.ID, inv.TenantID, ErrInviteExists)
	}
	m.invites[inv.Hash] = inv
	return nil
}

func (m *Memory) inviteByID(tenantID, id string) (tenant.Invite, bool) {
	for _, inv := range m.invites {
		if inv.TenantID == tenantID && inv.ID == id {
			return inv, true
		}
	}
	return tenant.Invite{}, false
}

// GetInvite implements Store.
func (m *Memory) GetInvite(ctx context.Context, hash string) (tenant.Invite, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lookup(m.invites, hash, "get invite")
}

// ListInvites implements Store. The cursor is the last invite ID returned,
// tied to the tenant.
func (m *Memory) ListInvites(ctx context.Context, tenantID, cursor string, limit int) (InvitePage, error) {
	m.mu.Lock()
	var all []tenant.Invite
	for _, inv := range m.invites {
		if inv.TenantID == tenantID {
			all = append(all, inv)
		}
	}
	m.mu.Unlock()
	items, next, err := memoryPage(cursor, "I\x00"+tenantID+"\x00", limit, all, func(inv tenant.Invite) string { return inv.ID })
	if err != nil {
		return InvitePage{}, fmt.Errorf("list invites of %s: %w", tenantID, err)
	}
	return InvitePage{Items: items, Cursor: next}, nil
}

// RevokeInvite implements Store.
func (m *Memory) RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.inviteByID(tenantID, inviteID)
	if !ok {
		return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, ErrNotFound)
	}
	inv.Revoked = true
	m.invites[inv.Hash] = inv
	return inv, nil
}

// CountLive implements Store.
func (m *Memory) CountLive(ctx context.Context, tenantID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.conns {
		if k.tenant == tenantID && c.Live() {
			n++
		}
	}
	return n, nil
}

// Hit implements Store. Counters whose expiry is before the window asked
// about are dropped on the way, so the map holds only current windows.
func (m *Memory) Hit(ctx context.Context, key string, window time.Time, limit int, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, h := range m.hits {
		if h.expires.Before(window) {
			delete(m.hits, k)
		}
	}
	k := hitKey{key, window.UnixNano()}
	h := m.hits[k]
	if h.n >= limit {
		return false, nil
	}
	m.hits[k] = hitCount{n: h.n + 1, expires: expires}
	return true, nil
}

// GetConnection implements Store.
func (m *Memory) GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lookup(m.conns, connKey{tenantID, accountID}, "get connection "+tenantID+"/"+accountID)
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, t connection.Transition) error {
	if err := validate(t); err != nil {
		return fmt.Errorf("apply to %s/%s: %w", t.After.TenantID, t.After.AccountID, err)
	}
	k := connKey{t.After.TenantID, t.After.AccountID}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, exists := m.conns[k]
	g, guarded := guardOf(t)
	if guarded {
		if tn, found := m.tenants[g.tenantID]; !found || !tn.AcceptsExternalID(g.version, g.previous, g.at) {
			return fmt.Errorf("apply check of %s/%s with external-id version %d: %w", k.tenant, k.account, g.version, ErrExternalIDRetired)
		}
	}
	// countGrace counts a success with the previous ID alone on its tenant
	// (Tenant.GraceWrites), once the write is sure to happen.
	countGrace := func() {
		if guarded && g.previous {
			tn := m.tenants[g.tenantID]
			tn.GraceWrites++
			m.tenants[g.tenantID] = tn
		}
	}
	if t.Event == nil {
		if !exists || !sameSnapshot(cur, *t.Before) {
			return fmt.Errorf("update connection %s/%s v%d: %w", k.tenant, k.account, t.Before.Version, ErrConflict)
		}
		countGrace()
		cur.LastCheckedAt = t.After.LastCheckedAt
		cur.NextCheckAt = t.After.NextCheckAt
		cur.ConsecutiveFailures = t.After.ConsecutiveFailures
		cur.ExternalIDVersion = t.After.ExternalIDVersion
		cur.ExternalIDCurrent = t.After.ExternalIDCurrent
		if t.After.StackResource != t.Before.StackResource {
			cur.StackResource = t.After.StackResource // a stack's new resource took the registration over
		}
		m.conns[k] = cur
		m.due.put(cur)
		return nil
	}
	newClaim := ""
	if t.After.HoldsClaim() {
		newClaim = t.After.ClaimKey()
	}
	// As in DynamoDB, a claim Before already held is not written again (a
	// stale Before then fails on its snapshot, below).
	if held := t.Before != nil && t.Before.HoldsClaim() && t.Before.ClaimKey() == newClaim; newClaim != "" && !held {
		if owner, held := m.claims[newClaim]; held && owner != k {
			return fmt.Errorf("claim role %s for %s/%s: %w", t.After.RoleARN, k.tenant, k.account, ErrRoleClaimed)
		}
	}
	if t.Before == nil && exists || t.Before != nil && (!exists || !sameSnapshot(cur, *t.Before)) {
		return fmt.Errorf("put connection %s/%s: %w", k.tenant, k.account, ErrConflict)
	}
	if exists && cur.HoldsClaim() {
		if old := cur.ClaimKey(); old != "" && old != newClaim && m.claims[old] == k {
			delete(m.claims, old)
		}
	}
	if newClaim != "" {
		m.claims[newClaim] = k
	}
	countGrace()
	m.conns[k] = t.After
	m.due.put(t.After)
	ev := *t.Event
	m.history[k] = append(m.history[k], ev)
	m.outbox = append(m.outbox, ev)
	close(m.notify)
	m.notify = make(chan struct{})
	return nil
}

// lookup returns m[k], or ErrNotFound in the named read.
func lookup[K comparable, V any](m map[K]V, k K, read string) (V, error) {
	v, ok := m[k]
	if !ok {
		return v, fmt.Errorf("%s: %w", read, ErrNotFound)
	}
	return v, nil
}

// ReadOutbox is the change feed: it returns the outbox events after position
// `after` (0 for the start), at most limit, and the position to continue
// from. It blocks until there is at least one event or ctx is done.
func (m *Memory) ReadOutbox(ctx context.Context, after, limit int) ([]connection.Event, int, error) {
	for {
		m.mu.Lock()
		if after < len(m.outbox) {
			end := min(len(m.outbox), after+max(limit, 1))
			evs := slices.Clone(m.outbox[after:end])
			m.mu.Unlock()
			return evs, end, nil
		}
		ch := m.notify
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, after, ctx.Err()
		case <-ch:
		}
	}
}

// list pages the connections keep selects, in sortKey order; prefix
// names the listing in its cursors.
func (m *Memory) list(cursor, prefix string, limit int, keep func(connection.Connection) bool, sortKey func(connection.Connection) string) (Page, error) {
	m.mu.Lock()
	var all []connection.Connection
	for _, c := range m.conns {
		if keep(c) {
			all = append(all, c)
		}
	}
	m.mu.Unlock()
	items, next, err := memoryPage(cursor, prefix, limit, all, sortKey)
	if err != nil {
		return Page{}, fmt.Errorf("list connections: %w", err)
	}
	return Page{Items: items, Cursor: next}, nil
}

func byKey(c connection.Connection) string { return connOrder(c.TenantID, c.AccountID) }

// ListByTenant implements Store.
func (m *Memory) ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (Page, error) {
	return m.list(cursor, "T\x00"+tenantID+"\x00", limit, func(c connection.Connection) bool { return c.TenantID == tenantID }, byKey)
}

// ListByStatus implements Store.
func (m *Memory) ListByStatus(ctx context.Context, status connection.Status, cursor string, limit int) (Page, error) {
	return m.list(cursor, "S\x00"+string(status)+"\x00", limit, func(c connection.Connection) bool { return c.Status == status }, byKey)
}

// Due implements Store from Memory's due index (memorydue.go). The cursor
// is the dueOrder key of the last connection returned, tied to the shard.
func (m *Memory) Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (Page, error) {
	if shard < 0 || shard >= Shards {
		return Page{}, nil // no connection is in a shard that does not exist
	}
	prefix := "D\x00" + strconv.Itoa(shard) + "\x00"
	var after *dueEntry
	if cursor != "" {
		key, err := cursorAfter(cursor, prefix)
		e, ok := dueEntryOf(key)
		if err != nil || !ok {
			return Page{}, fmt.Errorf("due connections of shard %d: %w", shard, ErrInvalidCursor)
		}
		after = &e
	}
	limit = clampLimit(limit)
	m.mu.Lock()
	// One more than the page, as DynamoDB reads: a cursor only when more
	// are due.
	entries := m.due.page(shard, until, after, limit+1)
	more := len(entries) > limit
	entries = entries[:min(len(entries), limit)]
	p := Page{Items: make([]connection.Connection, len(entries))}
	for i, e := range entries {
		p.Items[i] = m.conns[e.key]
	}
	m.mu.Unlock()
	if more {
		p.Cursor = memoryCursor(prefix + dueOrder(p.Items[limit-1]))
	}
	return p, nil
}

// Events implements Store.
func (m *Memory) Events(ctx context.Context, tenantID, accountID string) ([]connection.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.history[connKey{tenantID, accountID}]), nil
}

// Snapshot renders the whole state deterministically, so tests can assert
// that a rejected request changed nothing. Rate-limit counters (Hit) are
// throttling state, not RoleCall's state, and are left out.
func (m *Memory) Snapshot() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	dump := func(kind string, keys []string, f func(string) any) {
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s %q %+v\n", kind, k, f(k))
		}
	}
	var ks []string
	for k := range m.tenants {
		ks = append(ks, k)
	}
	dump("tenant", ks, func(k string) any { return m.tenants[k] })
	ks = ks[:0]
	for k := range m.invites {
		ks = append(ks, k)
	}
	dump("invite", ks, func(k string) any { return m.invites[k] })
	ks = ks[:0]
	for k := range m.conns {
		ks = append(ks, k.tenant+"\x00"+k.account)
	}
	dump("connection", ks, func(k string) any {
		t, a, _ := strings.Cut(k, "\x00")
		return m.conns[connKey{t, a}]
	})
	ks = ks[:0]
	for k := range m.claims {
		ks = append(ks, k)
	}
	dump("claim", ks, func(k string) any { return m.claims[k] })
	fmt.Fprintf(&b, "outbox %d\n", len(m.outbox))
	return b.String()
}
