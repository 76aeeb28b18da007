package emulator

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/loopback"
	"github.com/rolecall/rolecall/internal/store"
)

// dynamoStore is the DynamoDB adapter with its stream as the change feed:
// the store app builds (app.DynamoDBTable) over the endpoint's or awsCfg's
// configuration, and the stream read with a client of the same one.
func (st *Stack) dynamoStore(ctx context.Context, awsCfg aws.Config) error {
	o := st.opts
	cfg, kind := awsCfg, "DynamoDB table "+o.TableName+" in "+awsCfg.Region
	if o.DynamoDBEndpoint != "" {
		if o.TableName == "" {
			o.TableName = "rolecall"
		}
		creds, err := endpointCredentials(ctx, o.DynamoDBEndpoint, awsCfg)
		if err != nil {
			return err
		}
		cfg = aws.Config{Region: o.Region, BaseEndpoint: aws.String(o.DynamoDBEndpoint), Credentials: creds}
		kind = fmt.Sprintf("DynamoDB table %s at %s", o.TableName, o.DynamoDBEndpoint)
	}
	table := app.DynamoDBTable(cfg, o.TableName)
	if o.DynamoDBEndpoint != "" {
		if err := store.CreateTable(ctx, table.Client, o.TableName); err != nil {
			return fmt.Errorf("create table %s at %s: %w", o.TableName, o.DynamoDBEndpoint, err)
		}
	}
	out, err := table.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.TableName)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", o.TableName, err)
	}
	if err := checkStream(o.TableName, out.Table); err != nil {
		return err
	}
	st.stream = &streamFeed{api: dynamodbstreams.NewFromConfig(cfg), streamARN: aws.ToString(out.Table.LatestStreamArn), log: o.Log}
	if err := st.stream.start(ctx); err != nil {
		return err
	}
	st.Components.Store, st.StoreKind = table.Store, kind
	return nil
}

// endpointCredentials are the credentials of a DynamoDB endpoint:
// DynamoDB Local on this machine takes any; an endpoint elsewhere (a VPC
// endpoint, a shared test service) gets the default credential chain's.
func endpointCredentials(ctx context.Context, endpoint string, awsCfg aws.Config) (aws.CredentialsProvider, error) {
	if loopbackEndpoint(endpoint) {
		return credentials.NewStaticCredentialsProvider("local", "local", ""), nil
	}
	if awsCfg.Credentials != nil {
		return awsCfg.Credentials, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration for %s: %w", endpoint, err)
	}
	return cfg.Credentials, nil
}

// checkStream refuses a table without the stream RoleCall publishes from:
// with another view type the publish handler finds no new images to read
// and serve would start, then silently publish nothing.
func checkStream(name string, t *ddbtypes.TableDescription) error {
	if t == nil || t.LatestStreamArn == nil || t.StreamSpecification == nil || !aws.ToBool(t.StreamSpecification.StreamEnabled) {
		return fmt.Errorf("table %s has no stream; RoleCall needs its NEW_AND_OLD_IMAGES stream (template.yaml creates it)", name)
	}
	if v := t.StreamSpecification.StreamViewType; v != ddbtypes.StreamViewTypeNewAndOldImages {
		return fmt.Errorf("table %s streams %s; RoleCall needs NEW_AND_OLD_IMAGES (template.yaml's StreamSpecification)", name, v)
	}
	return nil
}

// loopbackEndpoint reports whether an endpoint URL names this machine.
func loopbackEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && loopback.Host(u.Hostname())
}
