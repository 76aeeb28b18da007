package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// CreateTenant implements Store.
func (d *DynamoDB) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	taken, err := d.putNew(ctx, newTenantItem(t), newExternalIDItem(t))
	switch {
	case err == nil:
		return nil
	case taken == 0:
		return fmt.Errorf("create tenant %s: %w", t.ID, ErrTenantExists)
	case taken == 1:
		return fmt.Errorf("create tenant %s: %w", t.ID, ErrExternalIDTaken)
	}
	return fmt.Errorf("create tenant %s: %w", t.ID, err)
}

// GetTenant implements Store.
func (d *DynamoDB) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	var it tenantItem
	if err := d.get(ctx, key(tenantPK(id), skTenant), &it); err != nil {
		return tenant.Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return it.tenant(), nil
}

// RotateExternalID implements Store: one transaction puts to, conditioned
// on the stored tenant still being from (its version, its limit, and its
// rotation in grace or none), the new external ID, and the events.
func (d *DynamoDB) RotateExternalID(ctx context.Context, from, to tenant.Tenant) error {
	what := "rotate external id of " + to.ID
	evs, err := rotationEvents(from, to)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	vs := []any{newTenantItem(to), newExternalIDItem(to)}
	for _, ev := range evs {
		vs = append(vs, newEventItem(ev))
	}
	ms, err := marshalAll(vs...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// The whole item is put, so the condition includes the limit as read:
	// a limit set since then fails the rotation rather than being undone.
	// An item stored before tenants had a limit reads as the default. A
	// rotation in grace as read must still be: completed meanwhile, its
	// Completed event is written already, and to's would be a second.
	cond := "externalIdVersion = :prev AND maxConnections = :limit"
	if from.MaxConnections == tenant.DefaultMaxConnections {
		cond = "externalIdVersion = :prev AND (maxConnections = :limit OR attribute_not_exists(maxConnections))"
	}
	vals := map[string]ddbtypes.AttributeValue{":prev": n(from.ExternalIDVersion), ":limit": n(from.MaxConnections)}
	if from.InGrace() {
		cond += " AND previousExternalIdVersion = :pv AND attribute_exists(previousExternalId)"
		vals[":pv"] = n(from.PreviousExternalIDVersion)
	} else {
		cond += " AND attribute_not_exists(previousExternalId)"
	}
	items := []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: &d.table, Item: ms[0],
			ConditionExpression:                 aws.String(cond),
			ExpressionAttributeValues:           vals,
			ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld}},
		{Put: &ddbtypes.Put{TableName: &d.table, Item: ms[1], ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")")}},
	}
	for _, ei := range ms[2:] {
		items = append(items, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: &d.table, Item: ei}})
	}
	return d.transact(ctx, what, items, func(codes []string, rs []ddbtypes.CancellationReason) (error, bool) {
		switch {
		case failedAt(codes, 0) && len(rs[0].Item) == 0:
			return fmt.Errorf("%s: %w", what, ErrNotFound), true
		case failedAt(codes, 0):
			return fmt.Errorf("%s: %w", what, ErrConflict), true
		case failedAt(codes, 1):
			return fmt.Errorf("%s: %w", what, ErrExternalIDTaken), true
		}
		return nil, false
	})
}

// SetMaxConnections implements Store. DynamoDB rejects the update with
// TransactionConflictException while a transaction is in flight on the
// tenant item (a guarded check of one of its connections, a rotation, a
// completion); it is retried as transact retries a TransactionConflict,
// then ErrContended. Setting the limit again sets the same limit.
func (d *DynamoDB) SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error) {
	out, err := d.update(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &d.table,
		Key:                       key(tenantPK(id), skTenant),
		UpdateExpression:          aws.String("SET maxConnections = :limit"),
		ConditionExpression:       aws.String("attribute_exists(" + AttrPK + ")"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":limit": n(limit)},
		ReturnValues:              ddbtypes.ReturnValueAllNew,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return tenant.Tenant{}, fmt.Errorf("set connection limit of %s: %w", id, ErrNotFound)
	case err != nil:
		return tenant.Tenant{}, fmt.Errorf("set connection limit of %s: %w", id, err)
	}
	var it tenantItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return tenant.Tenant{}, fmt.Errorf("set connection limit of %s: decode tenant item: %w", id, err)
	}
	return it.tenant(), nil
}

// CompleteRotation implements Store: the previous external ID removed from
// the stored tenant (conditioned on the stored version and previous
// version, and for ALL_CURRENT on its GraceWrites as read; the rest of the
// item is left as stored, as Memory retires the stored tenant) and the
// Completed event, in one transaction.
func (d *DynamoDB) CompleteRotation(ctx context.Context, t tenant.Tenant, completion string, at time.Time) error {
	if !t.InGrace() {
		return fmt.Errorf("complete rotation of %s to v%d: %w", t.ID, t.ExternalIDVersion, ErrConflict)
	}
	ei, err := marshal(newEventItem(connection.RotationCompleted(t, completion, at)))
	if err != nil {
		return fmt.Errorf("complete rotation of %s: %w", t.ID, err)
	}
	cond := "externalIdVersion = :v AND previousExternalIdVersion = :pv AND attribute_exists(previousExternalId)"
	vals := map[string]ddbtypes.AttributeValue{":v": n(t.ExternalIDVersion), ":pv": n(t.PreviousExternalIDVersion)}
	if completion == connection.CompletionAllCurrent {
		if t.GraceWrites == 0 {
			cond += " AND attribute_not_exists(graceWrites)"
		} else {
			cond += " AND graceWrites = :gw"
			vals[":gw"] = n(t.GraceWrites)
		}
	}
	items := []ddbtypes.TransactWriteItem{
		{Update: &ddbtypes.Update{TableName: &d.table, Key: key(tenantPK(t.ID), skTenant),
			UpdateExpression:    aws.String("REMOVE previousExternalId, previousExternalIdVersion, graceEndsAt, " + AttrDueShard + ", " + AttrDueAt),
			ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals}},
		{Put: &ddbtypes.Put{TableName: &d.table, Item: ei, ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")")}},
	}
	what := fmt.Sprintf("complete rotation of %s to v%d", t.ID, t.ExternalIDVersion)
	return d.transact(ctx, what, items, func(codes []string, _ []ddbtypes.CancellationReason) (error, bool) {
		if failedAt(codes, 0) || failedAt(codes, 1) {
			return fmt.Errorf("%s: %w", what, ErrConflict), true
		}
		return nil, false
	})
}

// TenantEvents implements Store.
func (d *DynamoDB) TenantEvents(ctx context.Context, tenantID string) ([]connection.Event, error) {
	return d.events(ctx, tenantPK(tenantID), tenantEventPrefix)
}

// GetInvite implements Store.
func (d *DynamoDB) GetInvite(ctx context.Context, hash string) (tenant.Invite, error) {
	var it inviteItem
	if err := d.get(ctx, key(invitePK(hash), skInvite), &it); err != nil {
		return tenant.Invite{}, fmt.Errorf("get invite: %w", err)
	}
	return it.invite(), nil
}
