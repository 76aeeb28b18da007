// Command sweep is the sweep Lambda, invoked by EventBridge Scheduler: it
// sends the connections due for a check to the verify queue, oldest first
// and no more than the STS budget serves until the next sweep. It only
// wires configuration and adapters; the logic is in internal/sweep.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/sweep"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	queueURL := env.String("VERIFY_QUEUE_URL")
	interval := env.DurationOr("CHECK_INTERVAL", connection.DefaultPolicy().VerifiedInterval)
	every := env.DurationOr("SWEEP_EVERY", sweep.DefaultEvery)
	namespace := env.StringOr("METRICS_NAMESPACE", "RoleCall")
	extraRegions, regionsErr := stsbudget.ParseRegions(env.StringOr("STS_REGIONS", ""))
	plan := stsbudget.Plan{
		RequestsPerSecond:   env.IntOr("STS_REQUESTS_PER_SECOND", stsbudget.DefaultRequestsPerSecond),
		PriorityPercent:     env.IntOr("STS_PRIORITY_PERCENT", stsbudget.DefaultPriorityPercent),
		RoutineConcurrency:  env.IntOr("VERIFY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency),
		PriorityConcurrency: env.IntOr("PRIORITY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency),
	}
	cfg, err := env.AWS(context.Background())
	if err == nil {
		err = regionsErr
	}
	if err == nil {
		// Each Region's quota serves the budget: the sweep paces to all.
		plan.Regions = stsbudget.RegionList(cfg.Region, extraRegions)
		err = plan.Validate()
	}
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	s := &sweep.Sweeper{
		Store:            store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table),
		Queue:            &queue.SQS{Client: sqs.NewFromConfig(cfg), QueueURL: queueURL},
		ChecksPerSecond:  plan.RoutineChecksPerSecond(),
		Every:            every,
		Interval:         interval,
		MetricsNamespace: namespace,
		Log:              log,
	}
	lambda.Start(s.Handle)
}
