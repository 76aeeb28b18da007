package access

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestSTSEndpointFromTheEnvironment: with config.LoadDefaultConfig, the
// SDK sends every STS call of the chain to AWS_ENDPOINT_URL_STS (how a
// workload reaches the sandbox STS of `rolecall serve`).
func TestSTSEndpointFromTheEnvironment(t *testing.T) {
	w := newWorld(t, "444455556666")
	srv := httptest.NewServer(w.sts)
	defer srv.Close()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": srv.URL, "AWS_ACCESS_KEY_ID": workloadKey, "AWS_SECRET_ACCESS_KEY": sandbox.DefaultCallerSecret(workloadKey),
		"AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseEndpoint != nil {
		t.Fatalf("a global endpoint %q; the test needs the STS-only variable", *cfg.BaseEndpoint)
	}
	c := New(cfg, w.client.api, Options{Workload: "billing"})
	out, err := sts.NewFromConfig(c.Config("acme", "444455556666")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Account); got != "444455556666" {
		t.Errorf("account %s", got)
	}
	if w.sts.Assumed(accessRoleARN) != 1 || w.sts.Assumed(customerRole("444455556666")) != 1 {
		t.Errorf("the chain did not reach the endpoint: %v", w.sts.Requests())
	}
}
