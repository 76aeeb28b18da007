// Command api is the API Lambda behind API Gateway's HTTP API (payload
// 2.0): the customer routes, the operations routes and the customer web
// form, served by internal/httpapi through aws-lambda-go-api-proxy's
// httpadapter. It only wires configuration and adapters.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	queueURL := env.String("VERIFY_QUEUE_URL")
	partnerAccount := env.String("PARTNER_ACCOUNT_ID")
	principal := env.String("TRUSTED_PRINCIPAL_ARN")
	templateURL := env.StringOr("CUSTOMER_ROLE_TEMPLATE_URL", "")
	rolePrefix := env.StringOr("CUSTOMER_ROLE_NAME_PREFIX", "")
	registrationTopic := env.StringOr("REGISTRATION_TOPIC_ARN", "")
	source := env.StringOr("EVENT_SOURCE", "rolecall")
	partnerName := env.StringOr("PARTNER_NAME", "")
	submissionsPerMinute := env.IntOr("SUBMISSIONS_PER_INVITE_PER_MINUTE", onboarding.DefaultSubmissionsPerMinute)
	cfg, err := env.AWS(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	st := store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table)
	svc := &onboarding.Service{
		Store:  st,
		Queue:  &queue.SQS{Client: sqs.NewFromConfig(cfg), QueueURL: queueURL},
		Policy: connection.DefaultPolicy(),
		Rules:  rolearn.Rules{Partition: rolearn.PartitionOr(principal, "aws"), OwnAccount: partnerAccount},

		SubmissionsPerMinute: submissionsPerMinute,
	}
	h, err := httpapi.New(httpapi.Config{
		Service:             svc,
		Ops:                 httpapi.APIGatewayIAM{Accounts: []string{partnerAccount}},
		PartnerName:         partnerName,
		PartnerAccountID:    partnerAccount,
		PropagationWindow:   svc.Policy.PropagationWindow,
		TrustedPrincipalARN: principal,
		EventSource:         source,
		Registrations:       &onboarding.Registrations{Service: svc, Tokens: st},
		Setup:               httpapi.RoleSetup{TrustedPrincipalARN: principal, TemplateURL: templateURL, Region: cfg.Region, RoleNamePrefix: rolePrefix, RegistrationTopicARN: registrationTopic},
		Log:                 log,
	})
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}
