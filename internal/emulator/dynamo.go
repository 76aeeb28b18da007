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

	"github.com/rolecall/rolecall/internal/loopback"
	"github.com/rolecall/rolecall/internal/store"
)

// dynamoStore is the DynamoDB adapter with its stream as the change feed.
func (st *Stack) dynamoStore(ctx context.Context, awsCfg aws.Config) error {
	o := st.opts
	var (
		ddb     *dynamodb.Client
		streams *dynamodbstreams.Client
		kind    string
	)
	if o.DynamoDBEndpoint != "" {
		if o.TableName == "" {
			o.TableName = "rolecall"
		}
		// DynamoDB Local on this machine takes any credentials; an endpoint
		// elsewhere (a VPC endpoint, a shared test service) gets the
		// default credential chain's.
		var creds aws.CredentialsProvider = credentials.NewStaticCredentialsProvider("local", "local", "")
		if !loopbackEndpoint(o.DynamoDBEndpoint) {
			if awsCfg.Credentials == nil {
				cfg, err := awsconfig.LoadDefaultConfig(ctx)
				if err != nil {
					return fmt.Errorf("load the AWS configuration for %s: %w", o.DynamoDBEndpoint, err)
				}
				awsCfg.Credentials = cfg.Credentials
			}
			creds = awsCfg.Credentials
		}
		ddb = dynamodb.New(dynamodb.Options{Region: o.Region, BaseEndpoint: aws.String(o.DynamoDBEndpoint), Credentials: creds})
		streams = dynamodbstreams.New(dynamodbstreams.Options{Region: o.Region, BaseEndpoint: aws.String(o.DynamoDBEndpoint), Credentials: creds})
		if err := store.CreateTable(ctx, ddb, o.TableName); err != nil {
			return fmt.Errorf("create table %s at %s: %w", o.TableName, o.DynamoDBEndpoint, err)
		}
		kind = fmt.Sprintf("DynamoDB table %s at %s", o.TableName, o.DynamoDBEndpoint)
	} else {
		ddb = dynamodb.NewFromConfig(awsCfg)
		streams = dynamodbstreams.NewFromConfig(awsCfg)
		kind = "DynamoDB table " + o.TableName + " in " + awsCfg.Region
	}
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.TableName)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", o.TableName, err)
	}
	if err := checkStream(o.TableName, out.Table); err != nil {
		return err
	}
	st.stream = &streamFeed{api: streams, streamARN: aws.ToString(out.Table.LatestStreamArn), log: o.Log}
	if err := st.stream.start(ctx); err != nil {
		return err
	}
	st.Components.Store, st.StoreKind = store.NewDynamoDB(ddb, o.TableName), kind
	return nil
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
