package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
)

// DynamoDB is the AWS adapter: one table (TableDefinition), every
// multi-item change in one TransactWriteItems, every single-item change a
// conditional write, no read before a write.
//
// Items (PK / SK, all strings; kind tells the types apart):
//
//	tenant       TENANT#<tenantId>   TENANT                 kind=tenant: name, externalId, externalIdVersion, createdAt, rotatedAt
//	external ID  EXTID#<externalId>  EXTID                  kind=extid: tenantId. Reserves the ID for good (never deleted),
//	                                                        so an ID is never reused, even after rotation.
//	invite       INVITE#<sha256 hex> INVITE                 kind=invite: inviteId, tenantId, createdAt, validUntil, revoked;
//	                                                        TTL expiresAt = validUntil + InviteGrace
//	connection   TENANT#<tenantId>   CONN#<accountId>       kind=connection: the connection's fields, claimKey,
//	                                                        connStatus + connKey (byStatus), dueShard + dueAt (due)
//	role claim   CLAIM#<claimKey>    CLAIM                  kind=claim: tenantId, accountId (the owner), roleArn.
//	                                                        claimKey = account/lower-case role name, so every
//	                                                        spelling of a role is one claim
//	event        TENANT#<tenantId>   EVENT#<accountId>#<version, 20 digits>
//	                                                        kind=event: every connection.Event field (incl.
//	                                                        detailType); TTL expiresAt = occurredAt + EventRetention
//	tenant event TENANT#<tenantId>   TEVENT#<external-ID version, 20 digits>#<1-started|2-completed>
//	                                                        kind=event: a rotation Started / Completed
//
// Invite refs, rate counters and their writes are described in
// dynamodb_limits.go.
//
// A tenant's partition holds the tenant, its connections and their event
// histories (the outbox): ListByTenant and Events are single-partition
// queries. Only event items have kind=event; the stream (NEW_AND_OLD_IMAGES)
// is filtered to INSERTs of them for the publish function.
//
// Indexes:
//
//	byStatus  connStatus / connKey ("<tenant>#<account>"), keys only: every connection.
//	          ListByStatus queries it and reads the items with BatchGetItem, so
//	          routine checks (which change no key of it) never write to it.
//	due       dueShard ("DUE#<ShardOf>") / dueAt (fixed-width UTC nextCheckAt "#" tenant "#" account),
//	          all attributes. Sparse: only live connections with a next check carry
//	          the keys, so a sweep of shard n up to time T reads exactly what is due.
//	          A tenant in a rotation's grace carries dueShard "DUE#GRACE" / dueAt
//	          (fixed-width UTC graceEndsAt "#" tenant) until the rotation completes:
//	          GracesEnded reads that partition.
//
// Both indexes are eventually consistent: a listing may lag a write by a
// moment (a sweep then enqueues a stale version, which the check discards).
// GetItem reads, ListByTenant and Events are strongly consistent.
//
// Writes:
//   - Apply with an event: one TransactWriteItems: put connection (condition:
//     not exists, or version = Before.Version), put event (not exists), put
//     the claim of a connection that holds one (VERIFIED or ACCESS_LOST; not
//     exists, or owned by this connection), delete the claim of Before's role
//     when the role changes or the connection no longer holds a claim (owned
//     by this connection). A role is thus claimed when its connection first
//     becomes VERIFIED, never at submission. Cancellation
//     reasons map to ErrRoleClaimed (claim) before ErrConflict (connection or
//     event). A TransactionConflict (another transaction in flight on the
//     same items) is retried with jittered backoff, then ErrContended; each
//     attempt has its own ClientRequestToken, so the SDK's retries of one
//     attempt are idempotent. An old claim owned by someone else (only
//     possible by editing the table) is left alone, as Memory does.
//   - Apply without an event (routine check): one UpdateItem conditioned on
//     version and consecutiveFailures; it sets the check times, failure count,
//     external-ID version and dueAt, and stackResource only when it changes
//     (a stack's new registration resource takes the registration over).
//     A TransactionConflictException (a transaction in flight on the item)
//     sends it again, as update does.
//   - CreateTenant: tenant + external-ID items in one transaction, both
//     conditioned on not existing. RotateExternalID: the tenant item
//     conditioned on the previous externalIdVersion and the connection
//     limit as read + the new external-ID item + the rotation's event(s).
//     CompleteRotation: an update removing the tenant item's previous ID
//     (and its due keys), conditioned on the version and previous version
//     (and for ALL_CURRENT graceWrites), + the Completed event. All three
//     retry a TransactionConflict as Apply does. SetMaxConnections: one
//     UpdateItem of maxConnections alone, conditioned on the item existing,
//     retrying a TransactionConflictException likewise.
//   - A write that applies a check outcome and changes a status, a failure
//     count or the external-ID bookkeeping also checks the tenant item: its
//     externalIdVersion is the one the check used, or (a success with the
//     previous ID only) its previousExternalIdVersion is, and graceEndsAt is
//     after the check.
type DynamoDB struct {
	client DynamoDBAPI
	table  string
}

// DynamoDBAPI is what the adapter needs of a DynamoDB client;
// *dynamodb.Client implements it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns the adapter for table, which must exist (CreateTable).
func NewDynamoDB(client DynamoDBAPI, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table}
}

// Table is the table's name.
func (d *DynamoDB) Table() string { return d.table }

func key(pk, sk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		AttrPK: &ddbtypes.AttributeValueMemberS{Value: pk},
		AttrSK: &ddbtypes.AttributeValueMemberS{Value: sk},
	}
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
func n[T int | int64](v T) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(v)}
}

const (
	condCodeFailed      = "ConditionalCheckFailed"
	condCodeTxnConflict = "TransactionConflict"
)

// reasons returns the cancellation reason codes of a cancelled transaction,
// per item, or nil if err is not a cancellation.
func reasons(err error) ([]string, []ddbtypes.CancellationReason) {
	var tce *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes, tce.CancellationReasons
}

func failedAt(codes []string, i int) bool {
	return i >= 0 && i < len(codes) && codes[i] == condCodeFailed
}

// putNew writes vs as items in one transaction, each only where no item has
// its key. taken is the index of the first item whose key was taken (-1
// when none was); err is the write's error.
func (d *DynamoDB) putNew(ctx context.Context, vs ...any) (taken int, err error) {
	items, err := marshalAll(vs...)
	if err != nil {
		return -1, err
	}
	writes := make([]ddbtypes.TransactWriteItem, len(items))
	for i, item := range items {
		writes[i] = ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: &d.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")")}}
	}
	taken = -1
	err = d.transact(ctx, "put new items", writes, func(codes []string, _ []ddbtypes.CancellationReason) (error, bool) {
		for i := range writes {
			if failedAt(codes, i) {
				taken = i
				return fmt.Errorf("put new items: item %d exists: %w", i, ErrConflict), true
			}
		}
		return nil, false
	})
	return taken, err
}

// connPage decodes a page of connection items a query returned, with its
// error.
func connPage(items []map[string]ddbtypes.AttributeValue, next string, err error) (Page, error) {
	if err != nil {
		return Page{}, err
	}
	cs, err := decodeConns(items)
	if err != nil {
		return Page{}, err
	}
	return Page{Items: cs, Cursor: next}, nil
}

// GetConnection implements Store.
func (d *DynamoDB) GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	var it connItem
	if err := d.get(ctx, key(tenantPK(tenantID), connSK(accountID)), &it); err != nil {
		return connection.Connection{}, fmt.Errorf("get connection %s/%s: %w", tenantID, accountID, err)
	}
	return it.connection(), nil
}

// get reads one item with a consistent read into v; ErrNotFound if absent.
func (d *DynamoDB) get(ctx context.Context, k map[string]ddbtypes.AttributeValue, v any) error {
	out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &d.table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	if len(out.Item) == 0 {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return fmt.Errorf("decode item: %w", err)
	}
	return nil
}

func requestToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// update runs one UpdateItem, again while DynamoDB rejects it with
// TransactionConflictException (a transaction is in flight on the item),
// as transact retries a TransactionConflict cancellation: up to
// txnAttempts attempts, then ErrContended. Each attempt is conditioned as
// the first, so a transaction that commits meanwhile fails the condition
// (ConditionalCheckFailedException, returned as DynamoDB answers it).
func (d *DynamoDB) update(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	for attempt := 1; ; attempt++ {
		out, err := d.client.UpdateItem(ctx, in)
		var tce *ddbtypes.TransactionConflictException
		switch {
		case !errors.As(err, &tce):
			return out, err
		case attempt >= txnAttempts:
			return nil, fmt.Errorf("still conflicting with transactions after %d attempts: %w", attempt, ErrContended)
		}
		if err := backoff.Wait(ctx, txnBackoff(attempt)); err != nil {
			return nil, err
		}
	}
}

// txnBackoff is the jittered delay before transaction retry attempt+1.
func txnBackoff(attempt int) time.Duration {
	return backoff.EqualJitter(backoff.Doubling(txnBackoffBase, txnBackoffMax, attempt-1))
}

// query runs in page by page until it has limit+1 items or the end, and
// returns at most limit items plus the cursor of the last one when more
// follow. keyAttrs are the attributes of the cursor (table and index keys);
// okCursor checks that a cursor belongs to this listing.
func (d *DynamoDB) query(ctx context.Context, in *dynamodb.QueryInput, keyAttrs []string, cursor string, okCursor func(map[string]string) bool, limit int) ([]map[string]ddbtypes.AttributeValue, string, error) {
	limit = clampLimit(limit)
	if cursor != "" {
		start, err := decodeCursor(cursor, keyAttrs, okCursor)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = start
	}
	var items []map[string]ddbtypes.AttributeValue
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(items)))
		out, err := d.client.Query(ctx, in)
		if err != nil {
			return nil, "", err
		}
		items = append(items, out.Items...)
		if len(items) > limit || len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, encodeCursor(items[limit-1], keyAttrs), nil
}

func decodeConns(items []map[string]ddbtypes.AttributeValue) ([]connection.Connection, error) {
	cs := make([]connection.Connection, 0, len(items))
	for _, item := range items {
		var it connItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("decode connection item: %w", err)
		}
		cs = append(cs, it.connection())
	}
	return cs, nil
}

// queryPrefix reads a page of the partition pk's items whose sort key
// starts with skPrefix, consistently, from cursor (a cursor of another
// listing is refused).
func (d *DynamoDB) queryPrefix(ctx context.Context, pk, skPrefix, cursor string, limit int) ([]map[string]ddbtypes.AttributeValue, string, error) {
	return d.query(ctx, &dynamodb.QueryInput{
		TableName:              &d.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(pk), ":sk": s(skPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}, []string{AttrPK, AttrSK}, cursor, func(k map[string]string) bool {
		return k[AttrPK] == pk && strings.HasPrefix(k[AttrSK], skPrefix)
	}, limit)
}

// ListByTenant implements Store.
func (d *DynamoDB) ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (Page, error) {
	p, err := connPage(d.queryPrefix(ctx, tenantPK(tenantID), connPrefix, cursor, limit))
	if err != nil {
		return Page{}, fmt.Errorf("list connections of %s: %w", tenantID, err)
	}
	return p, nil
}

// ListByStatus implements Store. The index holds keys only; the items are
// read with consistent BatchGetItem, and an item whose status changed since
// the index was read (it is eventually consistent) is left out. The index
// is read on until limit items are left or it ends, so a page is short or
// empty only at the end, as Memory's.
func (d *DynamoDB) ListByStatus(ctx context.Context, status connection.Status, cursor string, limit int) (Page, error) {
	limit = clampLimit(limit)
	var out Page
	for {
		p, err := d.statusPage(ctx, status, cursor, limit-len(out.Items))
		if err != nil {
			return Page{}, err
		}
		out.Items, out.Cursor = append(out.Items, p.Items...), p.Cursor
		if p.Cursor == "" || len(out.Items) >= limit {
			return out, nil
		}
		cursor = p.Cursor
	}
}

// statusPage reads one page of the byStatus index from cursor and the
// items it names that still have the status.
func (d *DynamoDB) statusPage(ctx context.Context, status connection.Status, cursor string, limit int) (Page, error) {
	keys, next, err := d.query(ctx, &dynamodb.QueryInput{
		TableName:                 &d.table,
		IndexName:                 aws.String(IndexByStatus),
		KeyConditionExpression:    aws.String(AttrStatusPK + " = :s"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": s(string(status))},
	}, []string{AttrPK, AttrSK, AttrStatusPK, AttrStatusSK}, cursor, func(k map[string]string) bool {
		return k[AttrStatusPK] == string(status)
	}, limit)
	if err != nil {
		return Page{}, fmt.Errorf("list %s connections: %w", status, err)
	}
	items, err := d.batchGet(ctx, keys)
	p, err := connPage(items, next, err)
	if err != nil {
		return Page{}, fmt.Errorf("list %s connections: %w", status, err)
	}
	p.Items = slices.DeleteFunc(p.Items, func(c connection.Connection) bool { return c.Status != status })
	return p, nil
}

// Due implements Store. The index is eventually consistent: a sweep may see
// a connection a moment late, or a version that has just moved on (the
// check is then discarded as stale).
func (d *DynamoDB) Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (Page, error) {
	ds := dueShardKey(shard)
	p, err := connPage(d.query(ctx, &dynamodb.QueryInput{
		TableName:              &d.table,
		IndexName:              aws.String(IndexDue),
		KeyConditionExpression: aws.String(AttrDueShard + " = :s AND " + AttrDueAt + " < :u"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			// Everything due at or before until sorts before the next
			// nanosecond.
			":s": s(ds), ":u": s(dueTime(until.Add(time.Nanosecond))),
		},
	}, []string{AttrPK, AttrSK, AttrDueShard, AttrDueAt}, cursor, func(k map[string]string) bool {
		return k[AttrDueShard] == ds
	}, limit))
	if err != nil {
		return Page{}, fmt.Errorf("list due connections of shard %d: %w", shard, err)
	}
	return p, nil
}

// Events implements Store.
func (d *DynamoDB) Events(ctx context.Context, tenantID, accountID string) ([]connection.Event, error) {
	evs, err := d.events(ctx, tenantPK(tenantID), eventSKPrefix(accountID))
	if err != nil {
		return nil, fmt.Errorf("read events of %s/%s: %w", tenantID, accountID, err)
	}
	return evs, nil
}

// events reads the event items of partition pk whose sort key starts with
// prefix, in sort-key order.
func (d *DynamoDB) events(ctx context.Context, pk, prefix string) ([]connection.Event, error) {
	in := &dynamodb.QueryInput{
		TableName:              &d.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(pk), ":sk": s(prefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	var evs []connection.Event
	for {
		out, err := d.client.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, item := range out.Items {
			ev, err := EventFromItem(item)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return evs, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
