package app

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rolecall/rolecall/internal/store"
)

// Table is a DynamoDB table: the store the handlers use and the client it
// runs on. The Lambdas' DynamoDB part, serve and the bench all build it
// here; serve also creates DynamoDB Local's table and checks the table's
// stream with the client. (serve reads the stream with a client of the
// same configuration built in serve, not here, so that the Lambdas, which
// import this package, do not link the DynamoDB Streams SDK: Lambda's
// event source mapping reads the stream for them.)
type Table struct {
	Store  *store.DynamoDB
	Client *dynamodb.Client
}

// DynamoDBTable is the table name over a client of cfg.
func DynamoDBTable(cfg aws.Config, name string) Table {
	client := dynamodb.NewFromConfig(cfg)
	return Table{Store: store.NewDynamoDB(client, name), Client: client}
}
