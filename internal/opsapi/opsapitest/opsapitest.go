// Package opsapitest checks SigV4-signed requests the way API Gateway's
// AWS_IAM authorizer does, for tests of clients of the deployed ops API.
package opsapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/sigv4"
)

// Verify accepts r only if its SigV4 signature is the one creds give it
// for the execute-api service in region (sigv4.Verify), signed within five
// minutes of the wall clock (sigv4.CheckTime), as API Gateway requires. It
// reads (and restores) r's body.
func Verify(r *http.Request, creds aws.Credentials, region string) error {
	sig, err := sigv4.Parse(r)
	if err != nil {
		return err
	}
	if err := sigv4.CheckTime(r, sig, time.Now()); err != nil {
		return err
	}
	if sig.Region != region {
		return fmt.Errorf("credential scope region %s, want %s", sig.Region, region)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return sigv4.Verify(r.Context(), r, body, sig, creds, "execute-api")
}
