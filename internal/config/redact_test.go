package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// TestLoggerKeepsTheSessionTokenOutOfRefusedSignatures: an AWS JSON
// service that refuses a request's signature (DynamoDB here, through the
// SDK's own client) answers with the canonical request it computed, whose
// signed headers hold the session token. Logged as an error, the record
// says what went wrong, without the canonical request and string to sign;
// what follows them (the next error of a joined list) stays.
func TestLoggerKeepsTheSessionTokenOutOfRefusedSignatures(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEPartnerSessionToken"
	srv := httptest.NewServer(awsfake.SignatureRefused(true))
	defer srv.Close()
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDPARTNER", "partner/secret", token),
	})
	_, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("rolecall"),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "TENANT#acme"}, "SK": &types.AttributeValueMemberS{Value: "TENANT"}}})
	if err == nil || !strings.Contains(err.Error(), token) {
		t.Fatalf("setup: the SDK's error does not carry the canonical request: %v", err)
	}
	for _, tc := range []struct {
		name  string
		value any
	}{
		{"error", fmt.Errorf("read tenant acme: %w", err)},
		{"error's text", err.Error()},
		{"text cut inside the canonical request", err.Error()[:strings.Index(err.Error(), "x-amz-target:")]},
		{"joined errors", fmt.Errorf("two failed: %w", errors.Join(err, fmt.Errorf("event e2 (Role Verified) not put: ThrottlingException")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			Logger(&buf, func(string) (string, bool) { return "", false }).Error("request failed", "error", tc.value)
			out := buf.String()
			if strings.Contains(out, token) || strings.Contains(out, "x-amz-security-token:") {
				t.Errorf("SECURITY: the log record carries the canonical request:\n%s", out)
			}
			if !strings.Contains(out, "InvalidSignatureException") || !strings.Contains(out, "does not match the signature you provided") {
				t.Errorf("the record no longer says what went wrong:\n%s", out)
			}
			if strings.Contains(tc.name, "joined") && !strings.Contains(out, "event e2 (Role Verified) not put") {
				t.Errorf("the error after the refusal was lost:\n%s", out)
			}
		})
	}
}
