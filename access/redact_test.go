package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// TestCustomerRoleRefusalKeepsTheSessionTokenOut: STS refusing the
// signature of the customer-role AssumeRole, which is signed with the
// access role's session (a proxy or an APIOptions middleware changing a
// signed header), answers with the canonical request, whose signed headers
// hold that session's token: the token of the role every customer trusts.
// The error a partner service gets, and logs, leaves it out.
func TestCustomerRoleRefusalKeepsTheSessionTokenOut(t *testing.T) {
	const a = "444455556666"
	w := newAccessWorld(t, a)
	refuse := awsfake.SignatureRefused(false)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if q, _ := url.ParseQuery(string(body)); q.Get("RoleArn") == customerRole(a) {
			refuse.ServeHTTP(rw, r)
			return
		}
		w.sts.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	w.url = srv.URL
	api := &fakeAPI{token: "ops-token", conns: map[Ref]Connection{{"acme", a}: {TenantID: "acme", AccountID: a, RoleARN: customerRole(a),
		ExternalID: "rc-ext-" + a, AccessRoleARN: accessRoleARN, Status: "VERIFIED"}}, reasons: map[Ref]Reason{}}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	c := New(w.config(), &API{BaseURL: apiSrv.URL, Auth: BearerToken("ops-token")}, Options{})
	_, err := c.Credentials("acme", a).Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("error %v, want the refusal, SignatureDoesNotMatch", err)
	}
	session, serr := c.accessRole(accessRoleARN).Retrieve(context.Background())
	if serr != nil {
		t.Fatal(serr)
	}
	if strings.Contains(err.Error(), session.SessionToken) || strings.Contains(err.Error(), "Canonical String") {
		t.Errorf("SECURITY: the error carries the access role's session token:\n%.600s", err)
	}
}

// TestConnectionNeverShowsItsExternalID: however a partner service prints
// or logs a Connection (fmt's verbs, slog's text and JSON handlers), its
// external ID does not show; its version does, in the logs.
func TestConnectionNeverShowsItsExternalID(t *testing.T) {
	const ext = "rc-SECRETEXTERNALID0123456789ABCDEFG"
	c := Connection{TenantID: "acme", AccountID: "444455556666", RoleARN: customerRole("444455556666"), ExternalID: ext,
		ExternalIDVersion: 3, AccessRoleARN: accessRoleARN, Status: "VERIFIED"}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("using", "conn", c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("using", "conn", c)
	shown := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("%s", c),
		"slog text": text.String(), "slog JSON": js.String(),
	}
	for how, s := range shown {
		if strings.Contains(s, ext) || !strings.Contains(s, "acme") {
			t.Errorf("%s shows %q", how, s)
		}
	}
	if !strings.Contains(js.String(), `"externalIdVersion":3`) {
		t.Errorf("the JSON log lacks the external ID's version: %s", js.String())
	}
}
