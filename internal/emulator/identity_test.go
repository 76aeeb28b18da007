package emulator

import (
	"context"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// awsEnv points the default credential chain at static test keys and STS
// at fake; roleARN is AWS_ROLE_ARN ("" for none).
func awsEnv(t *testing.T, fake *awsfake.STS, roleARN string) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fakeAWSEnv(t, "AKIAROLECALLTESTID00", "us-east-1", map[string]string{
		"AWS_ENDPOINT_URL_STS": srv.URL, "AWS_ROLE_ARN": roleARN, "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	})
}

// fakeAWSEnv points the SDK's default configuration at static test keys
// (accessKey) in region, with no profile, shared file, general endpoint
// or instance metadata, and sets the variables vars (the endpoints of the
// fakes).
func fakeAWSEnv(t *testing.T, accessKey, region string, vars map[string]string) {
	t.Helper()
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": sandbox.DefaultCallerSecret(accessKey), "AWS_SESSION_TOKEN": "",
		"AWS_REGION": region, "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
	}
	maps.Copy(env, vars)
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// sandboxSTS serves a sandbox STS that signs accessKey in as the partner
// access role (SandboxPrincipalARN) until the test ends; it returns the
// sandbox and its URL.
func sandboxSTS(t *testing.T, accessKey string) (*sandbox.STS, string) {
	sb := sandbox.New(sandbox.Config{Callers: map[string]string{accessKey: SandboxPrincipalARN}, Seed: 1})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv.URL
}

// TestAWSModeIdentity starts serve's wiring in AWS mode against awsfake's
// STS through the real SDK: the own-account rule protects the account of
// the credentials (GetCallerIdentity at start), whatever the flag says,
// and a principal derived from an assumed-role session keeps its role's
// path, or Start asks for --trusted-principal-arn when the path cannot be
// known.
func TestAWSModeIdentity(t *testing.T) {
	const (
		acct    = "111122223333"
		other   = "444455556666"
		session = "arn:aws:sts::" + acct + ":assumed-role/RoleCallVerifier/ops-session"
		withPth = "arn:aws:iam::" + acct + ":role/service/rolecall/RoleCallVerifier"
	)
	tests := []struct {
		name      string
		caller    string // GetCallerIdentity's Arn
		roleEnv   string // AWS_ROLE_ARN
		flag      string // TrustedPrincipalARN
		principal string // the principal Start settles on ("" when it refuses)
		refusal   []string
	}{
		{name: "session whose role the configuration names, with its path", caller: session, roleEnv: withPth, principal: withPth},
		{name: "session, no role configured", caller: session,
			refusal: []string{"RoleCallVerifier", "path", "--trusted-principal-arn", "get-role"}},
		{name: "session of another role than the configured one", caller: session, roleEnv: "arn:aws:iam::" + acct + ":role/x/Other",
			refusal: []string{"--trusted-principal-arn"}},
		{name: "configured role in another account", caller: session, roleEnv: "arn:aws:iam::" + other + ":role/service/rolecall/RoleCallVerifier",
			refusal: []string{"--trusted-principal-arn"}},
		{name: "session with the flag", caller: session, flag: withPth, principal: withPth},
		{name: "flag in another account than the credentials", caller: session, flag: "arn:aws:iam::" + other + ":role/RoleCallVerifier",
			refusal: []string{other, acct, "--trusted-principal-arn"}},
		{name: "IAM user credentials", caller: "arn:aws:iam::" + acct + ":user/alice",
			refusal: []string{"is an IAM user", "--trusted-principal-arn"}},
		{name: "IAM user credentials with a role flag", caller: "arn:aws:iam::" + acct + ":user/alice", flag: withPth, principal: withPth},
		{name: "account root", caller: "arn:aws:iam::" + acct + ":root",
			refusal: []string{"must be the partner access role", "--trusted-principal-arn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := awsfake.NewSTS()
			fake.SetCaller(tt.caller)
			awsEnv(t, fake, tt.roleEnv)
			o := testOptions(t, &syncbuf.Buffer{})
			o.AWS, o.TrustedPrincipalARN = true, tt.flag
			if tt.principal == "" {
				s, err := Start(context.Background(), o)
				if err == nil {
					_ = s.Shutdown(context.Background())
					t.Fatalf("Start accepted it, with principal %s and own account %s", s.PartnerPrincipalARN, s.PartnerAccountID)
				}
				for _, want := range tt.refusal {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Start: %v\nwant it to say %q", err, want)
					}
				}
				return
			}
			s := start(t, o)
			if s.PartnerPrincipalARN != tt.principal || s.PartnerAccountID != acct {
				t.Errorf("principal %s, own account %s; want %s in %s", s.PartnerPrincipalARN, s.PartnerAccountID, tt.principal, acct)
			}
			if !strings.Contains(s.Banner(), tt.principal) {
				t.Errorf("banner lacks the principal %s:\n%s", tt.principal, s.Banner())
			}
			// The credentials' account is the partner's own: refused.
			ctx := context.Background()
			tn, err := s.Service.CreateTenant(ctx, "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Service.Submit(ctx, tn, "arn:aws:iam::"+acct+":role/Anything")
			if e := onboarding.AsError(err); e == nil || e.Code != rolearn.CodeOwnAccount {
				t.Errorf("submitting a role in the credentials' account: %v, want %s", err, rolearn.CodeOwnAccount)
			}
			var identityCalls int
			for _, c := range fake.Calls() {
				if c.Get("Action") == "GetCallerIdentity" {
					identityCalls++
				}
			}
			if identityCalls != 1 {
				t.Errorf("%d GetCallerIdentity calls at start, want 1", identityCalls)
			}
		})
	}
}

// TestConfiguredRoleARNs reads the role ARN of a profile that assumes a
// role from the configuration the real SDK loaded: the session such a
// profile yields is of that role, so its path is known.
func TestConfiguredRoleARNs(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/service/rolecall/RoleCallVerifier"
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfgFile, []byte("[profile partner]\nrole_arn = "+role+"\nsource_profile = base\n\n[profile base]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credFile, []byte("[base]\naws_access_key_id = AKIAROLECALLTESTID00\naws_secret_access_key = test-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ROLE_ARN", "")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithSharedConfigProfile("partner"),
		awsconfig.WithSharedConfigFiles([]string{cfgFile}), awsconfig.WithSharedCredentialsFiles([]string{credFile}))
	if err != nil {
		t.Fatal(err)
	}
	got := configuredRoleARNs(cfg.ConfigSources)
	if !slices.Contains(got, role) {
		t.Fatalf("configured role ARNs %q, want %s", got, role)
	}
	p, err := derivePrincipal(callerIdentity{arn: "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/aws-go-sdk-1", account: "111122223333"}, got)
	if err != nil || p != role {
		t.Errorf("derivePrincipal = %q, %v; want %s", p, err, role)
	}
}
