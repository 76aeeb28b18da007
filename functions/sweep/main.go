// Command sweep is the sweep Lambda, invoked by EventBridge Scheduler: it
// sends the connections due for a check to the verify queue. It only wires
// configuration and adapters; the logic is in internal/sweep.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	queueURL := env.String("VERIFY_QUEUE_URL")
	cfg, err := env.AWS(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	s := &sweep.Sweeper{
		Store: store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table),
		Queue: &queue.SQS{Client: sqs.NewFromConfig(cfg), QueueURL: queueURL},
		Log:   log,
	}
	lambda.Start(s.Handle)
}
