// Command register is the registration Lambda, subscribed to the
// registration SNS topic: it answers the CloudFormation custom-resource
// requests (Custom::RoleCallRegistration) of customers' stacks. It only
// wires configuration and adapters; the logic is in internal/register.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	table := env.String("TABLE_NAME")
	partnerAccount := env.String("PARTNER_ACCOUNT_ID")
	principal := env.String("TRUSTED_PRINCIPAL_ARN")
	wait := env.DurationOr("REGISTRATION_WAIT", register.DefaultWait)
	cfg, err := env.AWS(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	st := store.NewDynamoDB(dynamodb.NewFromConfig(cfg), table)
	svc := &onboarding.Service{
		Store:  st,
		Policy: connection.DefaultPolicy(),
		Rules:  rolearn.Rules{Partition: rolearn.PartitionOr(principal, "aws"), OwnAccount: partnerAccount},
	}
	// CloudFormation needs the topic in the stack's Region, so answers go
	// to this Region's response bucket only.
	urls := register.URLPolicy{Region: cfg.Region}
	h := &register.Handler{
		Registrar:  &onboarding.Registrations{Service: svc, Tokens: st},
		Onboarding: svc,
		Answers:    st,
		Sender:     &register.Responder{Policy: urls},
		Policy:     urls,
		Wait:       wait,
		Log:        log,
	}
	lambda.Start(h.HandleSNS)
}
