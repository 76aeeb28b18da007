package access

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// TestAccessRoleRefusalKeepsTheSessionTokenOut: STS refusing the base
// credentials' signature (a secret key that does not match) answers with
// the canonical request it computed, whose signed headers hold the
// workload's session token. The error a workload gets, and logs, says the
// access role could not be assumed and why, without it, and is still
// ErrAccessRole.
func TestAccessRoleRefusalKeepsTheSessionTokenOut(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEWorkloadBaseSession"
	srv := httptest.NewServer(awsfake.SignatureRefused(false))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, "not-the-right-secret", token)}
	_, err := AccessRole(cfg, accessRoleARN, "billing").Retrieve(context.Background())
	if !errors.Is(err, ErrAccessRole) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("error %v, want ErrAccessRole saying SignatureDoesNotMatch", err)
	}
	if are := (*AccessRoleError)(nil); !errors.As(err, &are) || !strings.Contains(are.Err.Error(), token) {
		t.Fatalf("setup: the SDK's error does not carry the canonical request: %v", err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "Canonical String") {
		t.Errorf("SECURITY: the error carries the canonical request with the session token:\n%v", err)
	}
}
