// Command verify is the verify Lambda: it checks the roles of the jobs on
// the verify queue and records the outcomes. It only wires configuration
// and adapters; the logic is in internal/verify and internal/check.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/verify"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	policy := connection.DefaultPolicy()
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	queueURL := env.String("VERIFY_QUEUE_URL")
	accessRole := env.String("ACCESS_ROLE_ARN")
	policy.VerifiedInterval = env.DurationOr("CHECK_INTERVAL", policy.VerifiedInterval)
	policy.FailedIntervalMax = env.DurationOr("FAILED_CHECK_MAX_INTERVAL", policy.FailedIntervalMax)
	policy.LostIntervalMax = env.DurationOr("ACCESS_LOST_CHECK_MAX_INTERVAL", policy.LostIntervalMax)
	policy.AbandonAfter = time.Duration(env.IntOr("ABANDON_FAILED_AFTER_DAYS", int(policy.AbandonAfter/(24*time.Hour)))) * 24 * time.Hour
	cfg, err := env.AWS(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	// Customer roles trust the partner access role only: STS calls chain
	// through one cached session of it.
	stsCfg := access.ThroughAccessRole(cfg, accessRole, "rolecall-verifier")
	q := &queue.SQS{Client: sqs.NewFromConfig(cfg), QueueURL: queueURL}
	w := &verify.Worker{
		Store:      store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table),
		Checker:    &check.Checker{STS: &check.STS{Client: sts.NewFromConfig(stsCfg)}, Log: log},
		Policy:     policy,
		Visibility: q,
		Log:        log,
	}
	lambda.Start(w.Handle)
}
