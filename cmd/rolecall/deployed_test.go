package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/opsapi/opsapitest"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

var deployedCreds = aws.Credentials{AccessKeyID: "AKIDDEPLOYED", SecretAccessKey: "deployed/secret+key", SessionToken: "deployed-session"}

// awsEnv points the SDK's default chain at static credentials and the
// CloudFormation and CloudWatch Logs clients at local endpoints.
func awsEnv(t *testing.T, cfn, logs string) {
	t.Setenv("ROLECALL_API", "")
	t.Setenv("ROLECALL_OPS_TOKEN", "")
	t.Setenv("AWS_ACCESS_KEY_ID", deployedCreds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", deployedCreds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", deployedCreds.SessionToken)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs)
}

// fakeCloudFormation answers DescribeStacks (query protocol) for stack
// "rc-dev" with the outputs given.
func fakeCloudFormation(t *testing.T, outputs map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("Action") != "DescribeStacks" {
			t.Errorf("CloudFormation action %q", r.Form.Get("Action"))
		}
		w.Header().Set("Content-Type", "text/xml")
		if r.Form.Get("StackName") != "rc-dev" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, r.Form.Get("StackName"))
			return
		}
		var outs strings.Builder
		for k, v := range outputs {
			fmt.Fprintf(&outs, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", k, v)
		}
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>
<StackName>rc-dev</StackName><StackId>arn:aws:cloudformation:eu-west-1:111122223333:stack/rc-dev/1</StackId>
<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>
<Parameters><member><ParameterKey>Stage</ParameterKey><ParameterValue>dev</ParameterValue></member></Parameters>
<Outputs>%s</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeStacksResponse>`, outs.String())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// signedAPI is the deployed API's stand-in: it lists one tenant to
// requests whose SigV4 signature verifies against creds. A refusal goes
// on, as API Gateway's does, with the canonical request it computed,
// whose signed headers include the session token.
func signedAPI(t *testing.T, creds aws.Credentials) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := opsapitest.Verify(r, creds, "eu-west-1"); err != nil {
			canonical := "\n\nThe Canonical String for this request should have been\n'" + r.Method + "\n" + r.URL.Path +
				"\n\nhost:" + r.Host + "\nx-amz-security-token:" + r.Header.Get("X-Amz-Security-Token") + "\n'\n"
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"message":%q}`, err.Error()+canonical)
			return
		}
		fmt.Fprint(w, `{"tenants":[{"tenantId":"acme","name":"Acme","externalIdVersion":3,"createdAt":"2026-01-02T03:04:05Z"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStackAndSigV4(t *testing.T) {
	tests := []struct {
		name   string
		server aws.Credentials
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"signed with the credential chain", deployedCreds, []string{"tenants", "list", "--stack", "rc-dev", "--auth", "sigv4"}, 0, "acme    Acme", ""},
		{"--json", deployedCreds, []string{"tenants", "list", "--stack", "rc-dev", "--auth", "sigv4", "--json"}, 0, `"externalIdVersion": 3`, ""},
		{"a signature the API does not accept", aws.Credentials{AccessKeyID: deployedCreds.AccessKeyID, SecretAccessKey: "other", SessionToken: deployedCreds.SessionToken},
			[]string{"tenants", "list", "--stack", "rc-dev", "--auth", "sigv4"}, 1, "", "HTTP_403: the request signature we calculated does not match"},
		{"signed for another region", deployedCreds, []string{"tenants", "list", "--stack", "rc-dev", "--auth", "sigv4", "--region", "us-east-1"}, 1, "", "credential scope region us-east-1, want eu-west-1"},
		{"an unknown stack", deployedCreds, []string{"tenants", "list", "--stack", "nope", "--auth", "sigv4"}, 1, "", "Stack with id nope does not exist"},
		{"a loopback API from the stack needs a token or --auth sigv4", deployedCreds, []string{"tenants", "list", "--stack", "rc-dev"}, 2, "", "ROLECALL_OPS_TOKEN"},
		// A shell set up for serve: --stack names the deployed API all the same.
		{"--stack with ROLECALL_API set", deployedCreds, []string{"tenants", "list", "--stack", "rc-dev", "--auth", "sigv4"}, 0, "acme    Acme", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := signedAPI(t, tc.server)
			cfn := fakeCloudFormation(t, map[string]string{"ApiUrl": api.URL + "/"})
			awsEnv(t, cfn.URL, "http://127.0.0.1:1")
			if strings.Contains(tc.name, "ROLECALL_API") {
				t.Setenv("ROLECALL_API", "http://127.0.0.1:1")
			}
			r := rolecall(t, tc.args...).must(t, tc.code)
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stdout %q lacks %q or stderr %q lacks %q", r.stdout, tc.stdout, r.stderr, tc.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, deployedCreds.SessionToken) {
				t.Errorf("the output carries the session token: %s", r.stderr)
			}
		})
	}
}

func TestAuthDecision(t *testing.T) {
	tests := []struct {
		flag, token, host string
		want              string // mode, or "usage"
	}{
		{"auto", "tok", "127.0.0.1", "token"},
		{"auto", "tok", "abc.execute-api.eu-west-1.amazonaws.com", "sigv4"}, // a deployed API takes no token
		{"token", "tok", "abc.execute-api.eu-west-1.amazonaws.com", "token"},
		{"auto", "tok", "Abc.Execute-API.eu-west-1.AmazonAWS.com", "sigv4"},
		{"auto", "tok", "abc.execute-api.eu-west-1.amazonaws.com.", "sigv4"},
		{"auto", "", "abc.execute-api.eu-west-1.amazonaws.com", "sigv4"},
		// Every partition's API Gateway hosts, under its own DNS suffix
		// (template.yaml's ApiUrl is built with AWS::URLSuffix).
		{"auto", "tok", "abc.execute-api.cn-north-1.amazonaws.com.cn", "sigv4"},
		{"auto", "tok", "abc.execute-api.us-gov-west-1.amazonaws.com", "sigv4"},
		{"auto", "tok", "abc.execute-api.eusc-de-east-1.amazonaws.eu", "sigv4"},
		{"auto", "tok", "abc.execute-api.us-iso-east-1.c2s.ic.gov", "sigv4"},
		{"auto", "tok", "abc.execute-api.us-isob-east-1.sc2s.sgov.gov", "sigv4"},
		{"auto", "tok", "abc-vpce-0a1b2c3d.execute-api.eusc-de-east-1.vpce.amazonaws.eu", "sigv4"},
		{"auto", "", "api.partner.example", "sigv4"},
		{"auto", "", "127.0.0.1", "usage"},
		{"auto", "", "localhost", "usage"},
		{"auto", "", "LOCALHOST", "usage"},
		{"auto", "", "::1", "usage"},
		{"token", "", "api.partner.example", "usage"},
		{"token", "tok", "api.partner.example", "token"},
		{"sigv4", "tok", "127.0.0.1", "sigv4"},
		{"basic", "tok", "127.0.0.1", "usage"},
	}
	for _, tc := range tests {
		got, err := authMode(tc.flag, tc.token, tc.host)
		if err != nil {
			if _, ok := err.(usageError); !ok {
				t.Errorf("%+v: %v is not a usage error", tc, err)
			}
			got = "usage"
		}
		if got != tc.want {
			t.Errorf("authMode(%q, %q, %q) = %q, want %q", tc.flag, tc.token, tc.host, got, tc.want)
		}
	}
	regions := []struct{ flag, host, sdk, want string }{
		{"", "abc123.execute-api.ap-southeast-2.amazonaws.com", "eu-west-1", "ap-southeast-2"},
		{"us-west-2", "abc123.execute-api.ap-southeast-2.amazonaws.com", "eu-west-1", "us-west-2"},
		{"", "abc123.execute-api.cn-north-1.amazonaws.com.cn", "", "cn-north-1"},
		{"", "ABC123.EXECUTE-API.AP-SOUTHEAST-2.AMAZONAWS.COM.", "eu-west-1", "ap-southeast-2"},
		{"", "abc123-vpce-0a1b2c3d.execute-api.us-east-1.vpce.amazonaws.com", "eu-west-1", "us-east-1"},
		{"", "abc123.execute-api.eusc-de-east-1.amazonaws.eu", "eu-west-1", "eusc-de-east-1"},
		{"", "abc123.execute-api.us-iso-east-1.c2s.ic.gov", "", "us-iso-east-1"},
		{"", "abc123.execute-api.eu-isoe-west-1.cloud.adc-e.uk", "", "eu-isoe-west-1"},
		{"", "execute-api.example.com", "eu-west-1", "eu-west-1"},
		{"", "api.partner.example", "eu-west-1", "eu-west-1"},
		{"", "api.partner.example", "", ""},
	}
	for _, tc := range regions {
		if got := signingRegion(tc.flag, tc.host, tc.sdk); got != tc.want {
			t.Errorf("signingRegion(%q, %q, %q) = %q, want %q", tc.flag, tc.host, tc.sdk, got, tc.want)
		}
	}
}

// The workload commands (credentials, profiles, terraform) authorize as
// the ops commands' --auth auto: a deployed API's execute-api host is
// signed with SigV4 even in a shell that exported serve's
// ROLECALL_OPS_TOKEN (API Gateway would refuse the token, which would have
// left the machine for nothing), and a loopback API without the token is
// refused before anything is sent.
func TestWorkloadClientAuthIsTheOpsCommandsAuto(t *testing.T) {
	tests := []struct {
		api, token string
		want       string // "token", the SigV4 region, or "usage"
	}{
		{"https://abc123.execute-api.eu-west-1.amazonaws.com", "serve-ops-token", "eu-west-1"},
		{"https://abc123.execute-api.eu-west-1.amazonaws.com", "", "eu-west-1"},
		{"http://127.0.0.1:8080", "serve-ops-token", "token"},
		{"https://api.partner.example", "serve-ops-token", "token"},
		{"https://api.partner.example", "", "us-west-2"},
		{"http://127.0.0.1:8080", "", "usage"},
	}
	cfg := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	for _, tc := range tests {
		t.Setenv("ROLECALL_OPS_TOKEN", tc.token)
		o := apiOptions{api: tc.api}
		api, err := o.client(cfg)
		got := "usage"
		switch a := authOf(api).(type) {
		case access.BearerToken:
			got = "token"
			if string(a) != tc.token {
				t.Errorf("%+v: bearer token %q", tc, string(a))
			}
		case access.SigV4:
			got = a.Region
		}
		if _, usage := err.(usageError); err != nil && !usage {
			t.Errorf("%+v: %v is not a usage error", tc, err)
		}
		if got != tc.want {
			t.Errorf("client(%q) with ROLECALL_OPS_TOKEN %q authorizes with %q, want %q", tc.api, tc.token, got, tc.want)
		}
	}
}

// authOf is api's Authorizer, nil for no api.
func authOf(api *access.API) access.Authorizer {
	if api == nil {
		return nil
	}
	return api.Auth
}

// fakeLogs answers FilterLogEvents (JSON 1.1) for one log group with two
// pages of events, then (for --follow) the same events again; calls
// receives each call's number.
type fakeLogs struct {
	t      *testing.T
	group  string
	mu     sync.Mutex
	groups []string
	calls  chan int
	n      int
}

func logEvent(id, detailType, tenant, account, status string, at time.Time) map[string]any {
	ev := map[string]any{"id": "bus-" + id, "detail-type": detailType, "source": "rolecall", "time": at.Format(time.RFC3339),
		"detail": map[string]any{"eventId": id, "tenantId": tenant, "accountId": account, "status": status, "occurredAt": at.Format(time.RFC3339Nano),
			"reason": map[string]any{"code": "", "message": ""}, "version": 1}}
	b, _ := json.Marshal(ev)
	return map[string]any{"eventId": "log-" + id, "timestamp": at.UnixMilli(), "message": string(b), "logStreamName": "s"}
}

func (f *fakeLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "Logs_20140328.FilterLogEvents" {
		f.t.Errorf("target %q", got)
	}
	var in struct {
		LogGroupName string `json:"logGroupName"`
		NextToken    string `json:"nextToken"`
		StartTime    int64  `json:"startTime"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &in)
	f.mu.Lock()
	f.groups = append(f.groups, in.LogGroupName)
	f.n++
	n := f.n
	f.mu.Unlock()
	// Ten minutes ago: inside the default --since, and, like the service,
	// nothing before the request's startTime is answered.
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var evs []any
	if in.NextToken == "" {
		evs = []any{
			logEvent("e1", "Role Submitted", "acme", "111122223333", "PENDING", at),
			map[string]any{"eventId": "log-junk", "timestamp": at.UnixMilli(), "message": "not an event"},
		}
	} else {
		evs = []any{logEvent("e2", "Role Verified", "acme", "111122223333", "VERIFIED", at.Add(time.Second))}
	}
	out := map[string]any{"events": slices.DeleteFunc(evs, func(e any) bool { return e.(map[string]any)["timestamp"].(int64) < in.StartTime })}
	if in.NextToken == "" {
		out["nextToken"] = "page-2"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
	if f.calls != nil {
		select {
		case f.calls <- n:
		default:
		}
	}
}

func TestEventsFromTheStacksLogGroup(t *testing.T) {
	tests := []struct {
		name    string
		outputs map[string]string
		args    []string
		group   string
	}{
		{"the stack's output", map[string]string{"ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/", "EventLogGroupName": "/aws/events/rolecall-dev"}, []string{"--stack", "rc-dev"}, "/aws/events/rolecall-dev"},
		{"a stack without the output: its Stage", map[string]string{"ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/"}, []string{"--stack", "rc-dev"}, "/aws/events/rolecall-dev"},
		{"--log-group", nil, []string{"--log-group", "/custom/events"}, "/custom/events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &fakeLogs{t: t}
			ls := httptest.NewServer(logs)
			defer ls.Close()
			awsEnv(t, fakeCloudFormation(t, tc.outputs).URL, ls.URL)
			r := rolecall(t, append([]string{"events"}, tc.args...)...).must(t, 0)
			rs := rows(r.stdout)
			if len(rs) != 3 || rs[1][1] != "Role Submitted" || rs[2][1] != "Role Verified" || rs[2][2] != "acme" || rs[2][4] != "VERIFIED" {
				t.Errorf("events:\n%s", r.stdout)
			}
			if fmt.Sprint(logs.groups) != fmt.Sprint([]string{tc.group, tc.group}) {
				t.Errorf("read groups %v, want %s twice (two pages)", logs.groups, tc.group)
			}
			j := rolecall(t, append([]string{"events", "--json"}, tc.args...)...).must(t, 0)
			lines := strings.Split(strings.TrimSpace(j.stdout), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], `"detail-type":"Role Submitted"`) || !json.Valid([]byte(lines[1])) {
				t.Errorf("events --json:\n%s", j.stdout)
			}
		})
	}

	t.Run("follow prints each log event once", func(t *testing.T) {
		logs := &fakeLogs{t: t, calls: make(chan int, 1)}
		out := followLogs(t, logs, logs.calls, 6) // three polls of two pages
		if c := strings.Count(out, "\n"); c != 2 {
			t.Errorf("%d lines, want each of the 2 events once:\n%s", c, out)
		}
	})
}

// followLogs runs `events --log-group /g --follow --json` against the
// FilterLogEvents stand-in logs, which reports each call's number on
// calls, until the until-th call, then interrupts it; it returns what the
// command printed.
func followLogs(t *testing.T, logs http.Handler, calls <-chan int, until int) string {
	t.Helper()
	eventsPoll = time.Millisecond
	t.Cleanup(func() { eventsPoll = time.Second })
	ls := httptest.NewServer(logs)
	defer ls.Close()
	awsEnv(t, "http://127.0.0.1:1", ls.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	root := newRoot()
	root.SetArgs([]string{"events", "--log-group", "/g", "--follow", "--json"})
	root.SetOut(&out)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	for n := range calls {
		if n >= until {
			break
		}
	}
	cancel()
	if err := <-done; exitStatus(err) != 0 {
		t.Fatalf("follow: %v", err)
	}
	return out.String()
}

// lateLogs stands in for FilterLogEvents and honours startTime, as the
// service does: the first poll finds e2 (at T+2s); from the second on, e1
// (at T, published late, as a retrying publisher's events are) is in the
// group too. It reports each poll's number on calls.
type lateLogs struct {
	mu    sync.Mutex
	n     int
	at    time.Time
	calls chan int
}

func (f *lateLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		StartTime int64 `json:"startTime"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &in)
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	all := []map[string]any{logEvent("e2", "Role Verified", "acme", "111122223333", "VERIFIED", f.at.Add(2*time.Second))}
	if n > 1 {
		all = append([]map[string]any{logEvent("e1", "Role Submitted", "bravo", "444455556666", "PENDING", f.at)}, all...)
	}
	var evs []any
	for _, e := range all {
		if e["timestamp"].(int64) >= in.StartTime {
			evs = append(evs, e)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": evs})
	select {
	case f.calls <- n:
	default:
	}
}

// TestFollowLogsPrintsLateEvents: `events --follow` on a log group prints
// an event that reached the group after a newer one, and each event once.
func TestFollowLogsPrintsLateEvents(t *testing.T) {
	logs := &lateLogs{at: time.Now().Add(-10 * time.Second).Truncate(time.Second), calls: make(chan int, 1)}
	out := followLogs(t, logs, logs.calls, 4)
	for _, id := range []string{"e1", "e2"} {
		if n := strings.Count(out, `"eventId":"`+id+`"`); n != 1 {
			t.Errorf("%s printed %d times, want once:\n%s", id, n, out)
		}
	}
}

// TestAWSRefusalKeepsTheSessionTokenOutOfStderr: an AWS service that refuses
// a signature (a secret key that does not match, a proxy that changed the
// request) answers, as DynamoDB and CloudWatch Logs do, with the canonical
// request it computed, whose signed headers hold the session token. The
// ops commands print what went wrong without it, as the workload commands
// do.
func TestAWSRefusalKeepsTheSessionTokenOutOfStderr(t *testing.T) {
	logs := httptest.NewServer(awsfake.SignatureRefused(true))
	defer logs.Close()
	awsEnv(t, "http://127.0.0.1:1", logs.URL)
	r := rolecall(t, "events", "--log-group", "/aws/events/rolecall-dev").must(t, 1)
	if !strings.Contains(r.stderr, "InvalidSignatureException") || !strings.Contains(r.stderr, "does not match the signature you provided") {
		t.Errorf("stderr does not say what went wrong:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, deployedCreds.SessionToken) || strings.Contains(r.stderr, "Canonical String") {
		t.Errorf("SECURITY: stderr carries the canonical request with the session token:\n%s", r.stderr)
	}
}
