package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// itemKey starts every item of the table: its key and its kind. The item
// types embed it, and the attribute encoder flattens an embedded struct (as
// encoding/json does), so PK, SK and kind stay top-level attributes.
type itemKey struct {
	PK   string `dynamodbav:"PK"`
	SK   string `dynamodbav:"SK"`
	Kind string `dynamodbav:"kind"`
}

type reasonAttr struct {
	Code    string `dynamodbav:"code"`
	Message string `dynamodbav:"message"`
	Hint    string `dynamodbav:"hint,omitempty"`
}

type tenantItem struct {
	itemKey
	TenantID          string    `dynamodbav:"tenantId"`
	Name              string    `dynamodbav:"name"`
	ExternalID        string    `dynamodbav:"externalId"`
	ExternalIDVersion int       `dynamodbav:"externalIdVersion"`
	CreatedAt         time.Time `dynamodbav:"createdAt"`
	RotatedAt         time.Time `dynamodbav:"rotatedAt,omitempty"`
	MaxConnections    int       `dynamodbav:"maxConnections,omitempty"`
	// The previous external ID during a rotation's grace; graceEndsAt is
	// fixed-width (dueTime) so conditions compare it as a string.
	PreviousExternalID        string `dynamodbav:"previousExternalId,omitempty"`
	PreviousExternalIDVersion int    `dynamodbav:"previousExternalIdVersion,omitempty"`
	GraceEndsAt               string `dynamodbav:"graceEndsAt,omitempty"`
	GraceWrites               int64  `dynamodbav:"graceWrites,omitempty"`
	// TenantList and TenantKey are the keys of the sparse tenants index.
	TenantList string `dynamodbav:"tenantList"`
	TenantKey  string `dynamodbav:"tenantKey"`
	// DueShard and DueAt put a tenant in a rotation's grace in the due
	// index's graceShard, by the grace's end.
	DueShard string `dynamodbav:"dueShard,omitempty"`
	DueAt    string `dynamodbav:"dueAt,omitempty"`
}

// externalIDItem reserves an external ID for good: it is never deleted.
type externalIDItem struct {
	itemKey
	TenantID string `dynamodbav:"tenantId"`
}

// inviteItem is an invite under the hash of its code (newInviteItem: what
// a customer request reads), or the same invite in its tenant's partition
// under its ID (newInviteRefItem: what listings and revocations use). Both
// are written together and carry the same fields.
type inviteItem struct {
	itemKey
	InviteID string `dynamodbav:"inviteId,omitempty"`
	TenantID string `dynamodbav:"tenantId"`
	secretAttrs
	Revoked bool `dynamodbav:"revoked,omitempty"`
}

// secretAttrs are what the items of an issued secret (an invite, a
// registration token) record alike: the digest it is found by, its
// validity, and the TTL that drops it, if any (an invite InviteGrace
// after it expires; a registration token is kept, without one).
// Revoked is each item's own: an invite leaves it out until revoked, a
// token always holds it (its revocation is conditioned on it being false).
type secretAttrs struct {
	Hash       string    `dynamodbav:"hash"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	ValidUntil time.Time `dynamodbav:"validUntil"`
	TTL        int64     `dynamodbav:"expiresAt,omitempty"`
}

// newSecretAttrs are the attributes of a secret valid until expiresAt that
// the table's TTL drops at dropAt (zero: never).
func newSecretAttrs(hash string, createdAt, expiresAt, dropAt time.Time) secretAttrs {
	a := secretAttrs{Hash: hash, CreatedAt: utc(createdAt), ValidUntil: utc(expiresAt)}
	if !dropAt.IsZero() {
		a.TTL = dropAt.Unix()
	}
	return a
}

type connItem struct {
	itemKey
	TenantID            string         `dynamodbav:"tenantId"`
	AccountID           string         `dynamodbav:"accountId"`
	RoleARN             string         `dynamodbav:"roleArn"`
	Stack               string         `dynamodbav:"stack,omitempty"`
	StackResource       string         `dynamodbav:"stackResource,omitempty"`
	Status              string         `dynamodbav:"status"`
	Reason              reasonAttr     `dynamodbav:"reason"`
	Version             int64          `dynamodbav:"version"`
	ConsecutiveFailures int            `dynamodbav:"consecutiveFailures"`
	SubmittedAt         time.Time      `dynamodbav:"submittedAt,omitempty"`
	UpdatedAt           time.Time      `dynamodbav:"updatedAt,omitempty"`
	VerifiedAt          time.Time      `dynamodbav:"verifiedAt,omitempty"`
	LastCheckedAt       time.Time      `dynamodbav:"lastCheckedAt,omitempty"`
	NextCheckAt         time.Time      `dynamodbav:"nextCheckAt,omitempty"`
	ExternalIDVersion   int            `dynamodbav:"externalIdVersion"`
	ExternalIDCurrent   bool           `dynamodbav:"externalIdCurrent"`
	Candidate           *candidateAttr `dynamodbav:"candidate,omitempty"`
	ClaimKey            string         `dynamodbav:"claimKey,omitempty"`
	ConnStatus          string         `dynamodbav:"connStatus"`
	ConnKey             string         `dynamodbav:"connKey"`
	DueShard            string         `dynamodbav:"dueShard,omitempty"`
	DueAt               string         `dynamodbav:"dueAt,omitempty"`
}

// candidateAttr is a connection's candidate role (absent when none).
type candidateAttr struct {
	RoleARN       string     `dynamodbav:"roleArn"`
	Stack         string     `dynamodbav:"stack,omitempty"`
	StackResource string     `dynamodbav:"stackResource,omitempty"`
	Status        string     `dynamodbav:"status"`
	Reason        reasonAttr `dynamodbav:"reason"`
	SubmittedAt   time.Time  `dynamodbav:"submittedAt"`
}

type claimItem struct {
	itemKey
	TenantID  string    `dynamodbav:"tenantId"`
	AccountID string    `dynamodbav:"accountId"`
	RoleARN   string    `dynamodbav:"roleArn"`
	ClaimedAt time.Time `dynamodbav:"claimedAt"`
}

// eventItem is an outbox event; it holds everything the EventBridge entry
// needs.
type eventItem struct {
	itemKey
	EventID           string     `dynamodbav:"eventId"`
	DetailType        string     `dynamodbav:"detailType"`
	TenantID          string     `dynamodbav:"tenantId"`
	AccountID         string     `dynamodbav:"accountId"`
	RoleARN           string     `dynamodbav:"roleArn"`
	Status            string     `dynamodbav:"status"`
	PreviousStatus    string     `dynamodbav:"previousStatus"`
	Reason            reasonAttr `dynamodbav:"reason"`
	OccurredAt        time.Time  `dynamodbav:"occurredAt"`
	Version           int64      `dynamodbav:"version"`
	ExternalIDVersion int        `dynamodbav:"externalIdVersion"`
	PreviousRoleARN   string     `dynamodbav:"previousRoleArn,omitempty"`
	CandidateRoleARN  string     `dynamodbav:"candidateRoleArn,omitempty"`
	ExternalIDCurrent bool       `dynamodbav:"externalIdCurrent"`
	// Of tenant events only.
	PreviousExternalIDVersion int       `dynamodbav:"previousExternalIdVersion,omitempty"`
	GraceEndsAt               time.Time `dynamodbav:"graceEndsAt,omitempty"`
	Completion                string    `dynamodbav:"completion,omitempty"`
	TTL                       int64     `dynamodbav:"expiresAt"`
}

func toReasonAttr(r connection.Reason) reasonAttr { return reasonAttr(r) }

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func newTenantItem(t tenant.Tenant) tenantItem {
	it := tenantItem{itemKey: itemKey{tenantPK(t.ID), skTenant, kindTenant}, TenantID: t.ID, Name: t.Name,
		ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion, CreatedAt: utc(t.CreatedAt), RotatedAt: utc(t.RotatedAt),
		MaxConnections:     t.MaxConnections,
		PreviousExternalID: t.PreviousExternalID, PreviousExternalIDVersion: t.PreviousExternalIDVersion,
		GraceWrites: t.GraceWrites, TenantList: TenantsPartition, TenantKey: t.ID}
	if t.InGrace() {
		it.GraceEndsAt = dueTime(t.GraceEndsAt)
		it.DueShard, it.DueAt = graceShard, graceOrder(t.GraceEndsAt, t.ID)
	}
	return it
}

func (it tenantItem) tenant() tenant.Tenant {
	t := tenant.Tenant{ID: it.TenantID, Name: it.Name, ExternalID: it.ExternalID, ExternalIDVersion: it.ExternalIDVersion,
		CreatedAt: it.CreatedAt, RotatedAt: it.RotatedAt, MaxConnections: it.MaxConnections,
		PreviousExternalID: it.PreviousExternalID, PreviousExternalIDVersion: it.PreviousExternalIDVersion, GraceWrites: it.GraceWrites}
	t = withDefaultLimit(t)
	if g, err := time.Parse(dueTimeLayout, it.GraceEndsAt); err == nil && it.PreviousExternalID != "" {
		t.GraceEndsAt = g
	}
	return t
}

func newInviteItem(inv tenant.Invite) inviteItem {
	return inviteItem{itemKey: itemKey{invitePK(inv.Hash), skInvite, kindInvite},
		InviteID: inv.ID, TenantID: inv.TenantID, secretAttrs: newSecretAttrs(inv.Hash, inv.CreatedAt, inv.ExpiresAt, inv.ExpiresAt.Add(InviteGrace)), Revoked: inv.Revoked}
}

func newInviteRefItem(inv tenant.Invite) inviteItem {
	it := newInviteItem(inv)
	it.itemKey = itemKey{tenantPK(inv.TenantID), inviteSK(inv.ID), kindInviteRef}
	return it
}

func (it inviteItem) invite() tenant.Invite {
	return tenant.Invite{ID: it.InviteID, Hash: it.Hash, TenantID: it.TenantID, CreatedAt: it.CreatedAt, ExpiresAt: it.ValidUntil, Revoked: it.Revoked}
}

func newConnItem(c connection.Connection) connItem {
	it := connItem{
		itemKey:  itemKey{tenantPK(c.TenantID), connSK(c.AccountID), kindConnection},
		TenantID: c.TenantID, AccountID: c.AccountID, RoleARN: c.RoleARN, Stack: c.Stack, StackResource: c.StackResource, Status: string(c.Status),
		Reason: toReasonAttr(c.Reason), Version: c.Version, ConsecutiveFailures: c.ConsecutiveFailures,
		SubmittedAt: utc(c.SubmittedAt), UpdatedAt: utc(c.UpdatedAt), VerifiedAt: utc(c.VerifiedAt),
		LastCheckedAt: utc(c.LastCheckedAt), NextCheckAt: utc(c.NextCheckAt), ExternalIDVersion: c.ExternalIDVersion,
		ExternalIDCurrent: c.ExternalIDCurrent, ClaimKey: c.ClaimKey(), ConnStatus: string(c.Status), ConnKey: connOrder(c.TenantID, c.AccountID),
	}
	if dueIndexed(c) {
		it.DueShard, it.DueAt = dueShardKey(ShardOf(c.TenantID, c.AccountID)), dueOrder(c)
	}
	if k := c.Candidate; k != (connection.Candidate{}) {
		it.Candidate = &candidateAttr{RoleARN: k.RoleARN, Stack: k.Stack, StackResource: k.StackResource, Status: string(k.Status), Reason: toReasonAttr(k.Reason), SubmittedAt: utc(k.SubmittedAt)}
	}
	return it
}

func (it connItem) connection() connection.Connection {
	return connection.Connection{
		TenantID: it.TenantID, AccountID: it.AccountID, RoleARN: it.RoleARN, Stack: it.Stack, StackResource: it.StackResource, Status: connection.Status(it.Status),
		Reason: connection.Reason(it.Reason), Version: it.Version, ConsecutiveFailures: it.ConsecutiveFailures,
		SubmittedAt: it.SubmittedAt, UpdatedAt: it.UpdatedAt, VerifiedAt: it.VerifiedAt,
		LastCheckedAt: it.LastCheckedAt, NextCheckAt: it.NextCheckAt, ExternalIDVersion: it.ExternalIDVersion,
		ExternalIDCurrent: it.ExternalIDCurrent, Candidate: it.Candidate.candidate(),
	}
}

func (a *candidateAttr) candidate() connection.Candidate {
	if a == nil {
		return connection.Candidate{}
	}
	return connection.Candidate{RoleARN: a.RoleARN, Stack: a.Stack, StackResource: a.StackResource, Status: connection.Status(a.Status), Reason: connection.Reason(a.Reason), SubmittedAt: a.SubmittedAt}
}

// newClaimItem is the claim c holds on its role.
func newClaimItem(c connection.Connection) claimItem {
	return claimItem{itemKey: itemKey{claimPK(c.ClaimKey()), skClaim, kindClaim}, TenantID: c.TenantID,
		AccountID: c.AccountID, RoleARN: c.RoleARN, ClaimedAt: utc(c.UpdatedAt)}
}

func newEventItem(e connection.Event) eventItem {
	sk := eventSK(e.AccountID, e.Version)
	if e.DetailType.OfTenant() {
		sk = tenantEventSK(e.DetailType, e.Version)
	}
	return eventItem{
		itemKey:           itemKey{tenantPK(e.TenantID), sk, KindEvent},
		ExternalIDCurrent: e.ExternalIDCurrent, PreviousExternalIDVersion: e.PreviousExternalIDVersion,
		GraceEndsAt: utc(e.GraceEndsAt), Completion: e.Completion,
		EventID: e.EventID, DetailType: string(e.DetailType), TenantID: e.TenantID, AccountID: e.AccountID,
		RoleARN: e.RoleARN, Status: string(e.Status), PreviousStatus: string(e.PreviousStatus),
		Reason: toReasonAttr(e.Reason), OccurredAt: utc(e.OccurredAt), Version: e.Version,
		ExternalIDVersion: e.ExternalIDVersion, PreviousRoleARN: e.PreviousRoleARN, CandidateRoleARN: e.CandidateRoleARN,
		TTL: e.OccurredAt.Add(EventRetention).Unix(),
	}
}

// ItemFromEvent is the outbox item Apply writes for e (exported for tests
// of consumers of the stream).
func ItemFromEvent(e connection.Event) (map[string]ddbtypes.AttributeValue, error) {
	return marshal(newEventItem(e))
}

// ItemFromConnection is the connection item Apply writes for c, with its
// index keys (exported for tools that load many connections at once, such
// as the benchmarks' BatchWriteItem loader; the store itself writes
// connections only through Apply).
func ItemFromConnection(c connection.Connection) (map[string]ddbtypes.AttributeValue, error) {
	return marshal(newConnItem(c))
}

// ErrNotEvent: the item or stream image is not an outbox event.
var ErrNotEvent = errors.New("not an outbox event item")

// EventFromItem decodes an outbox event item. An item with two attribute
// names that differ only in case is refused: the decoder matches names
// case-insensitively, so which of the two it took would depend on map
// order, and the same item could give different events.
func EventFromItem(item map[string]ddbtypes.AttributeValue) (connection.Event, error) {
	if a, b, ok := caseCollision(item); ok {
		return connection.Event{}, fmt.Errorf("decode event item: attributes %q and %q differ only in case: %w", a, b, ErrNotEvent)
	}
	var it eventItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return connection.Event{}, fmt.Errorf("decode event item: %w", err)
	}
	if it.Kind != KindEvent {
		return connection.Event{}, fmt.Errorf("decode event item of kind %q: %w", it.Kind, ErrNotEvent)
	}
	dt := connection.DetailType(it.DetailType)
	if it.EventID == "" || it.TenantID == "" || it.AccountID == "" && !dt.OfTenant() || it.Version < 1 ||
		!slices.Contains(connection.DetailTypes, dt) {
		return connection.Event{}, fmt.Errorf("decode event item %s/%s: incomplete (eventId %q, detailType %q, version %d): %w",
			it.TenantID, it.AccountID, it.EventID, it.DetailType, it.Version, ErrNotEvent)
	}
	return connection.Event{
		EventID: it.EventID, DetailType: connection.DetailType(it.DetailType), TenantID: it.TenantID,
		AccountID: it.AccountID, RoleARN: it.RoleARN, Status: connection.Status(it.Status),
		PreviousStatus: connection.Status(it.PreviousStatus), Reason: connection.Reason(it.Reason),
		OccurredAt: it.OccurredAt, Version: it.Version, ExternalIDVersion: it.ExternalIDVersion,
		PreviousRoleARN: it.PreviousRoleARN, CandidateRoleARN: it.CandidateRoleARN, ExternalIDCurrent: it.ExternalIDCurrent,
		PreviousExternalIDVersion: it.PreviousExternalIDVersion, GraceEndsAt: it.GraceEndsAt, Completion: it.Completion,
	}, nil
}

// caseCollision finds two attribute names equal under Unicode simple case
// folding, as strings.EqualFold (the decoder's name matching) compares them.
func caseCollision(item map[string]ddbtypes.AttributeValue) (string, string, bool) {
	seen := make(map[string]string, len(item))
	for k := range item {
		f := strings.Map(foldRune, k)
		if other, dup := seen[f]; dup {
			return min(k, other), max(k, other), true
		}
		seen[f] = k
	}
	return "", "", false
}

// foldRune is the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// marshal encodes an item. A zero time.Time tagged omitempty is left out,
// as the routine update removes it, rather than stored as
// "0001-01-01T00:00:00Z" (the encoder's default); items stored before
// still decode to the zero time.
func marshal(v any) (map[string]ddbtypes.AttributeValue, error) {
	m, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return m, nil
}

// marshalAll marshals each of vs, in order.
func marshalAll(vs ...any) ([]map[string]ddbtypes.AttributeValue, error) {
	out := make([]map[string]ddbtypes.AttributeValue, len(vs))
	for i, v := range vs {
		m, err := marshal(v)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// newExternalIDItem reserves t's current external ID.
func newExternalIDItem(t tenant.Tenant) externalIDItem {
	return externalIDItem{itemKey: itemKey{externalIDPK(t.ExternalID), skExternalID, kindExternalID}, TenantID: t.ID}
}
