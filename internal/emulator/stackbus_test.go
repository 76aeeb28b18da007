package emulator

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// waitEnvelope waits for the first event of detailType on serve's stdout.
func waitEnvelope(t *testing.T, out *syncbuf.Buffer, detailType string) bus.Envelope {
	t.Helper()
	// Each event is one write of one JSON line, so once its detail-type is
	// there, so is the whole line.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out.WaitFor(ctx, `"detail-type":"`+detailType+`"`) {
		for _, line := range strings.Split(out.String(), "\n") {
			var env bus.Envelope
			if json.Unmarshal([]byte(line), &env) == nil && env.DetailType == detailType {
				return env
			}
		}
	}
	t.Fatalf("no %s event on stdout:\n%s", detailType, out.String())
	return bus.Envelope{}
}

// TestDeployedStackBus runs serve with --aws, --event-bus and --queue-url
// against fakes, as against a deployed stack: the stack's Role Submitted
// rule enqueues submissions, so serve sends nothing to the queue itself
// (it would check each one twice), and its copy of each event carries the
// ID EventBridge assigned, the partner's account and the region.
func TestDeployedStackBus(t *testing.T) {
	fakeSQS, fakeEB := awsfake.NewSQS(), awsfake.NewEventBridge()
	sqsSrv, ebSrv := httptest.NewServer(fakeSQS), httptest.NewServer(fakeEB)
	t.Cleanup(sqsSrv.Close)
	t.Cleanup(ebSrv.Close)
	const accessKey = "AKIAROLECALLTESTBUS0"
	_, stsURL := sandboxSTS(t, accessKey)
	fakeAWSEnv(t, accessKey, "eu-west-1", map[string]string{
		"AWS_ENDPOINT_URL_SQS": sqsSrv.URL, "AWS_ENDPOINT_URL_STS": stsURL, "AWS_ENDPOINT_URL_EVENTBRIDGE": ebSrv.URL,
	})
	events := &syncbuf.Buffer{}
	o := testOptions(t, events)
	o.AWS, o.QueueURL, o.EventBusName, o.TrustedPrincipalARN = true, sqsSrv.URL+"/"+SandboxPartnerAccount+"/rolecall-verify", "rolecall-dev", SandboxPrincipalARN
	s := start(t, o)
	if !s.StackRoutesSubmissions {
		t.Fatal("serve subscribed its own Role Submitted rule beside the stack's")
	}
	submitAcmeRole(t, s)
	env := waitEnvelope(t, events, "Role Submitted")
	var put []awsfake.PutEntry
	for _, e := range fakeEB.Accepted() {
		if e.DetailType == "Role Submitted" {
			put = append(put, e)
		}
	}
	if len(put) != 1 || put[0].EventBusName != "rolecall-dev" {
		t.Fatalf("EventBridge got %+v, want one Role Submitted on rolecall-dev", put)
	}
	if env.ID != put[0].EventID || env.Account != SandboxPartnerAccount || env.Region != "eu-west-1" {
		t.Errorf("serve's copy has id %q, account %q, region %q; want EventBridge's %q, %s, eu-west-1", env.ID, env.Account, env.Region, put[0].EventID, SandboxPartnerAccount)
	}
	if n := fakeSQS.Calls("SendMessageBatch") + fakeSQS.Calls("SendMessage"); n != 0 {
		t.Errorf("serve sent %d batches to the stack's queue; the stack's rule does that", n)
	}
}

// TestSandboxEventsNameThePartner: without AWS, serve's events carry the
// sandbox partner's account and the region, not placeholders.
func TestSandboxEventsNameThePartner(t *testing.T) {
	events := &syncbuf.Buffer{}
	s := start(t, testOptions(t, events))
	submitAcmeRole(t, s)
	env := waitEnvelope(t, events, "Role Submitted")
	if env.Account != SandboxPartnerAccount || env.Region != "us-east-1" || env.ID == "" {
		t.Errorf("event account %q, region %q, id %q", env.Account, env.Region, env.ID)
	}
	if s.StackRoutesSubmissions {
		t.Error("the sandbox pipeline has no stack rule to rely on")
	}
}

func TestCheckStream(t *testing.T) {
	stream := func(enabled bool, view ddbtypes.StreamViewType) *ddbtypes.TableDescription {
		return &ddbtypes.TableDescription{LatestStreamArn: aws.String("arn:aws:dynamodb:us-east-1:1:table/t/stream/x"),
			StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(enabled), StreamViewType: view}}
	}
	for _, tc := range []struct {
		name string
		t    *ddbtypes.TableDescription
		want string // "" for accepted
	}{
		{"new and old images", stream(true, ddbtypes.StreamViewTypeNewAndOldImages), ""},
		{"keys only", stream(true, ddbtypes.StreamViewTypeKeysOnly), "streams KEYS_ONLY"},
		{"new image only", stream(true, ddbtypes.StreamViewTypeNewImage), "streams NEW_IMAGE"},
		{"disabled", stream(false, ddbtypes.StreamViewTypeNewAndOldImages), "has no stream"},
		{"no stream", &ddbtypes.TableDescription{}, "has no stream"},
		{"no table", nil, "has no stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkStream("rolecall-dev", tc.t)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkStream = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoopbackEndpoint(t *testing.T) {
	for ep, want := range map[string]bool{
		"http://127.0.0.1:8000": true, "http://localhost:8000": true, "http://[::1]:8000": true, "http://127.1.2.3": true,
		"https://dynamodb.us-east-1.amazonaws.com": false, "http://10.0.0.5:8000": false, "http://ddb.internal:8000": false, "::bad": false,
	} {
		if got := loopbackEndpoint(ep); got != want {
			t.Errorf("loopbackEndpoint(%q) = %v, want %v", ep, got, want)
		}
	}
}

// submitAcmeRole creates tenant acme and submits a role for it.
func submitAcmeRole(t *testing.T, s *Server) {
	t.Helper()
	ctx := context.Background()
	tn, err := s.Service.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.Submit(ctx, tn, "arn:aws:iam::210987654321:role/RoleCall"); err != nil {
		t.Fatal(err)
	}
}
