package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Invites, limits and rate counters of the DynamoDB adapter. Items beyond
// those listed on DynamoDB:
//
//	invite ref   TENANT#<tenantId>   INVITE#<inviteId>      kind=inviteref: the invite item's fields, for
//	                                                        ListInvites and RevokeInvite; same TTL
//	rate counter RATE#<key>#<window> RATE                   kind=rate: hits; TTL expiresAt
//
// Writes and reads:
//   - PutInvite: the invite item and its ref in one transaction, both
//     conditioned on not existing.
//   - RevokeInvite: a consistent GetItem of the ref (ErrNotFound), then
//     one transaction setting revoked on both (each conditioned on
//     existing; an invite item already removed by TTL is skipped).
//   - CountLive: a consistent Query of the tenant's connection items with
//     Select=COUNT and a filter on status. It is not an exact counter
//     updated with each transition: two submissions racing past the check
//     can both be accepted, so a tenant can exceed its limit by the
//     submissions in flight at once, which the per-invite rate limit
//     bounds. It reads every connection item of the tenant (about 1 KB
//     each: 10,000 connections ≈ 1,250 read units, paged by 1 MB), which
//     is why it runs only for submissions that would add a connection.
//   - Hit: one UpdateItem adding 1 to hits, conditioned on hits < limit
//     (or absent); a failed condition is "limit reached".

// PutInvite implements Store.
func (d *DynamoDB) PutInvite(ctx context.Context, inv tenant.Invite) error {
	if tenant.ValidateInviteID(inv.ID) != nil {
		return fmt.Errorf("put invite %q for %s: %w", inv.ID, inv.TenantID, ErrInvalidInvite)
	}
	taken, err := d.putNew(ctx, newInviteItem(inv), newInviteRefItem(inv))
	switch {
	case err == nil:
		return nil
	case taken >= 0:
		return fmt.Errorf("put invite %s for %s: %w", inv.ID, inv.TenantID, ErrInviteExists)
	}
	return fmt.Errorf("put invite %s for %s: %w", inv.ID, inv.TenantID, err)
}

// ListInvites implements Store.
func (d *DynamoDB) ListInvites(ctx context.Context, tenantID, cursor string, limit int) (InvitePage, error) {
	items, next, err := d.queryPrefix(ctx, tenantPK(tenantID), invitePrefix, cursor, limit)
	if err != nil {
		return InvitePage{}, fmt.Errorf("list invites of %s: %w", tenantID, err)
	}
	p := InvitePage{Items: make([]tenant.Invite, 0, len(items)), Cursor: next}
	for _, item := range items {
		var it inviteItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return InvitePage{}, fmt.Errorf("list invites of %s: decode: %w", tenantID, err)
		}
		p.Items = append(p.Items, it.invite())
	}
	return p, nil
}

// RevokeInvite implements Store.
func (d *DynamoDB) RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error) {
	var ref inviteItem
	if err := d.get(ctx, key(tenantPK(tenantID), inviteSK(inviteID)), &ref); err != nil {
		return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, err)
	}
	inv := ref.invite()
	inv.Revoked = true
	update := func(k map[string]ddbtypes.AttributeValue, cond string) *ddbtypes.Update {
		return &ddbtypes.Update{TableName: &d.table, Key: k,
			UpdateExpression:          aws.String("SET revoked = :r"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":r": &ddbtypes.AttributeValueMemberBOOL{Value: true}, ":t": s(tenantID)},
		}
	}
	items := []ddbtypes.TransactWriteItem{
		{Update: update(key(tenantPK(tenantID), inviteSK(inviteID)), "attribute_exists(PK) AND tenantId = :t")},
		{Update: update(key(invitePK(inv.Hash), skInvite), "attribute_exists(PK) AND tenantId = :t")},
	}
	for attempt := 1; ; attempt++ {
		_, err := d.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		codes, _ := reasons(err)
		switch {
		case err == nil:
			return inv, nil
		case failedAt(codes, 0):
			return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, ErrNotFound)
		case failedAt(codes, 1) && len(items) == 2:
			// The invite item expired (TTL) before its ref: the code
			// is refused anyway; mark the ref.
			items = items[:1]
			continue
		case strings.Contains(strings.Join(codes, ","), condCodeTxnConflict) && attempt < txnAttempts:
			if err := backoff.Wait(ctx, txnBackoff(attempt)); err != nil {
				return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, err)
			}
			continue
		}
		return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, err)
	}
}

// CountLive implements Store.
func (d *DynamoDB) CountLive(ctx context.Context, tenantID string) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:                &d.table,
		KeyConditionExpression:   aws.String("PK = :pk AND begins_with(SK, :sk)"),
		FilterExpression:         aws.String("#s <> :d"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(tenantPK(tenantID)), ":sk": s(connPrefix), ":d": s(string(connection.Disconnected)),
		},
		Select:         ddbtypes.SelectCount,
		ConsistentRead: aws.Bool(true),
	}
	n := 0
	for {
		out, err := d.client.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count live connections of %s: %w", tenantID, err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Hit implements Store.
func (d *DynamoDB) Hit(ctx context.Context, key string, window time.Time, limit int, expires time.Time) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	_, err := d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &d.table,
		Key:                      map[string]ddbtypes.AttributeValue{AttrPK: s(ratePK(key, window)), AttrSK: s(skRate)},
		UpdateExpression:         aws.String("SET #h = if_not_exists(#h, :zero) + :one, #k = :k, #x = :x"),
		ConditionExpression:      aws.String("attribute_not_exists(#h) OR #h < :limit"),
		ExpressionAttributeNames: map[string]string{"#h": "hits", "#k": AttrKind, "#x": AttrTTL},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":zero": n(0), ":one": n(1), ":limit": n(limit), ":k": s(kindRate),
			":x": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
		},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("count a hit of %s: %w", key, err)
	}
	return true, nil
}
