// Command publish is the publish Lambda: it puts the outbox events that the
// DynamoDB stream delivers on the EventBridge bus. It only wires
// configuration and adapters; the logic is in internal/publish.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/publish"
)

func main() {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	busName := env.String("EVENT_BUS_NAME")
	source := env.StringOr("EVENT_SOURCE", publish.DefaultSource)
	cfg, err := env.AWS(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	h := &publish.Handler{
		Publisher: &publish.Publisher{
			Bus:     &bus.EventBridge{Client: eventbridge.NewFromConfig(cfg)},
			Source:  source,
			BusName: busName,
			Log:     log,
		},
		Log: log,
	}
	lambda.Start(h.Handle)
}
