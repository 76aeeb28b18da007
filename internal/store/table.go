package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Names of the table's key attributes, indexes and special attributes. They
// are exported so that template.yaml's table can be checked against
// TableDefinition.
const (
	// AttrPK and AttrSK are the table's partition and sort key (strings).
	AttrPK = "PK"
	AttrSK = "SK"
	// AttrKind tells item types apart; only outbox event items carry
	// KindEvent, which is what the stream filter of the publish function
	// matches on.
	AttrKind  = "kind"
	KindEvent = "event"
	// AttrTTL is the TTL attribute (epoch seconds), set on event, invite
	// and rate-counter items.
	AttrTTL = "expiresAt"

	// IndexByStatus lists connections by status (keys only).
	IndexByStatus = "byStatus"
	// AttrStatusPK is the status of a connection item, AttrStatusSK its
	// "<tenant>#<account>".
	AttrStatusPK = "connStatus"
	AttrStatusSK = "connKey"

	// IndexDue is the sparse, sharded index of live connections by the
	// time of their next check (all attributes projected).
	IndexDue = "due"
	// AttrDueShard is "DUE#<n>" with n = ShardOf(tenant, account), AttrDueAt
	// is the fixed-width UTC next-check time, "#", tenant, "#", account.
	// Both exist only on live connections with a next check, and on
	// tenants in a rotation's grace (graceShard, in graces.go).
	AttrDueShard = "dueShard"
	AttrDueAt    = "dueAt"

	// IndexTenants is the sparse index of tenant items (keys only), for
	// ListTenants: only tenant items carry AttrTenantsPK (always
	// TenantsPartition) and AttrTenantsSK (the tenant ID), so a listing reads
	// tenants and nothing else, in ID order.
	IndexTenants  = "tenants"
	AttrTenantsPK = "tenantList"
	AttrTenantsSK = "tenantKey"
	// TenantsPartition is the one value of AttrTenantsPK.
	TenantsPartition = "TENANTS"
)

// Item kinds other than KindEvent.
const (
	kindTenant     = "tenant"
	kindExternalID = "extid"
	kindInvite     = "invite"
	kindInviteRef  = "inviteref"
	kindRate       = "rate"
	kindConnection = "connection"
	kindClaim      = "claim"
)

// EventRetention is how long event items (the outbox and audit history)
// live before DynamoDB's TTL removes them.
const EventRetention = 400 * 24 * time.Hour

// InviteGrace keeps an invite this long after it expires, so a customer with
// an old link is told it expired rather than that it is unknown.
const InviteGrace = 30 * 24 * time.Hour

// TableDefinition is the table RoleCall needs: on-demand billing, string keys
// PK/SK, the byStatus, due and tenants indexes, and a stream of new and old images.
// TTL (AttrTTL) is not part of CreateTable; CreateTable enables it.
func TableDefinition(name string) *dynamodb.CreateTableInput {
	str := func(n string) ddbtypes.AttributeDefinition {
		return ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeTypeS}
	}
	keys := func(hash, rng string) []ddbtypes.KeySchemaElement {
		return []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: ddbtypes.KeyTypeRange},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			str(AttrPK), str(AttrSK), str(AttrStatusPK), str(AttrStatusSK), str(AttrDueShard), str(AttrDueAt),
			str(AttrTenantsPK), str(AttrTenantsSK),
		},
		KeySchema: keys(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{
			{
				IndexName: aws.String(IndexByStatus),
				KeySchema: keys(AttrStatusPK, AttrStatusSK),
				// Keys only: routine checks then never write to this
				// index; listings fetch the items with BatchGetItem.
				Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeKeysOnly},
			},
			{
				IndexName:  aws.String(IndexDue),
				KeySchema:  keys(AttrDueShard, AttrDueAt),
				Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
			},
			{
				IndexName: aws.String(IndexTenants),
				KeySchema: keys(AttrTenantsPK, AttrTenantsSK),
				// Keys only: the index never holds an external ID, and
				// tenant attributes added later need no index rebuild.
				Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeKeysOnly},
			},
		},
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages,
		},
	}
}

// TableAPI is what CreateTable needs of a DynamoDB client.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates the table as TableDefinition describes it (an existing
// table of that name is accepted as is), waits until it is ACTIVE and
// enables TTL on AttrTTL.
func CreateTable(ctx context.Context, client TableAPI, name string) error {
	_, err := client.CreateTable(ctx, TableDefinition(name))
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 5*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe ttl of table %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == AttrTTL &&
		(d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on table %s: %w", name, err)
	}
	return nil
}
