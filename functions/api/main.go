// Command api is the API Lambda behind API Gateway's HTTP API (payload
// 2.0): the customer routes, the operations routes and the customer web
// form, served by internal/httpapi through aws-lambda-go-api-proxy's
// httpadapter. It only wires: app.ReadAPI reads its settings and
// app.NewAPI builds the handler.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/rolecall/rolecall/internal/app"
)

func main() {
	h := app.Lambda(app.ReadAPI, app.NewAPI)
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}
