package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/truncate"
)

// Authorizer authenticates a request to RoleCall's operations routes.
// body is the request's body (nil for none), for signers that hash it.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, body []byte) error
}

// BearerToken authorizes with `Authorization: Bearer <token>`: the ops
// token of `rolecall serve`.
type BearerToken string

// Authorize implements Authorizer.
func (t BearerToken) Authorize(_ context.Context, r *http.Request, _ []byte) error {
	if t == "" {
		return errors.New("the RoleCall ops token is empty")
	}
	r.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// SigV4Service is the SigV4 service name of API Gateway's invoke
// endpoint, which the deployed RoleCall API's AWS_IAM authorizer checks.
const SigV4Service = "execute-api"

// SigV4 signs requests for API Gateway's AWS_IAM authorizer
// (service execute-api): the deployed RoleCall API.
type SigV4 struct {
	Credentials aws.CredentialsProvider
	// Region is the one the signature names, which must be the API's.
	// Empty: the Region of the request's execute-api host (the stack's
	// ApiUrl, https://<id>.execute-api.<region>.<suffix>, names it), not
	// the workload's configured one, which may be another or none. An
	// API on a custom domain needs it set.
	Region string
}

// Authorize implements Authorizer.
func (s SigV4) Authorize(ctx context.Context, r *http.Request, body []byte) error {
	if s.Credentials == nil {
		return errors.New("SigV4: no AWS credentials to sign the RoleCall API request with")
	}
	region := s.Region
	if region == "" {
		region = rolearn.ExecuteAPIRegion(r.URL.Hostname())
	}
	if region == "" {
		// An empty region would only earn a signature mismatch from
		// the gateway; say what is missing instead.
		return fmt.Errorf("SigV4: no region to sign the RoleCall API request for: %s is not an execute-api host, which would name it; set SigV4.Region to the API's Region", truncate.String(r.URL.Hostname(), 253))
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("SigV4: retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	// A signer per request: a shared v4.Signer caches the key it derives
	// from a secret under the access key ID alone, so a second secret
	// under the same ID would be signed with the first one's key.
	if err := v4.NewSigner().SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), SigV4Service, region, time.Now()); err != nil {
		return fmt.Errorf("SigV4: sign the RoleCall API request: %w", err)
	}
	return nil
}
