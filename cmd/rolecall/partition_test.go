package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// terraformRegions is the region every provider of a `rolecall terraform` output
// names, one per provider.
func terraformRegions(t *testing.T, out string) []string {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(out), "providers.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("not HCL: %v\n%s", diags, out)
	}
	var regions []string
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		v, d := b.Body.Attributes["region"].Expr.Value(nil)
		if d.HasErrors() {
			t.Fatal(d)
		}
		regions = append(regions, v.AsString())
	}
	return regions
}

// On a machine with no Region configured, the workload commands of an
// aws-cn or aws-us-gov deployment use the default Region of its partition,
// never us-east-1, whose STS takes no credentials of it: credentials
// chains there, profiles write it as region =, terraform as each
// provider's region, and the Go SDK gets working credentials through the
// profile's credential_process.
func TestWorkloadCommandsWithoutARegionUseThePartitionsDefault(t *testing.T) {
	for _, tt := range []struct{ partition, region string }{{"aws-cn", "cn-north-1"}, {"aws-us-gov", "us-gov-west-1"}} {
		t.Run(tt.partition, func(t *testing.T) {
			w := newWorkloadWorldIn(t, tt.partition)
			t.Setenv("AWS_REGION", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			want := "arn:" + tt.partition + ":sts::444455556666:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme"

			out, errOut, code := run(t, "credentials", "--tenant", "acme", "--account", "444455556666")
			if code != 0 {
				t.Fatalf("credentials: exit %d: %s", code, errOut)
			}
			var got credentialProcessOutput
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout %q: %v", out, err)
			}
			client := sts.New(sts.Options{Region: tt.region, BaseEndpoint: aws.String(w.stsURL),
				Credentials: credentials.NewStaticCredentialsProvider(got.AccessKeyID, got.SecretAccessKey, got.SessionToken)})
			id, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if arn := aws.ToString(id.Arn); arn != want {
				t.Errorf("credentials are %s, want %s", arn, want)
			}

			for _, args := range [][]string{{"--tenant", "acme"}, nil} {
				out, errOut, code = run(t, append([]string{"profiles", "--command", "/opt/rolecall"}, args...)...)
				if code != 0 {
					t.Fatalf("profiles %v: exit %d: %s", args, code, errOut)
				}
				n := len(strings.Split(strings.TrimSpace(out), "\n\n"))
				if c := strings.Count(out, "\nregion = "+tt.region+"\n"); c != n || n < 2 {
					t.Errorf("profiles %v: %d of %d profiles name region %s:\n%s", args, c, n, tt.region, out)
				}
				out, errOut, code = run(t, append([]string{"terraform"}, args...)...)
				if code != 0 {
					t.Fatalf("terraform %v: exit %d: %s", args, code, errOut)
				}
				regions := terraformRegions(t, out)
				if len(regions) < 2 || strings.Count(strings.Join(regions, " ")+" ", tt.region+" ") != len(regions) {
					t.Errorf("terraform %v: provider regions %v, want %s", args, regions, tt.region)
				}
			}

			// The Go SDK through the written profile: its region and the
			// credential_process it runs (this test binary).
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(underTest, "1")
			if _, errOut, code := run(t, "profiles", "--tenant", "acme", "--write", os.Getenv("AWS_CONFIG_FILE"), "--command", exe); code != 0 {
				t.Fatalf("profiles --write: exit %d: %s", code, errOut)
			}
			cfg, err := config.LoadDefaultConfig(context.Background(), config.WithSharedConfigProfile("rolecall-acme-444455556666"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tt.region {
				t.Errorf("the profile's region is %q, want %s", cfg.Region, tt.region)
			}
			if arn := identityIn(t, w.stsURL, tt.region, cfg.Credentials); arn != want {
				t.Errorf("the profile's credentials are %s, want %s", arn, want)
			}
		})
	}
}

// A Region of another partition than the connection's, configured or
// given with --region, is refused with a reason naming both, instead of
// credentials, profiles or providers that STS would refuse; a Region of
// the partition is used as given.
func TestWorkloadCommandsRefuseARegionOfAnotherPartition(t *testing.T) {
	newWorkloadWorldIn(t, "aws-cn")
	t.Setenv("AWS_DEFAULT_REGION", "")
	tests := []struct {
		name, env string
		args      []string
		want      string // in stderr
	}{
		{"credentials, configured", "eu-west-1", []string{"credentials", "--tenant", "acme", "--account", "444455556666"}, `Region "eu-west-1" is not a Region of its partition aws-cn`},
		{"profiles, configured", "us-east-1", []string{"profiles", "--command", "/opt/rolecall"}, `the AWS configuration's Region "us-east-1" is not a Region of the partition aws-cn`},
		{"profiles, --region", "", []string{"profiles", "--command", "/opt/rolecall", "--region", "us-gov-west-1"}, `--region "us-gov-west-1" is not a Region of the partition aws-cn`},
		{"terraform, configured", "eu-west-1", []string{"terraform", "--tenant", "acme"}, `the AWS configuration's Region "eu-west-1" is not a Region of the partition aws-cn`},
		{"terraform, --region", "cn-north-1", []string{"terraform", "--region", "eu-west-1"}, `--region "eu-west-1" is not a Region of the partition aws-cn`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.env)
			out, errOut, code := run(t, tt.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tt.want)
			}
		})
	}
	t.Run("a Region of the partition", func(t *testing.T) {
		t.Setenv("AWS_REGION", "eu-west-1")
		out, errOut, code := run(t, "profiles", "--tenant", "acme", "--command", "/opt/rolecall", "--region", "cn-northwest-1")
		if code != 0 || strings.Count(out, "\nregion = cn-northwest-1\n") != 2 {
			t.Errorf("exit %d: %s\n%s", code, errOut, out)
		}
	})
}

// The AWS CLI, on a machine with no Region configured, through a profile
// of an aws-cn deployment: the profile's region and the credentials its
// credential_process prints are both aws-cn's, which its STS takes.
func TestAWSCLIUsesTheProfilesOfAnotherPartitionWithoutARegion(t *testing.T) {
	realClients(t)
	w := newWorkloadWorldIn(t, "aws-cn")
	// clientEnv's setting, but with no Region anywhere.
	creds := "[default]\naws_access_key_id = " + wlKey + "\naws_secret_access_key = " + sandbox.DefaultCallerSecret(wlKey) + "\n"
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_DEFAULT_REGION", "")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("HOME", w.dir)
	t.Setenv("AWS_PAGER", "")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, "profiles", "--write", os.Getenv("AWS_CONFIG_FILE"), "--command", exe); code != 0 {
		t.Fatalf("profiles: exit %d: %s", code, errOut)
	}
	t.Setenv(underTest, "1")
	var id struct{ Account, Arn string }
	id.Account, id.Arn = awsCLIIdentity(t, "rolecall-acme-444455556666", w.stsURL)
	if id.Arn != "arn:aws-cn:sts::444455556666:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme" {
		t.Errorf("identity %+v", id)
	}
}
