package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/tenant"
)

// decodeWithRecords strictly decodes b as a T and refuses an event with no
// records.
func decodeWithRecords[T any](b []byte, records func(T) int) error {
	var ev T
	if err := strictDecode(b, &ev); err != nil {
		return err
	}
	if records(ev) == 0 {
		return fmt.Errorf("no records")
	}
	return nil
}

// strictDecode decodes b into v, refusing fields v does not know.
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// TestSamplesDecode: every events/ sample is the event type its function
// takes (sam local invoke -e events/<function>/<file>.json).
func TestSamplesDecode(t *testing.T) {
	counts := map[string]int{}
	err := filepath.WalkDir(filepath.Join(root, "events"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(root, "events"), path)
		dir := strings.Split(filepath.ToSlash(rel), "/")[0]
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var derr error
		switch dir {
		case "api":
			var ev events.APIGatewayV2HTTPRequest
			derr = strictDecode(b, &ev)
		case "publish":
			derr = decodeWithRecords(b, func(ev events.DynamoDBEvent) int { return len(ev.Records) })
		case "verify":
			derr = decodeWithRecords(b, func(ev events.SQSEvent) int { return len(ev.Records) })
		case "register":
			derr = decodeWithRecords(b, func(ev events.SNSEvent) int { return len(ev.Records) })
		case "sweep":
			var in sweep.Input
			derr = strictDecode(b, &in)
		case "schemas":
			var v map[string]any
			derr = json.Unmarshal(b, &v)
		default:
			derr = fmt.Errorf("unexpected directory events/%s", dir)
		}
		if derr != nil {
			t.Errorf("%s: %v", rel, derr)
		}
		counts[dir]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"api", "publish", "verify", "sweep", "schemas", "register"} {
		if counts[dir] == 0 {
			t.Errorf("no sample under events/%s", dir)
		}
	}
}

// route is one route of the HTTP API in the template.
type route struct {
	key string // "GET /v1/invite" or "$default"
	iam bool
}

func templateRoutes(t *testing.T) []route {
	t.Helper()
	var out []route
	for _, fn := range template(t).Resources("AWS::Serverless::Function") {
		for _, e := range m(m(fn["Properties"])["Events"]) {
			if m(e)["Type"] != "HttpApi" {
				continue
			}
			p := m(m(e)["Properties"])
			r := route{key: "$default", iam: m(p["Auth"])["Authorizer"] == "AWS_IAM"}
			if p["Method"] != nil {
				r.key = fmt.Sprintf("%v %v", p["Method"], p["Path"])
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b route) int { return strings.Compare(a.key, b.key) })
	return out
}

func apiSamples(t *testing.T) map[string]events.APIGatewayV2HTTPRequest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", "api", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no API samples: %v", err)
	}
	out := map[string]events.APIGatewayV2HTTPRequest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = ev
	}
	return out
}

// TestAPISamplesCoverEveryRoute: one sample per route of the template,
// with the IAM authorizer's context exactly on the AWS_IAM routes, and a
// path the route matches.
func TestAPISamplesCoverEveryRoute(t *testing.T) {
	routes := templateRoutes(t)
	byKey := map[string]route{}
	for _, r := range routes {
		byKey[r.key] = r
	}
	seen := map[string]bool{}
	for name, ev := range apiSamples(t) {
		r, ok := byKey[ev.RouteKey]
		if !ok {
			t.Errorf("%s: route %q is not in template.yaml", name, ev.RouteKey)
			continue
		}
		seen[ev.RouteKey] = true
		if ev.Version != "2.0" || ev.RequestContext.RouteKey != ev.RouteKey || ev.RequestContext.HTTP.Path != ev.RawPath {
			t.Errorf("%s: version %q, context route %q, path %q vs %q", name, ev.Version, ev.RequestContext.RouteKey, ev.RequestContext.HTTP.Path, ev.RawPath)
		}
		hasIAM := ev.RequestContext.Authorizer != nil && ev.RequestContext.Authorizer.IAM != nil
		if hasIAM != r.iam {
			t.Errorf("%s: IAM context %v, route uses AWS_IAM %v", name, hasIAM, r.iam)
		}
		if r.key == "$default" {
			continue
		}
		method, path, _ := strings.Cut(r.key, " ")
		re := "^" + regexp.MustCompile(`\\\{[A-Za-z]+\\\+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), ".+") + "$"
		re = regexp.MustCompile(`\\\{[A-Za-z]+\\\}`).ReplaceAllString(re, "[^/]+")
		if ev.RequestContext.HTTP.Method != method || !regexp.MustCompile(re).MatchString(ev.RawPath) {
			t.Errorf("%s: %s %s does not match route %s", name, ev.RequestContext.HTTP.Method, ev.RawPath, r.key)
		}
	}
	for _, r := range routes {
		if !seen[r.key] {
			t.Errorf("no sample for route %s", r.key)
		}
	}
}

const (
	sampleInvite = "abcdefghijklmnopqrstuvwxyz234567abcdefg"
	// sampleInviteID is the sample invite's ID, which events/api's
	// revoke-invite sample names.
	sampleInviteID = "inv-01954f2b8c00a1b2c3d4e5f60718"
	samplePartner  = "111122223333"
)

// sampleAPI is the API handler on a memory store holding what the samples
// refer to: tenant acme, the sample invite, a connection of 123456789012.
func sampleAPI(t *testing.T) *httpadapter.HandlerAdapterV2 {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st := store.NewMemory()
	tn, err := tenant.New("acme", "Acme Corp", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInvite(ctx, tenant.Invite{ID: sampleInviteID, Hash: tenant.HashCode(sampleInvite), TenantID: "acme", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	svc := &onboarding.Service{Store: st, Queue: queue.NewMemory(), Policy: connection.DefaultPolicy(),
		Rules: rolearn.Rules{Partition: "aws", OwnAccount: samplePartner}, Now: func() time.Time { return now }}
	if _, err := svc.Submit(ctx, tn, "arn:aws:iam::123456789012:role/RoleCallAccess"); err != nil {
		t.Fatal(err)
	}
	regs := store.NewMemoryRegistrations()
	if err := regs.PutRegistrationToken(ctx, registration.Token{ID: "rtk-0123456789abcdef0123", TenantID: "acme",
		Hash: registration.Hash("rcr_sample"), CreatedAt: now, ExpiresAt: now.Add(registration.DefaultTTL)}); err != nil {
		t.Fatal(err)
	}
	principal := "arn:aws:iam::" + samplePartner + ":role/rolecall-dev-verifier"
	h, err := httpapi.New(httpapi.Config{
		Registrations: &onboarding.Registrations{Service: svc, Tokens: regs},
		Service:       svc, Ops: httpapi.APIGatewayIAM{Accounts: []string{samplePartner}},
		PartnerAccountID: samplePartner, TrustedPrincipalARN: principal, EventSource: "rolecall",
		Setup: httpapi.RoleSetup{TrustedPrincipalARN: principal, Region: "us-east-1"},
		Log:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return httpadapter.NewV2(h)
}

// TestAPISamplesRunAgainstTheHandler: each sample, run through the
// Lambda adapter against the API handler, gets the answer its route gives.
func TestAPISamplesRunAgainstTheHandler(t *testing.T) {
	want := map[string]int{
		"get-invite": 200, "get-invite-template": 200, "submit-connection": 202, "get-connection": 200,
		"connect-page": 200, "static-file": 200, "create-tenant": 201, "create-invite": 201,
		"rotate-external-id": 200, "list-tenant-connections": 200, "list-connections": 200,
		"request-check": 202, "disconnect": 200, "default-not-found": 404,
		"check-connection": 202, "home": 200,
		"list-invites": 200, "revoke-invite": 200,
		// The sample connection is PENDING: its access is refused.
		"get-access": 409, "list-access": 200,
		"list-tenants": 200, "get-tenant": 200, "update-tenant": 200, "get-connection-history": 200,
		"create-registration-token": 201, "list-registration-tokens": 200, "revoke-registration-token": 200,
		"submit-connections-batch": 200,
	}
	samples := apiSamples(t)
	if len(samples) != len(want) {
		t.Errorf("%d API samples, want %d", len(samples), len(want))
	}
	for name, ev := range samples {
		t.Run(name, func(t *testing.T) {
			resp, err := sampleAPI(t).ProxyWithContext(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != want[name] {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, want[name], resp.Body)
			}
			if ct := resp.Headers["Content-Type"]; strings.HasPrefix(ct, "application/json") && !json.Valid([]byte(resp.Body)) {
				t.Errorf("invalid JSON body %s", resp.Body)
			}
		})
	}
}
