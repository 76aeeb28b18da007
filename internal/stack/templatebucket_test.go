package stack_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
	"github.com/rolecall/rolecall/internal/testkit/tool"
)

// TestCustomerTemplateBucket: the stack publishes the customer role
// template itself: a bucket whose policy lets anyone read exactly
// customer-role.yaml and nothing else, ACLs off, and the API's template URL
// (for quick-create links) pointing at that object unless the partner
// gives one of their own.
func TestCustomerTemplateBucket(t *testing.T) {
	tpl := template(t)
	res := tpl.Resources("")
	b := res["CustomerTemplateBucket"]
	if b == nil || b["Type"] != "AWS::S3::Bucket" {
		t.Fatalf("CustomerTemplateBucket = %v", b)
	}
	pab := m(m(b["Properties"])["PublicAccessBlockConfiguration"])
	if pab["BlockPublicAcls"] != true || pab["IgnorePublicAcls"] != true {
		t.Errorf("public ACLs are not blocked: %v", pab)
	}
	pol := res["CustomerTemplateBucketPolicy"]
	if pol == nil || pol["Type"] != "AWS::S3::BucketPolicy" || iamcalls.Canon(m(pol["Properties"])["Bucket"]) != "Ref:CustomerTemplateBucket" {
		t.Fatalf("CustomerTemplateBucketPolicy = %v", pol)
	}
	stmts := list(m(m(pol["Properties"])["PolicyDocument"])["Statement"])
	if len(stmts) != 1 {
		t.Fatalf("bucket policy statements = %v, want exactly one", stmts)
	}
	if st := m(stmts[0]); !templateRead.allows("CustomerTemplateBucketPolicy", st) {
		t.Errorf("bucket policy statement = %v, want Allow s3:GetObject on customer-role.yaml only", st)
	}
	vars := m(m(m(res["ApiFunction"]["Properties"])["Environment"])["Variables"])
	want := "map[Fn::If:[HasOwnTemplateUrl map[Ref:CustomerRoleTemplateUrl] map[Fn::Sub:https://${CustomerTemplateBucket.RegionalDomainName}/customer-role.yaml]]]"
	if got := fmt.Sprint(vars["CUSTOMER_ROLE_TEMPLATE_URL"]); got != want {
		t.Errorf("CUSTOMER_ROLE_TEMPLATE_URL = %s, want %s", got, want)
	}
	outs := m(tpl["Outputs"])
	if iamcalls.Canon(m(outs["CustomerTemplateBucketName"])["Value"]) != "Ref:CustomerTemplateBucket" || m(outs["CustomerRoleTemplateUrl"])["Value"] == nil {
		t.Errorf("outputs: %v / %v", outs["CustomerTemplateBucketName"], outs["CustomerRoleTemplateUrl"])
	}
}

// TestCustomerRoleTemplateUrlPatternIsWhatTheAPIAccepts: the
// CustomerRoleTemplateUrl parameter's AllowedPattern accepts a URL exactly
// when rolesetup.ValidateTemplateURL does (the API function refuses to
// start with any other), on S3 object URLs and on URLs CloudFormation's
// quick-create links cannot use, so a stack that deploys renders every
// invite's setup.
func TestCustomerRoleTemplateUrlPatternIsWhatTheAPIAccepts(t *testing.T) {
	pat := m(m(template(t)["Parameters"])["CustomerRoleTemplateUrl"])["AllowedPattern"]
	re := regexp.MustCompile(`^(?:` + fmt.Sprint(pat) + `)$`)
	tests := []struct {
		url  string
		want bool
	}{
		{"https://partner-templates.s3.us-east-1.amazonaws.com/customer-role.yaml", true},
		{"https://partner.templates.s3.eu-west-1.amazonaws.com/v2/customer-role.yaml", true},
		{"https://s3.us-gov-west-1.amazonaws.com/b/customer-role.yaml", true},
		{"https://b.s3.cn-north-1.amazonaws.com.cn/customer-role.yaml", true},
		{"https://b.s3-eu-west-1.amazonaws.com/customer-role.yaml", true},
		{"https://s3-external-1.amazonaws.com/b/t.yaml", true},
		{"https://b.s3.amazonaws.com/a%20b/t.yaml?versionId=3", true},
		{"https://d111111abcdef8.cloudfront.net/customer-role.yaml", false}, // a CDN in front of the bucket
		{"https://templates.example.com/customer-role.yaml", false},
		{"https://s3.amazonaws.com.evil.example/t.yaml", false},
		{"https://bs3.amazonaws.com/t.yaml", false},
		{"https://s3-amazonaws.com/t.yaml", false},
		{"https://partner-templates.s3.us-east-1.amazonaws.com/", false}, // the bucket, no object
		{"https://partner-templates.s3.us-east-1.amazonaws.com", false},
		{"https://b.s3.amazonaws.com/?list-type=2", false},
		{"https://b.s3.amazonaws.com/%zz.yaml", false},
		{"https://u:p@b.s3.amazonaws.com/t.yaml", false},
		{"https://b.s3.amazonaws.com/t.yaml#x", false},
		{"http://b.s3.amazonaws.com/t.yaml", false},
		{"https://My-Bucket.S3.eu-west-1.amazonaws.com/customer-role.yaml", true}, // host names are case-insensitive
		{"https://b.s3.eu-west-1.amazonaws.com:443/customer-role.yaml", true},
		{"https://b.s3.eu-west-1.amazonaws.com:8443/customer-role.yaml", false},
		{"https://b.s3.eu-west-1.amazonaws.com:/customer-role.yaml", false},
		{"HTTPS://b.s3.eu-west-1.amazonaws.com/customer-role.yaml", false},
		{"https://b.s3.cn-north-1.Amazonaws.Com.Cn/customer-role.yaml", false},
	}
	// The stack's own bucket in every partition RoleCall knows (its
	// RegionalDomainName ends in the partition's DNS suffix).
	for _, suffix := range rolearn.DNSSuffixes() {
		tests = append(tests, struct {
			url  string
			want bool
		}{"https://rolecall-dev-customertemplatebucket-abc.s3.xx-east-1." + suffix + "/customer-role.yaml", true})
	}
	for _, tt := range tests {
		pattern, api := re.MatchString(tt.url), rolesetup.ValidateTemplateURL(tt.url) == nil
		if pattern != tt.want || api != tt.want {
			t.Errorf("CustomerRoleTemplateUrl=%s: the stack accepts %v, the API accepts %v; want both %v", tt.url, pattern, api, tt.want)
		}
	}
	if !re.MatchString("") {
		t.Error("the stack refuses an empty CustomerRoleTemplateUrl (its own bucket)")
	}
}

// TestPublishTemplate runs `make publish-template` with the real AWS CLI
// against a local stand-in for CloudFormation (DescribeStacks) and S3
// (PutObject): it reads the bucket from the stack's output and uploads
// infra/customer-role.yaml to it.
func TestPublishTemplate(t *testing.T) {
	aws := "/usr/bin/aws" // Debian's awscli (v2)
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's awscli is not installed (%v); .ci/run installs it", err)
		}
		t.Skip("Debian's awscli is not installed: apt-get install awscli")
	}
	tool.Require(t, "make", "apt-get install make")
	var mu sync.Mutex
	var put struct {
		path, contentType string
		body              []byte
	}
	var regions []string // the Region each request was signed for
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			if f := strings.Split(cred, "/"); len(f) > 2 {
				mu.Lock()
				regions = append(regions, f[2])
				mu.Unlock()
			}
		}
		switch {
		case r.Method == http.MethodPost:
			_ = r.ParseForm()
			if r.PostForm.Get("Action") != "DescribeStacks" || r.PostForm.Get("StackName") != "rolecall-test" {
				http.Error(w, "unexpected "+r.PostForm.Encode(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/xml")
			_, _ = w.Write([]byte(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
				`<StackName>rolecall-test</StackName><StackId>arn:aws:cloudformation:us-east-1:111122223333:stack/rolecall-test/1</StackId>` +
				`<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>` +
				`<member><OutputKey>CustomerTemplateBucketName</OutputKey><OutputValue>rolecall-test-templates</OutputValue></member>` +
				`</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`))
		case r.Method == http.MethodPut:
			b := make([]byte, 0, 1<<16)
			buf := make([]byte, 4096)
			for {
				n, err := r.Body.Read(buf)
				b = append(b, buf[:n]...)
				if err != nil {
					break
				}
			}
			mu.Lock()
			put.path, put.contentType, put.body = r.URL.Path, r.Header.Get("Content-Type"), b
			mu.Unlock()
			w.Header().Set("ETag", `"e"`)
		default:
			http.Error(w, "unexpected "+r.Method, http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	cmd := exec.Command("make", "-s", "publish-template", "STACK=rolecall-test", "AWS="+aws+" --endpoint-url "+srv.URL)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=",
		// The CLI's default Region is not the stack's: REGION (samconfig's
		// us-east-1) is the one asked.
		"AWS_DEFAULT_REGION=eu-west-1", "AWS_REGION=eu-west-1", "AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(t.TempDir(), "none"), "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make publish-template: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(root, "infra", "customer-role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(regions) != 2 || regions[0] != "us-east-1" || regions[1] != "us-east-1" {
		t.Errorf("requests signed for %q, want both for the stack's us-east-1", regions)
	}
	if p, _ := url.PathUnescape(put.path); p != "/rolecall-test-templates/customer-role.yaml" {
		t.Errorf("uploaded to %q, want the stack's bucket", put.path)
	}
	if string(put.body) != string(want) {
		t.Errorf("uploaded %d bytes, want infra/customer-role.yaml (%d bytes)", len(put.body), len(want))
	}
	if put.contentType != "text/yaml" {
		t.Errorf("Content-Type %q", put.contentType)
	}
	if !strings.Contains(string(out), "published s3://rolecall-test-templates/customer-role.yaml") {
		t.Errorf("output: %s", out)
	}
}

// TestMakefileRegionIsSamconfigs: make's REGION default is the region of
// samconfig.toml's [default.deploy.parameters], whatever else the file
// holds, and us-east-1 without one.
func TestMakefileRegionIsSamconfigs(t *testing.T) {
	tool.Require(t, "make", "apt-get install make")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// samconfig.toml's text ("" for the project's own, "-" for none) →
	// the REGION make reads from it.
	cases := map[string][2]string{
		"as shipped": {"", "us-east-1"},
		"another environment first, a comment after": {"[prod.deploy.parameters]\nregion = \"eu-central-1\"\n[default.deploy.parameters]\nregion = \"eu-west-1\" # Ireland\n", "eu-west-1"},
		"single quotes":     {"[default.deploy.parameters]\nregion = 'ap-south-1'\n", "ap-south-1"},
		"no region":         {"[default.deploy.parameters]\nstack_name = \"x\"\n", "us-east-1"},
		"no samconfig.toml": {"-", "us-east-1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			samconfig, want, dir := c[0], c[1], root
			if samconfig != "" {
				dir = t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "Makefile"), makefile, 0o600); err != nil {
					t.Fatal(err)
				}
				if samconfig != "-" {
					if err := os.WriteFile(filepath.Join(dir, "samconfig.toml"), []byte(samconfig), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmd := exec.Command("make", "-s", "--eval", "show-region: ; @echo \"[$(REGION)]\"", "show-region")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != "["+want+"]\n" {
				t.Errorf("REGION = %q (%v), want %s", out, err, want)
			}
		})
	}
}
