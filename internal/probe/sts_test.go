package probe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
)

// Credential values the fake STS returns; they must never leave the adapter.
const (
	wireAccessKeyID  = "ASIAWIRETESTKEY7EXAMPLE"
	wireSecretKey    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWIRESECRETKEY"
	wireSessionToken = "FwoGZXIvYXdzEBYaDWIRESESSIONTOKENEXAMPLEFwoGZXIvYXdzEBYaDExample=="
)

func assumeRoleXML(account string) string {
	return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:rolecall-acme-prod-0123456789ab</AssumedRoleId>
      <Arn>arn:aws:sts::` + account + `:assumed-role/RoleCall/rolecall-acme-prod-0123456789ab</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>` + wireAccessKeyID + `</AccessKeyId>
      <SecretAccessKey>` + wireSecretKey + `</SecretAccessKey>
      <SessionToken>` + wireSessionToken + `</SessionToken>
      <Expiration>2030-01-01T00:15:00Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`
}

func errorXML(typ, code, message string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>` + typ + `</Type>
    <Code>` + code + `</Code>
    <Message>` + message + `</Message>
  </Error>
  <RequestId>8c1a5d3e-2b1f-4c55-9e0e-1d2c3b4a5f60</RequestId>
</ErrorResponse>`
}

const deniedMessage = "User: arn:aws:iam::111122223333:user/rolecall-partner is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/RoleCall"

type reply struct {
	status int
	body   string
}

var (
	replyOK        = reply{200, assumeRoleXML(acct)}
	replyOther     = reply{200, assumeRoleXML(otherAcct)}
	replyDenied    = reply{403, errorXML("Sender", "AccessDenied", deniedMessage)}
	replyDisabled  = reply{403, errorXML("Sender", "RegionDisabledException", "STS is not activated in this region for account:123456789012. Your account administrator can activate STS in this region using the IAM Console.")}
	replyThrottled = reply{400, errorXML("Sender", "Throttling", "Rate exceeded")}
	replyInternal  = reply{500, errorXML("Receiver", "InternalFailure", "An internal error occurred.")}
	replyBare500   = reply{500, ""}
	replyBare503   = reply{503, ""}
	replyUnavail   = reply{503, errorXML("Receiver", "ServiceUnavailable", "Service is unavailable.")}
	replyExpired   = reply{403, errorXML("Sender", "ExpiredToken", "The security token included in the request is expired")}
	replyNoUser    = reply{200, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult></AssumeRoleResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></AssumeRoleResponse>`}
)

// replyIdentity is a successful AssumeRole response whose session is arn.
func replyIdentity(arn string) reply {
	return reply{200, strings.Replace(assumeRoleXML(acct), "arn:aws:sts::"+acct+":assumed-role/RoleCall/rolecall-acme-prod-0123456789ab", arn, 1)}
}

// fakeSTS is an httptest server speaking STS's Query protocol. It records
// the form of every request and answers with decide(form).
type fakeSTS struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	auth   []string
	decide func(form url.Values) reply
}

func newFakeSTS(t *testing.T, decide func(url.Values) reply) *fakeSTS {
	t.Helper()
	f := &fakeSTS{decide: decide}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.forms = append(f.forms, r.PostForm)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		rep := f.decide(r.PostForm)
		w.Header().Set("X-Amzn-Requestid", "8c1a5d3e-2b1f-4c55-9e0e-1d2c3b4a5f60")
		if rep.body != "" {
			w.Header().Set("Content-Type", "text/xml")
		}
		w.WriteHeader(rep.status)
		fmt.Fprint(w, rep.body)
	}))
	if !strings.HasPrefix(f.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback", f.URL)
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSTS) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}

// byExtID answers like a trust policy: by whether the call carries the
// tenant's external ID, none, or another one (the check's decoy).
func byExtID(current, none, decoy reply) func(url.Values) reply {
	return func(form url.Values) reply {
		switch {
		case !form.Has("ExternalId"):
			return none
		case form.Get("ExternalId") == externalID:
			return current
		}
		return decoy
	}
}

// stsAdapter wraps a real SDK client aimed at the fake server.
func stsAdapter(f *fakeSTS) *probe.STS {
	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIAPARTNEREXAMPLE", SecretAccessKey: "partner-secret", Source: "test"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	return &probe.STS{Client: client}
}

func assumeRequest(extID string) probe.AssumeRequest {
	return probe.AssumeRequest{
		RoleARN:         roleARN,
		ExternalID:      extID,
		SessionName:     probe.SessionName("acme-prod", acct),
		DurationSeconds: probe.SessionDuration,
		Policy:          probe.SessionPolicy,
	}
}

func TestSTSAdapterWire(t *testing.T) {
	tests := []struct {
		name    string
		reply   reply
		kind    error // nil: success
		code    string
		account string
	}{
		{"success", replyOK, nil, "", acct},
		{"success in another account", replyOther, nil, "", otherAcct},
		{"access denied", replyDenied, probe.ErrDenied, "AccessDenied", ""},
		{"region disabled", replyDisabled, probe.ErrRegionDisabled, "RegionDisabledException", ""},
		{"throttling", replyThrottled, probe.ErrTransient, "Throttling", ""},
		{"internal failure 500", replyInternal, probe.ErrTransient, "InternalFailure", ""},
		{"bare 500", replyBare500, probe.ErrTransient, "HTTP500", ""},
		{"bare 503", replyBare503, probe.ErrTransient, "HTTP503", ""},
		{"service unavailable 503", replyUnavail, probe.ErrTransient, "ServiceUnavailable", ""},
		{"partner token expired is not the customer's fault", replyExpired, probe.ErrTransient, "ExpiredToken", ""},
		{"response without assumed role user", replyNoUser, probe.ErrTransient, "MalformedResponse", ""},
		// A 200 whose identity is not a role session (garbled, or another
		// kind of principal) says nothing of the role's account.
		{"identity that is not an ARN", replyIdentity("garbage"), probe.ErrTransient, "MalformedResponse", ""},
		{"identity of a user", replyIdentity("arn:aws:iam::" + acct + ":user/RoleCall"), probe.ErrTransient, "MalformedResponse", ""},
		{"identity without account", replyIdentity("arn:aws:sts:::assumed-role/RoleCall/s"), probe.ErrTransient, "MalformedResponse", ""},
		// Nor does a session of another role than the one asked for, or
		// in another partition, say anything of the role.
		{"session of another role", replyIdentity("arn:aws:sts::" + acct + ":assumed-role/Admin/s"), probe.ErrTransient, "MalformedResponse", ""},
		{"session in another partition", replyIdentity("arn:aws-cn:sts::" + acct + ":assumed-role/RoleCall/s"), probe.ErrTransient, "MalformedResponse", ""},
		// A 403 without an STS error document (a proxy, a firewall) is
		// not evidence about the customer's role.
		{"bare 403 is not the customer's fault", reply{403, ""}, probe.ErrTransient, "HTTP403", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSTS(t, func(url.Values) reply { return tt.reply })
			s, err := stsAdapter(f).AssumeRole(context.Background(), assumeRequest(externalID))
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("AssumeRole: %v", err)
				}
				want := probe.Session{AssumedRoleARN: "arn:aws:sts::" + tt.account + ":assumed-role/RoleCall/rolecall-acme-prod-0123456789ab", AccountID: tt.account}
				if s != want {
					t.Fatalf("session %+v, want %+v", s, want)
				}
			} else {
				if err == nil {
					t.Fatalf("AssumeRole succeeded, want %v", tt.kind)
				}
				for _, k := range []error{probe.ErrDenied, probe.ErrRegionDisabled, probe.ErrTransient} {
					if errors.Is(err, k) != (k == tt.kind) {
						t.Fatalf("errors.Is(%v, %v) = %v", err, k, !(k == tt.kind))
					}
				}
				var se *probe.STSError
				if !errors.As(err, &se) {
					t.Fatalf("error %T is not an *STSError", err)
				}
				if tt.code != "" && se.Code != tt.code {
					t.Fatalf("code %q, want %q", se.Code, tt.code)
				}
				if s != (probe.Session{}) {
					t.Fatalf("failed call returned session %+v", s)
				}
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1 (RetryMaxAttempts 1)", len(reqs))
			}
			form := reqs[0]
			want := map[string]string{
				"Action":          "AssumeRole",
				"Version":         "2011-06-15",
				"RoleArn":         roleARN,
				"RoleSessionName": probe.SessionName("acme-prod", acct),
				"DurationSeconds": "900",
				"Policy":          probe.SessionPolicy,
				"ExternalId":      externalID,
			}
			for k, v := range want {
				if got := form.Get(k); got != v {
					t.Errorf("param %s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(f.auth[0], "Credential=AKIAPARTNEREXAMPLE/") || !strings.Contains(f.auth[0], "/us-east-1/sts/aws4_request") {
				t.Errorf("request not SigV4-signed for sts in us-east-1: %q", f.auth[0])
			}
		})
	}
}

func TestSTSAdapterOmitsEmptyExternalID(t *testing.T) {
	f := newFakeSTS(t, func(url.Values) reply { return replyDenied })
	_, err := stsAdapter(f).AssumeRole(context.Background(), assumeRequest(""))
	if !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	if form := f.requests()[0]; form.Has("ExternalId") {
		t.Fatalf("ExternalId sent as %q, want absent", form.Get("ExternalId"))
	}
}

func TestSTSAdapterDeniedMessageIsKept(t *testing.T) {
	// Classification is by code, but the STS message stays available for
	// operators in the wrapped error.
	f := newFakeSTS(t, func(url.Values) reply { return replyDenied })
	_, err := stsAdapter(f).AssumeRole(context.Background(), assumeRequest(externalID))
	if !strings.Contains(err.Error(), "is not authorized to perform: sts:AssumeRole") {
		t.Fatalf("error %q lost STS's message", err)
	}
}

func TestSTSAdapterTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFakeSTS(t, func(url.Values) reply { <-release; return replyOK })
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := stsAdapter(f).AssumeRole(ctx, assumeRequest(externalID))
	var se *probe.STSError
	if !errors.Is(err, probe.ErrTransient) || !errors.As(err, &se) || se.Code != "Timeout" {
		t.Fatalf("err = %v, want transient Timeout", err)
	}
}

func TestSTSAdapterConnectionRefused(t *testing.T) {
	f := newFakeSTS(t, func(url.Values) reply { return replyOK })
	a := stsAdapter(f)
	f.Close()
	_, err := a.AssumeRole(context.Background(), assumeRequest(externalID))
	if !errors.Is(err, probe.ErrTransient) || errors.Is(err, probe.ErrDenied) {
		t.Fatalf("err = %v, want transient", err)
	}
}

// TestCheckThroughSTS runs whole checks through the real SDK client.
func TestCheckThroughSTS(t *testing.T) {
	tests := []struct {
		name   string
		decide func(url.Values) reply
		want   connection.Result
		detail string
		calls  map[kind]int // requests by the kind of their ExternalId
	}{
		{"ok", byExtID(replyOK, replyDenied, replyDenied), connection.ResultOK, "", map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"no condition", byExtID(replyOK, replyOK, replyOK), connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID, map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"any external ID", byExtID(replyOK, replyDenied, replyOK), connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID, map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"denied", byExtID(replyDenied, replyDenied, replyDenied), connection.ResultDenied, "AccessDenied", map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"account mismatch", byExtID(replyOther, replyDenied, replyDenied), connection.ResultAccountMismatch, otherAcct, map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"garbled identity is not an account mismatch", byExtID(replyIdentity("garbage"), replyDenied, replyDenied), connection.ResultTransient, "MalformedResponse", map[kind]int{kCurrent: 3, kNone: 1, kDecoy: 1}},
		{"a session of another role does not verify this one", byExtID(replyIdentity("arn:aws:sts::"+acct+":assumed-role/Admin/s"), replyDenied, replyDenied), connection.ResultTransient, "MalformedResponse", map[kind]int{kCurrent: 3, kNone: 1, kDecoy: 1}},
		// IAM role names are unique whatever their case: a session of the
		// role's name spelt in another case is this role's.
		{"the role's name in another case", byExtID(replyIdentity("arn:aws:sts::"+acct+":assumed-role/ROLECALL/s"), replyDenied, replyDenied), connection.ResultOK, "", map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{"region disabled", byExtID(replyDisabled, replyDisabled, replyDisabled), connection.ResultRegionDisabled, "RegionDisabledException", map[kind]int{kCurrent: 1}},
		{"throttled", byExtID(replyThrottled, replyDenied, replyDenied), connection.ResultTransient, "Throttling", map[kind]int{kCurrent: 3, kNone: 1, kDecoy: 1}},
		{"500", byExtID(replyBare500, replyDenied, replyDenied), connection.ResultTransient, "", map[kind]int{kCurrent: 3}},
		{"throttled without external ID", byExtID(replyOK, replyThrottled, replyDenied), connection.ResultTransient, "Throttling", map[kind]int{kCurrent: 1, kNone: 3, kDecoy: 1}},
		{"throttled decoy", byExtID(replyOK, replyDenied, replyThrottled), connection.ResultTransient, "Throttling", map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSTS(t, tt.decide)
			rep := newChecker(stsAdapter(f), nil).Check(context.Background(), request())
			if rep.Outcome.Result != tt.want {
				t.Fatalf("result %s (%s), want %s; steps %+v", rep.Outcome.Result, rep.Outcome.Detail, tt.want, rep.Steps)
			}
			if tt.detail != "" && rep.Outcome.Detail != tt.detail {
				t.Fatalf("detail %q, want %q", rep.Outcome.Detail, tt.detail)
			}
			got := map[kind]int{}
			for i, form := range f.requests() {
				if form.Get("Action") != "AssumeRole" || form.Get("DurationSeconds") != "900" ||
					form.Get("Policy") != probe.SessionPolicy || form.Get("RoleArn") != roleARN ||
					!stsSessionName.MatchString(form.Get("RoleSessionName")) {
					t.Fatalf("request %d: %v", i, form)
				}
				k := kNone
				if form.Has("ExternalId") {
					k = kindOf(form.Get("ExternalId"))
					if k == kDecoy && !externalIDShape.MatchString(form.Get("ExternalId")) {
						t.Fatalf("request %d: decoy %q not shaped like an external ID", i, form.Get("ExternalId"))
					}
				}
				got[k]++
			}
			for k, n := range tt.calls {
				if got[k] != n {
					t.Errorf("%d requests with the %s external ID, want %d (all: %v)", got[k], k, n, got)
				}
			}
			if got[kCurrent] == 0 || got[kNone] == 0 || got[kDecoy] == 0 {
				t.Errorf("requests %v: every check sends all three probes", got)
			}
		})
	}
}

// TestCheckLogsNoCredentials runs checks through the SDK with debug logging
// and proves that no credential value STS returned reaches the log.
func TestCheckLogsNoCredentials(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var h slog.Handler = slog.NewJSONHandler(&buf, opts)
			if format == "text" {
				h = slog.NewTextHandler(&buf, opts)
			}
			log := slog.New(h)
			prev := slog.Default()
			slog.SetDefault(log) // catch anything that logs to the default logger too
			defer slog.SetDefault(prev)

			results := map[connection.Result]bool{}
			for _, decide := range []func(url.Values) reply{
				byExtID(replyOK, replyDenied, replyDenied),    // ok
				byExtID(replyOK, replyOK, replyOK),            // not enforced: credentials three times
				byExtID(replyOther, replyDenied, replyDenied), // account mismatch
				byExtID(replyOK, replyThrottled, replyDenied), // transient after a success
			} {
				f := newFakeSTS(t, decide)
				rep := newChecker(stsAdapter(f), log).Check(context.Background(), request())
				results[rep.Outcome.Result] = true
			}
			if len(results) != 4 {
				t.Fatalf("results %v, want four different outcomes", results)
			}
			out := buf.String()
			if !strings.Contains(out, "role check") || !strings.Contains(out, "sts call failed") {
				t.Fatalf("expected check logs at debug level, got:\n%s", out)
			}
			for _, secret := range []string{wireAccessKeyID, wireSecretKey, wireSessionToken, externalID, "partner-secret"} {
				if strings.Contains(out, secret) {
					t.Fatalf("log contains %q:\n%s", secret, out)
				}
			}
		})
	}
}
