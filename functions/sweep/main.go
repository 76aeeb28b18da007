// Command sweep is the sweep Lambda, invoked by EventBridge Scheduler: it
// sends the connections due for a check to the verify queue, oldest first
// and no more than the STS budget serves until the next sweep. It only
// wires: app.ReadSweep reads its settings and app.NewSweep builds the
// handler (internal/sweep).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/rolecall/rolecall/internal/app"
)

func main() {
	h := app.Lambda(app.ReadSweep, app.NewSweep)
	lambda.Start(h.Handle)
}
