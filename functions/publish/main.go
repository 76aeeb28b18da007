// Command publish is the publish Lambda: it puts the outbox events that the
// DynamoDB stream delivers on the EventBridge bus. It only wires:
// app.ReadPublish reads its settings and app.NewPublish builds the
// handler (internal/publish).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/rolecall/rolecall/internal/app"
)

func main() {
	h := app.Lambda(app.ReadPublish, app.NewPublish)
	lambda.Start(h.Handle)
}
