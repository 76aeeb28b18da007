package access

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestAccessRoleRefusalKeepsTheSessionTokenOut: STS refusing the base
// credentials' signature (a secret key that does not match) answers with
// the canonical request it computed, whose signed headers hold the
// workload's session token. The error a workload gets, and logs, says the
// access role could not be assumed and why, without it, and is still
// ErrAccessRole.
func TestAccessRoleRefusalKeepsTheSessionTokenOut(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEWorkloadBaseSession"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n" +
			"The Canonical String for this request should have been\n'POST\n/\n\nhost:" + r.Host + "\nx-amz-date:" + r.Header.Get("X-Amz-Date") +
			"\nx-amz-security-token:" + r.Header.Get("X-Amz-Security-Token") + "\n\nhost;x-amz-date;x-amz-security-token\ne3b0c442'\n"
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(msg))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, b.String())
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, "not-the-right-secret", token)}
	_, err := AccessRole(cfg, accessRoleARN, "billing").Retrieve(context.Background())
	if !errors.Is(err, ErrAccessRole) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("error %v, want ErrAccessRole saying SignatureDoesNotMatch", err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "Canonical String") {
		t.Errorf("SECURITY: the error carries the canonical request with the session token:\n%v", err)
	}
}
