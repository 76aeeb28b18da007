package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Keys of the single table (see DynamoDB).
const (
	skTenant     = "TENANT"
	skExternalID = "EXTID"
	skInvite     = "INVITE"
	skClaim      = "CLAIM"
	skRate       = "RATE"
	invitePrefix = "INVITE#"
	connPrefix   = "CONN#"
	eventPrefix  = "EVENT#"
	duePrefix    = "DUE#"
)

func tenantPK(id string) string    { return "TENANT#" + id }
func externalIDPK(x string) string { return "EXTID#" + x }
func invitePK(hash string) string  { return "INVITE#" + hash }
func claimPK(key string) string    { return "CLAIM#" + key }
func inviteSK(id string) string    { return invitePrefix + id }
func ratePK(key string, window time.Time) string {
	return "RATE#" + key + "#" + window.UTC().Format(dueTimeLayout)
}
func connSK(account string) string  { return connPrefix + account }
func eventSKPrefix(a string) string { return eventPrefix + a + "#" }
func eventSK(account string, version int64) string {
	return fmt.Sprintf("%s%020d", eventSKPrefix(account), version)
}
func dueShardKey(n int) string { return duePrefix + strconv.Itoa(n) }

// dueTimeLayout is fixed-width, so due keys sort by time as strings.
const dueTimeLayout = "2006-01-02T15:04:05.000000000Z"

func dueTime(t time.Time) string { return t.UTC().Format(dueTimeLayout) }

// connOrder is "<tenant>#<account>", the order of connection listings.
func connOrder(tenantID, accountID string) string { return tenantID + "#" + accountID }

// dueOrder is the order of Due: next check time, tenant, account.
func dueOrder(c connection.Connection) string {
	return dueTime(c.NextCheckAt) + "#" + connOrder(c.TenantID, c.AccountID)
}

// dueIndexed reports whether c belongs in the due index.
func dueIndexed(c connection.Connection) bool { return c.Live() && !c.NextCheckAt.IsZero() }

type reasonAttr struct {
	Code    string `dynamodbav:"code"`
	Message string `dynamodbav:"message"`
	Hint    string `dynamodbav:"hint,omitempty"`
}

type tenantItem struct {
	PK                string    `dynamodbav:"PK"`
	SK                string    `dynamodbav:"SK"`
	Kind              string    `dynamodbav:"kind"`
	TenantID          string    `dynamodbav:"tenantId"`
	Name              string    `dynamodbav:"name"`
	ExternalID        string    `dynamodbav:"externalId"`
	ExternalIDVersion int       `dynamodbav:"externalIdVersion"`
	CreatedAt         time.Time `dynamodbav:"createdAt"`
	RotatedAt         time.Time `dynamodbav:"rotatedAt,omitempty"`
	MaxConnections    int       `dynamodbav:"maxConnections,omitempty"`
}

// externalIDItem reserves an external ID for good: it is never deleted.
type externalIDItem struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	Kind     string `dynamodbav:"kind"`
	TenantID string `dynamodbav:"tenantId"`
}

// inviteItem is an invite under the hash of its code (what a customer
// request reads); inviteRefItem is the same invite in its tenant's
// partition under its ID (what listings and revocations use). Both are
// written together and carry the same fields.
type inviteItem struct {
	PK         string    `dynamodbav:"PK"`
	SK         string    `dynamodbav:"SK"`
	Kind       string    `dynamodbav:"kind"`
	InviteID   string    `dynamodbav:"inviteId,omitempty"`
	Hash       string    `dynamodbav:"hash"`
	TenantID   string    `dynamodbav:"tenantId"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	ValidUntil time.Time `dynamodbav:"validUntil"`
	Revoked    bool      `dynamodbav:"revoked,omitempty"`
	TTL        int64     `dynamodbav:"expiresAt"`
}

type connItem struct {
	PK                  string     `dynamodbav:"PK"`
	SK                  string     `dynamodbav:"SK"`
	Kind                string     `dynamodbav:"kind"`
	TenantID            string     `dynamodbav:"tenantId"`
	AccountID           string     `dynamodbav:"accountId"`
	RoleARN             string     `dynamodbav:"roleArn"`
	Status              string     `dynamodbav:"status"`
	Reason              reasonAttr `dynamodbav:"reason"`
	Version             int64      `dynamodbav:"version"`
	ConsecutiveFailures int        `dynamodbav:"consecutiveFailures"`
	SubmittedAt         time.Time  `dynamodbav:"submittedAt,omitempty"`
	UpdatedAt           time.Time  `dynamodbav:"updatedAt,omitempty"`
	VerifiedAt          time.Time  `dynamodbav:"verifiedAt,omitempty"`
	LastCheckedAt       time.Time  `dynamodbav:"lastCheckedAt,omitempty"`
	NextCheckAt         time.Time  `dynamodbav:"nextCheckAt,omitempty"`
	ExternalIDVersion   int        `dynamodbav:"externalIdVersion"`
	ClaimKey            string     `dynamodbav:"claimKey,omitempty"`
	ConnStatus          string     `dynamodbav:"connStatus"`
	ConnKey             string     `dynamodbav:"connKey"`
	DueShard            string     `dynamodbav:"dueShard,omitempty"`
	DueAt               string     `dynamodbav:"dueAt,omitempty"`
}

type claimItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Kind      string    `dynamodbav:"kind"`
	TenantID  string    `dynamodbav:"tenantId"`
	AccountID string    `dynamodbav:"accountId"`
	RoleARN   string    `dynamodbav:"roleArn"`
	ClaimedAt time.Time `dynamodbav:"claimedAt"`
}

// eventItem is an outbox event; it holds everything the EventBridge entry
// needs.
type eventItem struct {
	PK                string     `dynamodbav:"PK"`
	SK                string     `dynamodbav:"SK"`
	Kind              string     `dynamodbav:"kind"`
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
	TTL               int64      `dynamodbav:"expiresAt"`
}

func toReasonAttr(r connection.Reason) reasonAttr { return reasonAttr(r) }

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func newTenantItem(t tenant.Tenant) tenantItem {
	return tenantItem{PK: tenantPK(t.ID), SK: skTenant, Kind: kindTenant, TenantID: t.ID, Name: t.Name,
		ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion, CreatedAt: utc(t.CreatedAt), RotatedAt: utc(t.RotatedAt),
		MaxConnections: t.MaxConnections}
}

func (it tenantItem) tenant() tenant.Tenant {
	t := tenant.Tenant{ID: it.TenantID, Name: it.Name, ExternalID: it.ExternalID, ExternalIDVersion: it.ExternalIDVersion,
		CreatedAt: it.CreatedAt, RotatedAt: it.RotatedAt, MaxConnections: it.MaxConnections}
	if t.MaxConnections == 0 { // stored before tenants had a limit
		t.MaxConnections = tenant.DefaultMaxConnections
	}
	return t
}

func newInviteItem(inv tenant.Invite) inviteItem {
	return inviteItem{PK: invitePK(inv.Hash), SK: skInvite, Kind: kindInvite, InviteID: inv.ID, Hash: inv.Hash, TenantID: inv.TenantID,
		CreatedAt: utc(inv.CreatedAt), ValidUntil: utc(inv.ExpiresAt), Revoked: inv.Revoked, TTL: inv.ExpiresAt.Add(InviteGrace).Unix()}
}

func newInviteRefItem(inv tenant.Invite) inviteItem {
	it := newInviteItem(inv)
	it.PK, it.SK, it.Kind = tenantPK(inv.TenantID), inviteSK(inv.ID), kindInviteRef
	return it
}

func (it inviteItem) invite() tenant.Invite {
	return tenant.Invite{ID: it.InviteID, Hash: it.Hash, TenantID: it.TenantID, CreatedAt: it.CreatedAt, ExpiresAt: it.ValidUntil, Revoked: it.Revoked}
}

func newConnItem(c connection.Connection) connItem {
	it := connItem{
		PK: tenantPK(c.TenantID), SK: connSK(c.AccountID), Kind: kindConnection,
		TenantID: c.TenantID, AccountID: c.AccountID, RoleARN: c.RoleARN, Status: string(c.Status),
		Reason: toReasonAttr(c.Reason), Version: c.Version, ConsecutiveFailures: c.ConsecutiveFailures,
		SubmittedAt: utc(c.SubmittedAt), UpdatedAt: utc(c.UpdatedAt), VerifiedAt: utc(c.VerifiedAt),
		LastCheckedAt: utc(c.LastCheckedAt), NextCheckAt: utc(c.NextCheckAt), ExternalIDVersion: c.ExternalIDVersion,
		ClaimKey: c.ClaimKey(), ConnStatus: string(c.Status), ConnKey: connOrder(c.TenantID, c.AccountID),
	}
	if dueIndexed(c) {
		it.DueShard, it.DueAt = dueShardKey(ShardOf(c.TenantID, c.AccountID)), dueOrder(c)
	}
	return it
}

func (it connItem) connection() connection.Connection {
	return connection.Connection{
		TenantID: it.TenantID, AccountID: it.AccountID, RoleARN: it.RoleARN, Status: connection.Status(it.Status),
		Reason: connection.Reason(it.Reason), Version: it.Version, ConsecutiveFailures: it.ConsecutiveFailures,
		SubmittedAt: it.SubmittedAt, UpdatedAt: it.UpdatedAt, VerifiedAt: it.VerifiedAt,
		LastCheckedAt: it.LastCheckedAt, NextCheckAt: it.NextCheckAt, ExternalIDVersion: it.ExternalIDVersion,
	}
}

func newEventItem(e connection.Event) eventItem {
	return eventItem{
		PK: tenantPK(e.TenantID), SK: eventSK(e.AccountID, e.Version), Kind: KindEvent,
		EventID: e.EventID, DetailType: string(e.DetailType), TenantID: e.TenantID, AccountID: e.AccountID,
		RoleARN: e.RoleARN, Status: string(e.Status), PreviousStatus: string(e.PreviousStatus),
		Reason: toReasonAttr(e.Reason), OccurredAt: utc(e.OccurredAt), Version: e.Version,
		ExternalIDVersion: e.ExternalIDVersion, TTL: e.OccurredAt.Add(EventRetention).Unix(),
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
	if it.EventID == "" || it.TenantID == "" || it.AccountID == "" || it.Version < 1 ||
		!slices.Contains(connection.DetailTypes, connection.DetailType(it.DetailType)) {
		return connection.Event{}, fmt.Errorf("decode event item %s/%s: incomplete (eventId %q, detailType %q, version %d): %w",
			it.TenantID, it.AccountID, it.EventID, it.DetailType, it.Version, ErrNotEvent)
	}
	return connection.Event{
		EventID: it.EventID, DetailType: connection.DetailType(it.DetailType), TenantID: it.TenantID,
		AccountID: it.AccountID, RoleARN: it.RoleARN, Status: connection.Status(it.Status),
		PreviousStatus: connection.Status(it.PreviousStatus), Reason: connection.Reason(it.Reason),
		OccurredAt: it.OccurredAt, Version: it.Version, ExternalIDVersion: it.ExternalIDVersion,
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

// EventFromStreamImage decodes the NewImage of a stream record, as the
// publish Lambda receives it, into the event to put on the bus.
func EventFromStreamImage(img map[string]events.DynamoDBAttributeValue) (connection.Event, error) {
	item, err := fromStreamImage(img)
	if err != nil {
		return connection.Event{}, fmt.Errorf("decode stream image: %w", err)
	}
	return EventFromItem(item)
}

func fromStreamImage(img map[string]events.DynamoDBAttributeValue) (map[string]ddbtypes.AttributeValue, error) {
	out := make(map[string]ddbtypes.AttributeValue, len(img))
	for k, v := range img {
		av, err := fromStreamValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func fromStreamValue(v events.DynamoDBAttributeValue) (ddbtypes.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &ddbtypes.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &ddbtypes.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &ddbtypes.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &ddbtypes.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &ddbtypes.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &ddbtypes.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &ddbtypes.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &ddbtypes.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeMap:
		m, err := fromStreamImage(v.Map())
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberM{Value: m}, nil
	case events.DataTypeList:
		var l []ddbtypes.AttributeValue
		for _, e := range v.List() {
			av, err := fromStreamValue(e)
			if err != nil {
				return nil, err
			}
			l = append(l, av)
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %d", v.DataType())
}

// LambdaImage converts an image of a stream record as the DynamoDB Streams
// API returns it (Keys, NewImage, OldImage) into the image the publish
// Lambda receives in its event, for what feeds the stream to the handler
// outside Lambda. A nil image stays nil.
func LambdaImage(m map[string]streamtypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = lambdaValue(v)
	}
	return out
}

func lambdaValue(v streamtypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = lambdaValue(e)
		}
		return events.NewListAttribute(l)
	case *streamtypes.AttributeValueMemberM:
		return events.NewMapAttribute(LambdaImage(v.Value))
	}
	return events.NewNullAttribute()
}

func marshal(v any) (map[string]ddbtypes.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return m, nil
}

// Cursors are the base64url JSON of the key attributes of the last item
// returned (DynamoDB's LastEvaluatedKey), all strings in this table.

func encodeCursor(item map[string]ddbtypes.AttributeValue, attrs []string) string {
	k := make(map[string]string, len(attrs))
	for _, a := range attrs {
		if s, ok := item[a].(*ddbtypes.AttributeValueMemberS); ok {
			k[a] = s.Value
		}
	}
	b, _ := json.Marshal(k) // a map of strings always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the start key of cursor, which must hold exactly
// attrs and pass ok.
func decodeCursor(cursor string, attrs []string, ok func(map[string]string) bool) (map[string]ddbtypes.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
	}
	var k map[string]string
	if err := json.Unmarshal(b, &k); err != nil || len(k) != len(attrs) {
		return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
	}
	out := make(map[string]ddbtypes.AttributeValue, len(attrs))
	for _, a := range attrs {
		v, present := k[a]
		if !present || v == "" {
			return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
		}
		out[a] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	if !ok(k) {
		return nil, fmt.Errorf("cursor of another listing: %w", ErrInvalidCursor)
	}
	return out, nil
}
