// Package opsapitest checks SigV4-signed requests the way API Gateway's
// AWS_IAM authorizer does, for tests of clients of the deployed ops API.
package opsapitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// Verify accepts r only if re-signing it with the SDK's signer, creds and
// only the headers the client signed gives the same signature, for the
// execute-api service in region. It reads (and restores) r's body.
func Verify(r *http.Request, creds aws.Credentials, region string) error {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return errors.New("missing Authentication Token")
	}
	if m[1] != creds.AccessKeyID {
		return fmt.Errorf("access key %s is not %s", m[1], creds.AccessKeyID)
	}
	if m[3] != region || m[4] != "execute-api" {
		return fmt.Errorf("credential scope %s/%s, want %s/execute-api", m[3], m[4], region)
	}
	if r.Header.Get("X-Amz-Security-Token") != creds.SessionToken {
		return errors.New("the security token included in the request is invalid")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || m[2] != at.Format("20060102") {
		return errors.New("bad X-Amz-Date")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range strings.Split(m[5], ";") {
		if h != "host" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	cp.Header.Del("Authorization")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), "execute-api", region, at); err != nil {
		return err
	}
	if cp.Header.Get("Authorization") != r.Header.Get("Authorization") {
		return errors.New("the request signature we calculated does not match the signature you provided")
	}
	return nil
}
