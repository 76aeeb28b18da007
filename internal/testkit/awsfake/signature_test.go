package awsfake_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// SignatureRefused answers the SDK's clients as the services do: an STS
// SignatureDoesNotMatch and a DynamoDB InvalidSignatureException whose
// messages hold the canonical request, session token included.
func TestSignatureRefused(t *testing.T) {
	const token = "IQoJSessionTokenOfTheCaller"
	for _, tc := range []struct {
		name, code string
		json       bool
		call       func(aws.Config) error
	}{
		{"STS", "SignatureDoesNotMatch", false, func(cfg aws.Config) error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			return err
		}},
		{"DynamoDB", "InvalidSignatureException", true, func(cfg aws.Config) error {
			_, err := dynamodb.NewFromConfig(cfg).ListTables(context.Background(), &dynamodb.ListTablesInput{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(awsfake.SignatureRefused(tc.json))
			defer srv.Close()
			cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", token)}
			err := tc.call(cfg)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), "x-amz-security-token:"+token) {
				t.Fatalf("error %v; want %s holding the session token", err, tc.code)
			}
		})
	}
}

// NewChainSTSIn serves the chain in another partition, at its default
// Region: the roles are of that partition, and a workload there assumes them.
func TestChainSTSInAnotherPartition(t *testing.T) {
	fake := awsfake.NewChainSTSIn("aws-cn")
	const workload, role = "arn:aws-cn:iam::111122223333:role/billing", "arn:aws-cn:iam::444455556666:role/RoleCall"
	fake.AddPrincipal(chainKey, workload)
	fake.AddRole(role, workload, "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := aws.Config{Region: "cn-north-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(chainKey, sandbox.DefaultCallerSecret(chainKey), "")}
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("billing")})
	if err != nil || !strings.HasPrefix(aws.ToString(out.AssumedRoleUser.Arn), "arn:aws-cn:sts::444455556666:assumed-role/RoleCall/") {
		t.Fatalf("AssumeRole in aws-cn: %v, %v", out, err)
	}
}
