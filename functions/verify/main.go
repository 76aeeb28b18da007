// Command verify is the verify Lambda: it checks the roles of the jobs on
// the verify queues (routine re-checks and priority checks) and records the
// outcomes, paced to its share of the STS budget. It only wires:
// app.ReadVerify reads its settings and app.NewVerify builds the handler
// (internal/verify, with internal/probe's checker and internal/stsbudget's
// budgets).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/rolecall/rolecall/internal/app"
)

func main() {
	h := app.Lambda(app.ReadVerify, app.NewVerify)
	lambda.Start(h.Handle)
}
