package access_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
)

// A backend that queries a customer's account: its own credentials come
// from the default chain (its principal is one of the stack's
// WorkloadPrincipalArns), the RoleCall API is the stack's ApiUrl, signed
// with SigV4 for the Region its execute-api host names: the
// configuration needs no Region, nor one of the API's.
func ExampleClient_Credentials() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	api := &access.API{
		BaseURL: os.Getenv("ROLECALL_API"),
		Auth:    access.SigV4{Credentials: cfg.Credentials},
	}
	rolecall := access.New(cfg, api, access.Options{Workload: "billing"})

	customer := cfg.Copy()
	customer.Credentials = rolecall.Credentials("acme", "444455556666")
	out, err := sts.NewFromConfig(customer).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var notVerified *access.NotVerifiedError
	switch {
	case errors.As(err, &notVerified):
		fmt.Println("not usable:", notVerified.Status, notVerified.Reason.Message)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("acting in", *out.Account)
	}
}
