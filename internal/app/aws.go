package app

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsclient"
)

// NewAWS returns the problems env found, if any, and otherwise the AWS
// components of r, from the default credential chain: the last step of
// every function's start.
func NewAWS(ctx context.Context, env *config.Env, r Resources, log *slog.Logger) (Components, error) {
	cfg, err := env.AWS(ctx)
	if err != nil {
		return Components{}, err
	}
	return AWSComponents(cfg, r, log)
}

// AWSComponents builds the components of r from cfg: the DynamoDB store
// (which also holds the registrations), the SQS queues, the EventBridge
// bus and, with an access role, the STS port of the deployment's Region
// and of r.STSRegions, chained through one cached session of the access
// role (customer roles trust it only).
func AWSComponents(cfg aws.Config, r Resources, log *slog.Logger) (Components, error) {
	c := Components{Region: cfg.Region, Log: log, Bus: &bus.EventBridge{Client: eventbridge.NewFromConfig(cfg)}}
	if r.TableName != "" {
		ddb := store.NewDynamoDB(dynamodb.NewFromConfig(cfg), r.TableName)
		c.Store, c.Registrations = ddb, ddb
	}
	if r.QueueURL != "" || r.PriorityQueueURL != "" {
		client := sqs.NewFromConfig(cfg)
		if r.QueueURL != "" {
			c.Queue = &queue.SQS{Client: client, QueueURL: r.QueueURL}
		}
		if r.PriorityQueueURL != "" {
			c.PriorityQueue = &queue.SQS{Client: client, QueueURL: r.PriorityQueueURL}
		}
	}
	if r.AccessRoleARN != "" {
		regional, err := stsclient.NewRegional(access.ThroughAccessRole(cfg, r.AccessRoleARN, VerifierSession), r.STSRegions, stsclient.Options{IdleConns: r.STSIdleConns, Log: log})
		if err != nil {
			return Components{}, err
		}
		c.STS = regional
	}
	return c, nil
}

// VerifierSession is the session name of the checker's access-role
// session, visible in the partner's CloudTrail.
const VerifierSession = "rolecall-verifier"
