package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// TestPartnerModelIsTheTemplates: the sandbox's access role and verifier
// carry template.yaml's policies, resolved for the sandbox account.
func TestPartnerModelIsTheTemplates(t *testing.T) {
	doc, err := partnerModel()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Organizations map[string]string
		Roles         []struct {
			ARN              string
			TrustPolicy      json.RawMessage
			IdentityPolicies []json.RawMessage
		}
		Callers []struct {
			AccessKeyID      string
			Principal        string
			IdentityPolicies []json.RawMessage
		}
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Roles) != 1 || m.Roles[0].ARN != SandboxPrincipalARN {
		t.Fatalf("roles %+v", m.Roles)
	}
	trust := string(m.Roles[0].TrustPolicy)
	for _, want := range []string{`"AWS":"` + SandboxVerifierARN + `"`, `"AWS":["` + SandboxWorkloadARN + `"]`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust policy %s lacks %s", trust, want)
		}
	}
	perms := string(m.Roles[0].IdentityPolicies[0])
	for _, want := range []string{`"aws:ResourceAccount":"` + SandboxPartnerAccount + `"`, `"aws:ResourceOrgID":"${aws:PrincipalOrgID}"`, `"Resource":"arn:aws:iam::*:role/*"`} {
		if !strings.Contains(perms, want) {
			t.Errorf("access role policy %s lacks %s", perms, want)
		}
	}
	if len(m.Callers) != 2 || m.Callers[1].Principal != SandboxWorkloadARN || m.Callers[0].Principal != SandboxVerifierARN || len(m.Callers[0].IdentityPolicies) != 1 ||
		!strings.Contains(string(m.Callers[0].IdentityPolicies[0]), `"Resource":"`+SandboxPrincipalARN+`"`) ||
		strings.Contains(string(m.Callers[0].IdentityPolicies[0]), "dynamodb") {
		t.Errorf("callers %+v", m.Callers)
	}
	if m.Organizations[SandboxPartnerAccount] != SandboxOrganization {
		t.Errorf("organizations %v", m.Organizations)
	}
}

// TestSandboxEnforcesTheAccessRole: through serve's sandbox STS and the
// real SDK, the workload reaches a customer role only through the access
// role, which refuses roles of the partner's own account and Organization
// and sessions longer than role chaining allows; the verifier reaches
// customer roles only through it too.
func TestSandboxEnforcesTheAccessRole(t *testing.T) {
	var events syncbuf.Buffer
	s := start(t, testOptions(t, &events))
	if s.PartnerPrincipalARN != SandboxPrincipalARN || s.WorkloadAccessKeyID != SandboxWorkloadKeyID || !strings.Contains(s.Banner(), SandboxWorkloadKeyID) {
		t.Fatalf("server %+v", s)
	}
	const ext = "rc-PARTNERTESTPARTNERTESTPARTNER2"
	trusting := func(principal string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal +
			`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + ext + `"}}}]}`)
	}
	roles := map[string]string{
		"customer":        "arn:aws:iam::210987654321:role/RoleCall-1a2b3c4d",
		"partner account": "arn:aws:iam::" + SandboxPartnerAccount + ":role/internal",
		"partner org":     "arn:aws:iam::210987654322:role/RoleCall-1a2b3c4d",
		"trusts verifier": "arn:aws:iam::210987654323:role/RoleCall-1a2b3c4d",
		"trusts workload": "arn:aws:iam::210987654324:role/RoleCall-1a2b3c4d",
	}
	for name, arn := range roles {
		principal := SandboxPrincipalARN
		switch name {
		case "trusts verifier":
			principal = SandboxVerifierARN
		case "trusts workload":
			principal = SandboxWorkloadARN
		}
		if err := s.Sandbox.PutRole(arn, trusting(principal)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sandbox.SetOrganization("210987654322", SandboxOrganization); err != nil {
		t.Fatal(err)
	}
	base := func(key string) aws.Config {
		secret, _ := s.Sandbox.CallerSecret(key) // serve's own
		return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL + SandboxSTSPath),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
	}
	assume := func(client *sts.Client, arn string, seconds int32) error {
		_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("test"),
			ExternalId: aws.String(ext), DurationSeconds: aws.Int32(seconds)})
		return err
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	workload := sts.NewFromConfig(access.ThroughAccessRole(base(SandboxWorkloadKeyID), SandboxPrincipalARN, "workload"))
	verifier := sts.NewFromConfig(base(sandboxAccessKey))
	direct := sts.NewFromConfig(base(SandboxWorkloadKeyID))
	tests := []struct {
		name    string
		client  *sts.Client
		role    string
		seconds int32
		want    string
	}{
		{"workload through the access role", workload, roles["customer"], 900, ""},
		{"an hour is role chaining's limit", workload, roles["customer"], 3600, ""},
		{"longer than role chaining allows", workload, roles["customer"], 3601, "ValidationError"},
		{"a role of the partner's own account", workload, roles["partner account"], 900, "AccessDenied"},
		{"a role of the partner's Organization", workload, roles["partner org"], 900, "AccessDenied"},
		{"a role trusting the verifier itself", workload, roles["trusts verifier"], 900, "AccessDenied"},
		{"the verifier directly, not through the access role", verifier, roles["trusts verifier"], 900, "AccessDenied"},
		{"the workload directly, not through the access role", direct, roles["trusts workload"], 900, "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(assume(tt.client, tt.role, tt.seconds)); got != tt.want {
				t.Errorf("AssumeRole %s: %q, want %q", tt.role, got, tt.want)
			}
		})
	}

	// The pipeline: a role trusting the access role verifies; one trusting
	// the verifier's own role does not.
	c := newClient(t, s)
	var info struct {
		TrustedPrincipalARN string `json:"trustedPrincipalArn"`
		WorkloadAccessKeyID string `json:"workloadAccessKeyId"`
		STSEndpoint         string `json:"stsEndpoint"`
	}
	c.must(c.do("GET", "/_sandbox", "", nil), 200).decode(t, &info)
	if info.TrustedPrincipalARN != SandboxPrincipalARN || info.WorkloadAccessKeyID != SandboxWorkloadKeyID || info.STSEndpoint != s.URL+SandboxSTSPath {
		t.Errorf("GET /_sandbox %+v", info)
	}
	auth, v := c.tenantWithInvite("chain")
	if v.TrustedPrincipalARN != SandboxPrincipalARN || !strings.Contains(string(v.Sandbox.TrustPolicy), SandboxPrincipalARN) {
		t.Fatalf("the form offers %s / %s", v.TrustedPrincipalARN, v.Sandbox.TrustPolicy)
	}
	good := "arn:aws:iam::310987654321:role/RoleCall-good"
	c.putRole(good, v.Sandbox.TrustPolicy)
	bad := "arn:aws:iam::310987654322:role/RoleCall-bad"
	c.putRole(bad, json.RawMessage(strings.ReplaceAll(string(v.Sandbox.TrustPolicy), SandboxPrincipalARN, SandboxVerifierARN)))
	for _, r := range []string{good, bad} {
		c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": r}), 202)
	}
	c.waitStatus(auth, "310987654321", connection.Verified, 10*time.Second, nil)
	if got := c.waitStatus(auth, "310987654322", connection.Failed, 20*time.Second, nil); got.Reason.Code != "ASSUME_DENIED" {
		t.Errorf("a role trusting the verifier: %+v", got.Reason)
	}
}

// The sandbox models only the verifier's sts: statements: another Allow
// is left out, which only narrows, but a Deny it cannot model is refused,
// as leaving it out would let the sandbox verifier do what it denies.
func TestPartnerModelRefusesDeniesItCannotModel(t *testing.T) {
	tests := []struct {
		name, statements string
		wantErr          bool
	}{
		{"an Allow of other actions is left out",
			`[{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}, {Effect: Allow, Action: ["dynamodb:GetItem"], Resource: "*"}]`, false},
		{"a Deny of sts: actions is kept",
			`[{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}, {Effect: Deny, Action: sts:AssumeRole, Resource: "arn:aws:iam::*:role/x"}]`, false},
		{"a Deny of every action",
			`[{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}, {Effect: Deny, Action: "*", Resource: "*"}]`, true},
		{"a Deny of mixed actions",
			`[{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}, {Effect: Deny, Action: [sts:AssumeRole, s3:GetObject], Resource: "*"}]`, true},
		{"a Deny with NotAction",
			`[{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}, {Effect: Deny, NotAction: s3:GetObject, Resource: "*"}]`, true},
		{"one Allow, not in a list, is kept",
			`{Effect: Allow, Action: sts:AssumeRole, Resource: "*"}`, false},
		{"one Deny of every action, not in a list",
			`{Effect: Deny, Action: "*", Resource: "*"}`, true},
		{"a Statement that is no statement",
			`"sts:AssumeRole"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies:\n        - PolicyName: p\n          PolicyDocument:\n            Version: '2012-10-17'\n            Statement: " + tc.statements + "\n"
			tpl, err := stack.ParseTemplate("t.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := policyDocuments(tpl, stack.Values{}, "Role", true)
			if (err != nil) != tc.wantErr {
				t.Fatalf("policyDocuments: %v (%s); want an error: %v", err, docs, tc.wantErr)
			}
			if err == nil && (len(docs) != 1 || strings.Contains(string(docs[0]), "dynamodb") || strings.Count(string(docs[0]), "sts:AssumeRole") != strings.Count(tc.statements, "sts:AssumeRole")) {
				t.Errorf("documents %s", docs)
			}
		})
	}
}

// The sandbox takes only credentials scoped to a Region of its partition,
// as STS does: serve refuses at start a --region of another partition than
// its partner principal's, whose every check would fail, and without one
// takes its partition's default Region.
func TestServeRegionIsOfThePartnersPartition(t *testing.T) {
	tests := []struct {
		name, region, principal, wantRegion, refusal string
	}{
		{"a Region of another partition", "cn-north-1", "", "", "partition aws-cn"},
		{"no Region at all", "nowhere", "", "", "not a Region"},
		{"a principal of another partition than the default Region's", "us-east-1", "arn:aws-cn:iam::111122223333:role/RoleCallVerifier", "", "(partition aws)"},
		{"no Region: the principal's partition's", "", "arn:aws-cn:iam::111122223333:role/RoleCallVerifier", "cn-north-1", ""},
		{"no Region: aws's", "", "", "us-east-1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, &syncbuf.Buffer{})
			o.Region, o.TrustedPrincipalARN = tc.region, tc.principal
			s, err := Start(context.Background(), o)
			if tc.refusal != "" {
				if err == nil {
					_ = s.Shutdown(context.Background())
					t.Fatal("Start accepted it")
				}
				if !strings.Contains(err.Error(), tc.refusal) {
					t.Errorf("Start: %v; want it to name %q", err, tc.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			if s.opts.Region != tc.wantRegion {
				t.Errorf("Region %s, want %s", s.opts.Region, tc.wantRegion)
			}
		})
	}
}

// With AWS and no Region from the option or the SDK's configuration, serve
// takes the default Region of its partner principal's partition.
func TestServeWithAWSDefaultsToThePartnersPartition(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	for principal, want := range map[string]string{"": "us-east-1", "arn:aws-cn:iam::111122223333:role/rolecall-prod-access": "cn-north-1",
		"arn:aws-us-gov:iam::111122223333:role/rolecall-prod-access": "us-gov-west-1"} {
		st := &Stack{opts: Options{AWS: true, TrustedPrincipalARN: principal}}
		cfg, err := st.awsConfig(context.Background())
		if err != nil || cfg.Region != want || st.opts.Region != want {
			t.Errorf("principal %q: Region %q/%q, %v; want %s", principal, cfg.Region, st.opts.Region, err, want)
		}
	}
}

// With AWS, a Region of another partition than the partner principal's, from
// the option or the SDK's configuration, is refused at start.
func TestServeWithAWSRefusesARegionOfAnotherPartition(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_DEFAULT_REGION", "")
	tests := []struct{ name, option, configured, principal, access string }{
		{name: "the option", option: "eu-west-1", principal: "arn:aws-cn:iam::111122223333:role/rolecall-prod-access"},
		{name: "the configuration", configured: "cn-north-1", principal: "arn:aws:iam::111122223333:role/rolecall-prod-access"},
		{name: "the access role's partition", configured: "us-east-1", access: "arn:aws-us-gov:iam::111122223333:role/rolecall-prod-access"},
		{name: "no Region", option: "nowhere", principal: "arn:aws:iam::111122223333:role/rolecall-prod-access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.configured)
			st := &Stack{opts: Options{AWS: true, Region: tt.option, TrustedPrincipalARN: tt.principal, AccessRoleARN: tt.access}}
			if _, err := st.awsConfig(context.Background()); err == nil || !strings.Contains(err.Error(), "is not a Region of the partner principal's partition") {
				t.Errorf("awsConfig: %v; want the Region refused", err)
			}
		})
	}
}
