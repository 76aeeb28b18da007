package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
)

// Apply implements Store.
func (d *DynamoDB) Apply(ctx context.Context, t connection.Transition) error {
	if err := validate(t); err != nil {
		return fmt.Errorf("apply to %s/%s: %w", t.After.TenantID, t.After.AccountID, err)
	}
	if t.Event == nil {
		return d.routine(ctx, t)
	}
	return d.transition(ctx, t)
}

// routine writes a check that changed nothing but check times and failure
// count, or a stack's new registration resource taking the registration
// over: one conditional UpdateItem, no read.
func (d *DynamoDB) routine(ctx context.Context, t connection.Transition) error {
	a := t.After
	cond, vals := snapshotCondition(*t.Before)
	vals[":nf"], vals[":xv"], vals[":xc"] = n(a.ConsecutiveFailures), n(a.ExternalIDVersion), &ddbtypes.AttributeValueMemberBOOL{Value: a.ExternalIDCurrent}
	var set, remove []string
	setTime := func(attr string, v time.Time) {
		if v.IsZero() {
			remove = append(remove, attr)
			return
		}
		vals[":"+attr] = s(v.UTC().Format(time.RFC3339Nano))
		set = append(set, attr+" = :"+attr)
	}
	setTime("lastCheckedAt", a.LastCheckedAt)
	setTime("nextCheckAt", a.NextCheckAt)
	set = append(set, "consecutiveFailures = :nf", "externalIdVersion = :xv", "externalIdCurrent = :xc")
	// A takeover by a stack's new registration resource writes the
	// resource (a write computed before it conflicts: the snapshot
	// condition holds the resource).
	switch r := a.StackResource; {
	case r == t.Before.StackResource:
	case r == "":
		remove = append(remove, "stackResource")
	default:
		vals[":nsr"] = s(r)
		set = append(set, "stackResource = :nsr")
	}
	if dueIndexed(a) {
		vals[":ds"], vals[":da"] = s(dueShardKey(ShardOf(a.TenantID, a.AccountID))), s(dueOrder(a))
		set = append(set, AttrDueShard+" = :ds", AttrDueAt+" = :da")
	} else {
		remove = append(remove, AttrDueShard, AttrDueAt)
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	if g, ok := guardOf(t); ok {
		// The failure count or external-ID bookkeeping changes: one
		// transaction of the update and the tenant's guard.
		id := fmt.Sprintf("%s/%s v%d", a.TenantID, a.AccountID, t.Before.Version)
		items := []ddbtypes.TransactWriteItem{
			{Update: &ddbtypes.Update{TableName: &d.table, Key: key(tenantPK(a.TenantID), connSK(a.AccountID)),
				UpdateExpression: aws.String(expr), ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals}},
			d.guardItem(g),
		}
		return d.transact(ctx, "apply to "+id, items, func(codes []string, _ []ddbtypes.CancellationReason) (error, bool) {
			switch {
			case failedAt(codes, 1):
				return fmt.Errorf("update connection %s: %w", id, ErrExternalIDRetired), true
			case failedAt(codes, 0):
				return fmt.Errorf("update connection %s: %w", id, ErrConflict), true
			}
			return nil, false
		})
	}
	_, err := d.update(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &d.table,
		Key:                       key(tenantPK(a.TenantID), connSK(a.AccountID)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: vals,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return fmt.Errorf("update connection %s/%s v%d: %w", a.TenantID, a.AccountID, t.Before.Version, ErrConflict)
	case err != nil:
		return fmt.Errorf("update connection %s/%s v%d: %w", a.TenantID, a.AccountID, t.Before.Version, err)
	}
	return nil
}

// snapshotCondition is the condition that the stored connection is still
// before (see sameSnapshot): version, failure count, last check time and
// role ARN. A zero last check time is stored absent, or, in items written
// before zero times were left out, as the zero time.
func snapshotCondition(before connection.Connection) (string, map[string]ddbtypes.AttributeValue) {
	vals := map[string]ddbtypes.AttributeValue{
		":v": n(before.Version), ":f": n(before.ConsecutiveFailures), ":r": s(before.RoleARN),
		":lc": s(utc(before.LastCheckedAt).Format(time.RFC3339Nano)),
	}
	lc := "lastCheckedAt = :lc"
	if before.LastCheckedAt.IsZero() {
		lc = "(attribute_not_exists(lastCheckedAt) OR lastCheckedAt = :lc)"
	}
	sr := "attribute_not_exists(stackResource)"
	if before.StackResource != "" {
		sr, vals[":sres"] = "stackResource = :sres", s(before.StackResource)
	}
	return "version = :v AND consecutiveFailures = :f AND roleArn = :r AND " + lc + " AND " + sr, vals
}

// guardItem is the condition on the tenant item that it still accepts the
// external ID version a check used (AcceptsExternalID): a condition check,
// or, for a success with the previous ID alone, an update that counts it
// (Tenant.GraceWrites) under the same condition.
func (d *DynamoDB) guardItem(g guard) ddbtypes.TransactWriteItem {
	k := key(tenantPK(g.tenantID), skTenant)
	if g.previous {
		return ddbtypes.TransactWriteItem{Update: &ddbtypes.Update{TableName: &d.table, Key: k,
			UpdateExpression:    aws.String("ADD graceWrites :one"),
			ConditionExpression: aws.String("previousExternalIdVersion = :gv AND graceEndsAt > :gat"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":gv": n(g.version), ":gat": s(dueTime(g.at)), ":one": n(1)}}}
	}
	return ddbtypes.TransactWriteItem{ConditionCheck: &ddbtypes.ConditionCheck{TableName: &d.table, Key: k,
		ConditionExpression:       aws.String("externalIdVersion = :gv"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":gv": n(g.version)}}}
}

// transact runs a transaction, retrying TransactionConflict cancellations
// (another transaction in flight on the same items: transient) with
// jittered backoff, then ErrContended. classify maps any other cancellation
// to an error, given its reasons' codes and the reasons (false: not one it
// knows). what names the write in errors. Each attempt has its own
// ClientRequestToken, which makes the SDK's retries of it idempotent.
func (d *DynamoDB) transact(ctx context.Context, what string, items []ddbtypes.TransactWriteItem, classify func(codes []string, rs []ddbtypes.CancellationReason) (error, bool)) error {
	for attempt := 1; ; attempt++ {
		_, err := d.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:      items,
			ClientRequestToken: aws.String(requestToken()),
		})
		if err == nil {
			return nil
		}
		codes, rs := reasons(err)
		if codes == nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if e, ok := classify(codes, rs); ok {
			return e
		}
		if !strings.Contains(strings.Join(codes, ","), condCodeTxnConflict) {
			return fmt.Errorf("%s: cancelled %v: %w", what, codes, err)
		}
		if attempt >= txnAttempts {
			return fmt.Errorf("%s: transaction still conflicting after %d attempts: %w", what, attempt, ErrContended)
		}
		if err := backoff.Wait(ctx, txnBackoff(attempt)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// Transaction retries: a transaction that collides with another one in
// flight on the same items is cancelled with TransactionConflict; it is
// retried with jittered backoff, so the outcome depends on what committed.
const (
	txnAttempts    = 12
	txnBackoffBase = 10 * time.Millisecond
	txnBackoffMax  = 400 * time.Millisecond
)

// transition writes a status change with its outbox event in one
// transaction.
func (d *DynamoDB) transition(ctx context.Context, t connection.Transition) error {
	a := t.After
	id := fmt.Sprintf("%s/%s v%d", a.TenantID, a.AccountID, a.Version)
	ms, err := marshalAll(newConnItem(a), newEventItem(*t.Event))
	if err != nil {
		return fmt.Errorf("apply to %s: %w", id, err)
	}
	ci, ei := ms[0], ms[1]
	owner := map[string]ddbtypes.AttributeValue{":t": s(a.TenantID), ":a": s(a.AccountID)}
	connPut := &ddbtypes.Put{TableName: &d.table, Item: ci, ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")")}
	if t.Before != nil {
		cond, vals := snapshotCondition(*t.Before)
		connPut.ConditionExpression, connPut.ExpressionAttributeValues = aws.String(cond), vals
	}
	items := []ddbtypes.TransactWriteItem{
		{Put: connPut},
		{Put: &ddbtypes.Put{TableName: &d.table, Item: ei, ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")")}},
	}
	claimAt, releaseAt, guardAt := -1, -1, -1
	newClaim := ""
	if a.HoldsClaim() {
		newClaim = a.ClaimKey()
	}
	// A claim the connection already held (the version condition makes
	// Before the stored connection) is not written again.
	if b := t.Before; newClaim != "" && !(b != nil && b.HoldsClaim() && b.ClaimKey() == newClaim) {
		cl, err := marshal(newClaimItem(a))
		if err != nil {
			return fmt.Errorf("apply to %s: %w", id, err)
		}
		claimAt = len(items)
		items = append(items, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: &d.table, Item: cl,
			ConditionExpression:       aws.String("attribute_not_exists(" + AttrPK + ") OR (tenantId = :t AND accountId = :a)"),
			ExpressionAttributeValues: owner}})
	}
	// The version condition makes Before the stored connection, so its
	// claim is the one stored: release it when it is no longer held.
	if b := t.Before; b != nil && b.HoldsClaim() {
		if old := b.ClaimKey(); old != "" && old != newClaim {
			releaseAt = len(items)
			items = append(items, ddbtypes.TransactWriteItem{Delete: &ddbtypes.Delete{TableName: &d.table,
				Key:                       key(claimPK(old), skClaim),
				ConditionExpression:       aws.String("attribute_not_exists(" + AttrPK + ") OR (tenantId = :t AND accountId = :a)"),
				ExpressionAttributeValues: owner}})
		}
	}
	if g, ok := guardOf(t); ok {
		guardAt = len(items)
		items = append(items, d.guardItem(g))
	}
	for attempt := 1; ; attempt++ {
		_, err := d.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:      items,
			ClientRequestToken: aws.String(requestToken()), // makes the SDK's own retries idempotent
		})
		if err == nil {
			return nil
		}
		codes, _ := reasons(err)
		switch {
		case codes == nil:
			return fmt.Errorf("apply to %s: %w", id, err)
		case failedAt(codes, guardAt):
			return fmt.Errorf("apply check of %s with external-id version %d: %w", id, t.Check.ExternalIDVersion, ErrExternalIDRetired)
		case failedAt(codes, claimAt):
			return fmt.Errorf("claim role %s for %s/%s: %w", a.RoleARN, a.TenantID, a.AccountID, ErrRoleClaimed)
		case failedAt(codes, 0) || failedAt(codes, 1):
			return fmt.Errorf("put connection %s: %w", id, ErrConflict)
		case failedAt(codes, releaseAt):
			// The old claim belongs to someone else (it cannot, unless
			// the table was edited by hand): leave it, as Memory does.
			items = append(items[:releaseAt], items[releaseAt+1:]...)
			if guardAt > releaseAt {
				guardAt--
			}
			releaseAt = -1
			continue
		case strings.Contains(strings.Join(codes, ","), condCodeTxnConflict) && attempt < txnAttempts:
			if err := backoff.Wait(ctx, txnBackoff(attempt)); err != nil {
				return fmt.Errorf("apply to %s: %w", id, err)
			}
			continue
		case strings.Contains(strings.Join(codes, ","), condCodeTxnConflict):
			return fmt.Errorf("apply to %s: transaction still conflicting after %d attempts: %w", id, attempt, ErrContended)
		}
		return fmt.Errorf("apply to %s: cancelled %v: %w", id, codes, err)
	}
}
