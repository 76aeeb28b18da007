// Command register is the registration Lambda, subscribed to the
// registration SNS topic: it answers the CloudFormation custom-resource
// requests (Custom::RoleCallRegistration) of customers' stacks. It only
// wires: app.ReadRegister reads its settings and app.NewRegister builds
// the handler (internal/register).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/rolecall/rolecall/internal/app"
)

func main() {
	h := app.Lambda(app.ReadRegister, app.NewRegister)
	lambda.Start(h.HandleSNS)
}
