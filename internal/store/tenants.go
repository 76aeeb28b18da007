package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/tenant"
)

// tenantCursorPrefix starts Memory's tenant cursors, so that a cursor of a
// connection listing is refused.
const tenantCursorPrefix = "N\x00"

// ListTenants implements Store.
func (m *Memory) ListTenants(ctx context.Context, cursor string, limit int) (TenantPage, error) {
	m.mu.Lock()
	all := make([]tenant.Tenant, 0, len(m.tenants))
	for _, t := range m.tenants {
		all = append(all, withDefaultLimit(t))
	}
	m.mu.Unlock()
	items, next, err := memoryPage(cursor, tenantCursorPrefix, limit, all, func(t tenant.Tenant) string { return t.ID })
	if err != nil {
		return TenantPage{}, fmt.Errorf("list tenants: %w", err)
	}
	return TenantPage{Items: items, Cursor: next}, nil
}

// ListTenants implements Store. It queries the sparse, keys-only tenants
// index (one partition holding one small entry per tenant and nothing else)
// and reads the tenant items with consistent BatchGetItem. A Scan filtered
// on the item kind would read every connection and event item of the table
// to find the few tenant items; the index costs one write per tenant
// creation (its keys never change afterwards) and reads only what is listed.
func (d *DynamoDB) ListTenants(ctx context.Context, cursor string, limit int) (TenantPage, error) {
	keys, next, err := d.query(ctx, &dynamodb.QueryInput{
		TableName:                 &d.table,
		IndexName:                 aws.String(IndexTenants),
		KeyConditionExpression:    aws.String(AttrTenantsPK + " = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s(TenantsPartition)},
	}, []string{AttrPK, AttrSK, AttrTenantsPK, AttrTenantsSK}, cursor, func(k map[string]string) bool {
		return k[AttrTenantsPK] == TenantsPartition && k[AttrSK] == skTenant && k[AttrPK] == tenantPK(k[AttrTenantsSK])
	}, limit)
	if err != nil {
		return TenantPage{}, fmt.Errorf("list tenants: %w", err)
	}
	items, err := d.batchGet(ctx, keys)
	if err != nil {
		return TenantPage{}, fmt.Errorf("list tenants: %w", err)
	}
	ts := make([]tenant.Tenant, 0, len(items))
	for _, item := range items {
		var it tenantItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return TenantPage{}, fmt.Errorf("list tenants: decode tenant item: %w", err)
		}
		ts = append(ts, it.tenant())
	}
	return TenantPage{Items: ts, Cursor: next}, nil
}
