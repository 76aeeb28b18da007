// Command verify is the verify Lambda: it checks the roles of the jobs on
// the verify queues (routine re-checks and priority checks) and records the
// outcomes, paced to its share of the STS budget. It only wires
// configuration and adapters; the logic is in internal/verify,
// internal/probe and internal/stsbudget.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/verify"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	policy := connection.DefaultPolicy()
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	queueURL := env.String("VERIFY_QUEUE_URL")
	accessRole := env.String("ACCESS_ROLE_ARN")
	queueARN := env.StringOr("VERIFY_QUEUE_ARN", "")
	priorityURL := env.StringOr("PRIORITY_QUEUE_URL", "")
	priorityARN := env.StringOr("PRIORITY_QUEUE_ARN", "")
	policy.VerifiedInterval = env.DurationOr("CHECK_INTERVAL", policy.VerifiedInterval)
	policy.FailedIntervalMax = env.DurationOr("FAILED_CHECK_MAX_INTERVAL", policy.FailedIntervalMax)
	policy.LostIntervalMax = env.DurationOr("ACCESS_LOST_CHECK_MAX_INTERVAL", policy.LostIntervalMax)
	policy.AbandonAfter = time.Duration(env.IntOr("ABANDON_FAILED_AFTER_DAYS", int(policy.AbandonAfter/(24*time.Hour)))) * 24 * time.Hour
	extraRegions, regionsErr := stsbudget.ParseRegions(env.StringOr("STS_REGIONS", ""))
	plan := stsbudget.Plan{
		RequestsPerSecond:   env.IntOr("STS_REQUESTS_PER_SECOND", stsbudget.DefaultRequestsPerSecond),
		PriorityPercent:     env.IntOr("STS_PRIORITY_PERCENT", stsbudget.DefaultPriorityPercent),
		RoutineConcurrency:  env.IntOr("VERIFY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency),
		PriorityConcurrency: env.IntOr("PRIORITY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency),
	}
	cfg, err := env.AWS(context.Background())
	var checker *probe.Checker
	var routineBudget, priorityBudget *stsbudget.Regions
	if err == nil {
		err = regionsErr
	}
	if err == nil {
		plan.Regions = stsbudget.RegionList(cfg.Region, extraRegions)
		err = plan.Validate()
	}
	if err == nil {
		// Customer roles trust the partner access role only: STS calls
		// chain through one cached session of it.
		checker, err = stsclient.NewChecker(access.ThroughAccessRole(cfg, accessRole, "rolecall-verifier"), extraRegions, stsclient.Options{Log: log})
	}
	if err == nil {
		routineBudget, err = plan.RoutineBudget(stsbudget.RealClock{})
	}
	if err == nil {
		priorityBudget, err = plan.PriorityBudget(stsbudget.RealClock{})
	}
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	st := store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table)
	sqsClient := sqs.NewFromConfig(cfg)
	routine := &verify.Worker{Store: st, Checker: checker, Policy: policy, Log: log, Budget: routineBudget, Concurrency: stsbudget.InFlight,
		Visibility: &queue.SQS{Client: sqsClient, QueueURL: queueURL}}
	h := verify.ByQueue{Default: routine, Workers: map[string]*verify.Worker{queueARN: routine}}
	if priorityURL != "" {
		h.Workers[priorityARN] = &verify.Worker{Store: st, Checker: checker, Policy: policy, Log: log, Budget: priorityBudget,
			Visibility: &queue.SQS{Client: sqsClient, QueueURL: priorityURL}}
	}
	lambda.Start(h.Handle)
}
