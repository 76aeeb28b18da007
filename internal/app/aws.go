package app

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/stsclient"
)

// newAWS returns the problems env found, if any, and otherwise the AWS
// components s needs, from the default credential chain: the last step of
// every function's start.
func newAWS(ctx context.Context, env *config.Env, s Settings, log *slog.Logger) (Components, error) {
	cfg, err := env.AWS(ctx)
	if err != nil {
		return Components{}, err
	}
	return s.AWSComponents(cfg, log)
}

// AWSComponents returns the components of the Region of cfg that parts
// build from the resources r names, in order; the first part that fails
// fails the build. Each function's Settings name their parts
// (API.AWSComponents and the others), so that every AWS client a Lambda
// runs on is built here; `rolecall serve` names the part it needs for each
// deployed queue, bus and access role it is given.
func AWSComponents(cfg aws.Config, r Resources, log *slog.Logger, parts ...Part) (Components, error) {
	c := Components{Region: cfg.Region, Log: log}
	for _, add := range parts {
		if err := add(cfg, r, &c); err != nil {
			return Components{}, err
		}
	}
	return c, nil
}

// AWSComponents are the API function's: the store and the verify queue.
func (s API) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	return AWSComponents(cfg, s.Resources, log, DynamoDB, SQS)
}

// AWSComponents are the publish function's: the EventBridge bus.
func (s Publish) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	return AWSComponents(cfg, s.Resources, log, EventBridge)
}

// AWSComponents are the registration function's: the store.
func (s Register) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	return AWSComponents(cfg, s.Resources, log, DynamoDB)
}

// AWSComponents are the sweep function's: the store and the verify queue.
func (s Sweep) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	return AWSComponents(cfg, s.Resources, log, DynamoDB, SQS)
}

// AWSComponents are the verify function's: the store, both queues and the
// STS port through the access role.
func (s Verify) AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error) {
	return AWSComponents(cfg, s.Resources, log, DynamoDB, SQS, AccessRoleSTS)
}

// A Part adds to c the components of one AWS service that r names (c.Log
// is the logger they log to).
//
// Callers name their parts as function values, so that a binary links the
// SDK clients of those parts only (a table of every part, chosen from at
// run time, would link every client into every function).
type Part func(cfg aws.Config, r Resources, c *Components) error

// EventBridge adds the EventBridge bus (Bus): the bus it puts events on
// is the publisher's setting, so no resource names it.
func EventBridge(cfg aws.Config, _ Resources, c *Components) error {
	c.Bus = &bus.EventBridge{Client: eventbridge.NewFromConfig(cfg)}
	return nil
}

// DynamoDB adds the store of r.TableName, which also holds the
// registrations (Store, Registrations); nothing without a table.
func DynamoDB(cfg aws.Config, r Resources, c *Components) error {
	if r.TableName != "" {
		ddb := DynamoDBTable(cfg, r.TableName).Store
		c.Store, c.Registrations = ddb, ddb
	}
	return nil
}

// SQS adds the queues of r.QueueURL (Queue) and r.PriorityQueueURL
// (PriorityQueue), over one client; nothing for a URL not set.
func SQS(cfg aws.Config, r Resources, c *Components) error {
	if r.QueueURL == "" && r.PriorityQueueURL == "" {
		return nil
	}
	client := sqs.NewFromConfig(cfg)
	if r.QueueURL != "" {
		c.Queue = &queue.SQS{Client: client, QueueURL: r.QueueURL}
	}
	if r.PriorityQueueURL != "" {
		c.PriorityQueue = &queue.SQS{Client: client, QueueURL: r.PriorityQueueURL}
	}
	return nil
}

// AccessRoleSTS adds the STS port of the deployment's Region and of
// r.STSRegions, chained through one cached session of r.AccessRoleARN
// (customer roles trust the access role only): STS. Nothing without an
// access role.
func AccessRoleSTS(cfg aws.Config, r Resources, c *Components) error {
	if r.AccessRoleARN == "" {
		return nil
	}
	return regionalSTS(access.ThroughAccessRole(cfg, r.AccessRoleARN, VerifierSession), r, c)
}

// CallerSTS adds the STS port of the deployment's Region and of
// r.STSRegions signed with cfg's own credentials (STS): for a checker
// that is itself the principal customer roles trust, such as `rolecall
// serve --aws` without an access role. The Lambdas chain through the
// access role instead (AccessRoleSTS).
func CallerSTS(cfg aws.Config, r Resources, c *Components) error {
	return regionalSTS(cfg, r, c)
}

func regionalSTS(cfg aws.Config, r Resources, c *Components) error {
	regional, err := stsclient.NewRegional(cfg, r.STSRegions, stsclient.Options{IdleConns: r.STSIdleConns, Log: c.Log})
	if err != nil {
		return err
	}
	c.STS = regional
	return nil
}

// VerifierSession is the session name of the checker's access-role
// session, visible in the partner's CloudTrail.
const VerifierSession = "rolecall-verifier"
