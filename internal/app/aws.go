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
// components s needs, from the default credential chain: the last step of
// every function's start.
func NewAWS(ctx context.Context, env *config.Env, s Settings, log *slog.Logger) (Components, error) {
	cfg, err := env.AWS(ctx)
	if err != nil {
		return Components{}, err
	}
	return s.AWSComponents(cfg, log)
}

// AWSComponents builds every component r names from cfg: the DynamoDB
// store (which also holds the registrations), the SQS queues, the
// EventBridge bus and, with an access role, the STS port of the
// deployment's Region and of r.STSRegions, chained through one cached
// session of the access role (customer roles trust it only). The
// functions build only what they use (each Settings' AWSComponents), so
// that a function's binary links only the SDK clients it calls.
func AWSComponents(cfg aws.Config, r Resources, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withEventBridge(cfg, &c)
	withDynamoDB(cfg, r, &c)
	withSQS(cfg, r, &c)
	if err := withAccessRoleSTS(cfg, r, log, &c); err != nil {
		return Components{}, err
	}
	return c, nil
}

// AWSComponents are the API function's: the store and the verify queue.
func (s API) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withDynamoDB(cfg, s.Resources, &c)
	withSQS(cfg, s.Resources, &c)
	return c, nil
}

// AWSComponents are the publish function's: the EventBridge bus.
func (s Publish) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withEventBridge(cfg, &c)
	return c, nil
}

// AWSComponents are the registration function's: the store.
func (s Register) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withDynamoDB(cfg, s.Resources, &c)
	return c, nil
}

// AWSComponents are the sweep function's: the store and the verify queue.
func (s Sweep) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withDynamoDB(cfg, s.Resources, &c)
	withSQS(cfg, s.Resources, &c)
	return c, nil
}

// AWSComponents are the verify function's: the store, both queues and the
// STS port through the access role.
func (s Verify) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	c := awsBase(cfg, log)
	withDynamoDB(cfg, s.Resources, &c)
	withSQS(cfg, s.Resources, &c)
	if err := withAccessRoleSTS(cfg, s.Resources, log, &c); err != nil {
		return Components{}, err
	}
	return c, nil
}

func awsBase(cfg aws.Config, log *slog.Logger) Components {
	return Components{Region: cfg.Region, Log: log}
}

func withEventBridge(cfg aws.Config, c *Components) {
	c.Bus = &bus.EventBridge{Client: eventbridge.NewFromConfig(cfg)}
}

func withDynamoDB(cfg aws.Config, r Resources, c *Components) {
	if r.TableName != "" {
		ddb := store.NewDynamoDB(dynamodb.NewFromConfig(cfg), r.TableName)
		c.Store, c.Registrations = ddb, ddb
	}
}

func withSQS(cfg aws.Config, r Resources, c *Components) {
	if r.QueueURL == "" && r.PriorityQueueURL == "" {
		return
	}
	client := sqs.NewFromConfig(cfg)
	if r.QueueURL != "" {
		c.Queue = &queue.SQS{Client: client, QueueURL: r.QueueURL}
	}
	if r.PriorityQueueURL != "" {
		c.PriorityQueue = &queue.SQS{Client: client, QueueURL: r.PriorityQueueURL}
	}
}

func withAccessRoleSTS(cfg aws.Config, r Resources, log *slog.Logger, c *Components) error {
	if r.AccessRoleARN == "" {
		return nil
	}
	regional, err := stsclient.NewRegional(access.ThroughAccessRole(cfg, r.AccessRoleARN, VerifierSession), r.STSRegions, stsclient.Options{IdleConns: r.STSIdleConns, Log: log})
	if err != nil {
		return err
	}
	c.STS = regional
	return nil
}

// VerifierSession is the session name of the checker's access-role
// session, visible in the partner's CloudTrail.
const VerifierSession = "rolecall-verifier"
