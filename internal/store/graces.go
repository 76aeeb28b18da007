package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// graceShard is the partition of the due index that holds the tenants in
// a rotation's grace (AttrDueShard on their tenant item), by the end of
// the grace (AttrDueAt: fixed-width UTC time, "#", tenant): the sweep
// completes their rotations from it, even for a tenant no live connection
// leads it to. The connections' shards are DUE#<n>; this one sorts apart.
const graceShard = duePrefix + "GRACE"

// graceOrder is a tenant item's AttrDueAt during a grace.
func graceOrder(end time.Time, tenantID string) string { return dueTime(end) + "#" + tenantID }

// GracesEnded implements Store. The index is eventually consistent: a
// rotation completed a moment ago may still be listed (completing it again
// conflicts, and changes nothing).
func (d *DynamoDB) GracesEnded(ctx context.Context, until time.Time, limit int) ([]string, error) {
	out, err := d.client.Query(ctx, &dynamodb.QueryInput{
		TableName:              &d.table,
		IndexName:              aws.String(IndexDue),
		KeyConditionExpression: aws.String(AttrDueShard + " = :s AND " + AttrDueAt + " < :u"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":s": s(graceShard), ":u": s(dueTime(until.Add(time.Nanosecond))),
		},
		ProjectionExpression: aws.String(AttrPK),
		Limit:                aws.Int32(int32(clampLimit(limit))),
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants whose grace ended: %w", err)
	}
	ids := make([]string, 0, len(out.Items))
	for _, item := range out.Items {
		if pk, ok := item[AttrPK].(*ddbtypes.AttributeValueMemberS); ok {
			if id, ok := strings.CutPrefix(pk.Value, tenantPK("")); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// GracesEnded implements Store.
func (m *Memory) GracesEnded(ctx context.Context, until time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, t := range m.tenants {
		if t.InGrace() && !t.GraceEndsAt.After(until) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(m.tenants[a].GraceEndsAt.Compare(m.tenants[b].GraceEndsAt), strings.Compare(a, b))
	})
	return ids[:min(len(ids), clampLimit(limit))], nil
}
