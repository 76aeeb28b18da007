package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
)

const (
	partnerRole = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	partnerKey  = "AKIASANDBOXPARTNER01"
	otherRole   = "arn:aws:iam::444455556666:role/SomeoneElse"
	otherKey    = "AKIASANDBOXOTHER0001"
	customer    = "210987654321"
	roleARN     = "arn:aws:iam::210987654321:role/RoleCallAccess"
	looseARN    = "arn:aws:iam::210987654321:role/NoExternalId"
	deniedARN   = "arn:aws:iam::210987654321:role/DenyAll"
	externalID  = "rc-CONTRACTCONTRACTCONTRACT234"
)

var (
	_ probe.Assumer = (*probe.STS)(nil)
	_ probe.Assumer = sandbox.New(sandbox.Config{}).Assumer(partnerRole)
)

func enforcedPolicy(principal, extID string) []byte {
	return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal +
		`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`)
}

func loosePolicy(principal string) []byte {
	return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`)
}

// newSandbox returns a sandbox with the contract's roles.
func newSandbox(t *testing.T, seed int64) *sandbox.STS {
	t.Helper()
	s := sandbox.New(sandbox.Config{
		Callers: map[string]string{partnerKey: partnerRole, otherKey: otherRole},
		Seed:    seed,
	})
	for arn, doc := range map[string][]byte{
		roleARN:   enforcedPolicy(partnerRole, externalID),
		looseARN:  loosePolicy(partnerRole),
		deniedARN: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"*"}]}`),
	} {
		if err := s.PutRole(arn, doc); err != nil {
			t.Fatalf("PutRole(%s): %v", arn, err)
		}
	}
	return s
}

// stsClient is the real SDK client against the sandbox's HTTP endpoint, with
// a single attempt per call so that fault injection is deterministic.
func stsClient(url, accessKey, region string) *sts.Client {
	return sts.New(sts.Options{
		Region:           region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, sandbox.DefaultCallerSecret(accessKey), ""),
		RetryMaxAttempts: 1,
	})
}

// adapter builds the Assumer under test, calling as the given principal.
type adapter struct {
	name string
	make func(t *testing.T, s *sandbox.STS, caller string) probe.Assumer
}

func adapters() []adapter {
	keys := map[string]string{partnerRole: partnerKey, otherRole: otherKey}
	return []adapter{
		{"http+sdk", func(t *testing.T, s *sandbox.STS, caller string) probe.Assumer {
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			return &probe.STS{Client: stsClient(srv.URL, keys[caller], "us-east-1")}
		}},
		{"embedded", func(t *testing.T, s *sandbox.STS, caller string) probe.Assumer {
			return s.Assumer(caller)
		}},
	}
}

func req(role, extID string) probe.AssumeRequest {
	return probe.AssumeRequest{
		RoleARN:         role,
		ExternalID:      extID,
		SessionName:     probe.SessionName("tenant-1", customer),
		DurationSeconds: probe.SessionDuration,
		Policy:          probe.SessionPolicy,
	}
}

// TestAssumerContract runs one suite against both adapters of the port: the
// STS adapter through the real SDK over HTTP, and the embedded adapter.
func TestAssumerContract(t *testing.T) {
	type want struct {
		kind error  // nil: success
		code string // STSError code
	}
	tooShort := req(roleARN, "x")
	badSession := req(roleARN, externalID)
	badSession.SessionName = "has space"
	longSession := req(roleARN, externalID)
	longSession.SessionName = strings.Repeat("s", 65)
	longDuration := req(roleARN, externalID)
	longDuration.DurationSeconds = 7200
	withPolicy := func(doc string) probe.AssumeRequest {
		r := req(roleARN, externalID)
		r.Policy = doc
		return r
	}

	tests := []struct {
		name   string
		caller string
		in     probe.AssumeRequest
		setup  func(s *sandbox.STS)
		want   want
	}{
		{"right external ID", partnerRole, req(roleARN, externalID), nil, want{}},
		{"wrong external ID", partnerRole, req(roleARN, "rc-WRONGWRONG"), nil, want{probe.ErrDenied, "AccessDenied"}},
		{"without external ID", partnerRole, req(roleARN, ""), nil, want{probe.ErrDenied, "AccessDenied"}},
		{"role without the condition, no external ID", partnerRole, req(looseARN, ""), nil, want{}},
		{"caller of another account", otherRole, req(roleARN, externalID), nil, want{probe.ErrDenied, "AccessDenied"}},
		{"explicit deny", partnerRole, req(deniedARN, externalID), nil, want{probe.ErrDenied, "AccessDenied"}},
		{"unknown role is denied like a refusing one", partnerRole, req("arn:aws:iam::210987654321:role/Nope", externalID), nil, want{probe.ErrDenied, "AccessDenied"}},
		{"deleted role", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.DeleteRole(roleARN) }, want{probe.ErrDenied, "AccessDenied"}},
		{"region disabled", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetRegionDisabled(customer, "us-east-1", true) }, want{probe.ErrRegionDisabled, "RegionDisabledException"}},
		{"region disabled for another account only", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetRegionDisabled("999999999999", "us-east-1", true) }, want{}},
		// The caller's account, not the role's, has not enabled the Region:
		// its request is refused before any role is asked.
		{"region not enabled in the caller's account", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetRegionNotEnabled("111122223333", "us-east-1", true) }, want{probe.ErrTransient, "InvalidClientTokenId"}},
		{"region not enabled in another account only", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetRegionNotEnabled("999999999999", "us-east-1", true) }, want{}},
		{"external ID too short", partnerRole, tooShort, nil, want{probe.ErrTransient, "ValidationError"}},
		{"invalid session name", partnerRole, badSession, nil, want{probe.ErrTransient, "ValidationError"}},
		{"session name too long", partnerRole, longSession, nil, want{probe.ErrTransient, "ValidationError"}},
		{"duration above the role's maximum", partnerRole, longDuration, nil, want{probe.ErrTransient, "ValidationError"}},
		{"session policy not JSON", partnerRole, withPolicy("{not json"), nil, want{probe.ErrTransient, "MalformedPolicyDocument"}},
		{"session policy without a statement", partnerRole, withPolicy(`{}`), nil, want{probe.ErrTransient, "MalformedPolicyDocument"}},
		{"session policy of no policy element", partnerRole, withPolicy(`{"foo":1}`), nil, want{probe.ErrTransient, "MalformedPolicyDocument"}},
		{"session policy with a principal", partnerRole, withPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`), nil, want{probe.ErrTransient, "MalformedPolicyDocument"}},
		{"session policy with a bad effect", partnerRole, withPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`), nil, want{probe.ErrTransient, "MalformedPolicyDocument"}},
		{"session policy the sandbox does not model", partnerRole, withPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`), nil, want{probe.ErrTransient, "ValidationError"}},
		{"session policy that narrows", partnerRole, withPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}]}`), nil, want{}},
		{"malformed role ARN", partnerRole, req("arn:aws:iam::12:role/x-is-not-ok", externalID), nil, want{probe.ErrTransient, "ValidationError"}},
		{"throttled", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetFaults(sandbox.Faults{ThrottleRate: 1}) }, want{probe.ErrTransient, "Throttling"}},
		{"5xx", partnerRole, req(roleARN, externalID), func(s *sandbox.STS) { s.SetFaults(sandbox.Faults{ErrorRate: 1}) }, want{probe.ErrTransient, "InternalFailure"}},
	}
	for _, ad := range adapters() {
		t.Run(ad.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newSandbox(t, 1)
					if tt.setup != nil {
						tt.setup(s)
					}
					a := ad.make(t, s, tt.caller)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					sess, err := a.AssumeRole(ctx, tt.in)
					if tt.want.kind == nil {
						if err != nil {
							t.Fatalf("AssumeRole: %v", err)
						}
						role := tt.in.RoleARN[strings.LastIndexByte(tt.in.RoleARN, '/')+1:]
						wantARN := "arn:aws:sts::" + customer + ":assumed-role/" + role + "/" + tt.in.SessionName
						if sess.AssumedRoleARN != wantARN || sess.AccountID != customer {
							t.Errorf("session = %+v, want %s in %s", sess, wantARN, customer)
						}
						return
					}
					if err == nil {
						t.Fatalf("AssumeRole succeeded (%+v), want %v", sess, tt.want.kind)
					}
					if !errors.Is(err, tt.want.kind) {
						t.Errorf("error %v is not %v", err, tt.want.kind)
					}
					var se *probe.STSError
					if !errors.As(err, &se) || se.Code != tt.want.code {
						t.Errorf("error %v: code %q, want %q", err, codeOf(err), tt.want.code)
					}
					if sess != (probe.Session{}) {
						t.Errorf("session on error: %+v", sess)
					}
					if strings.Contains(err.Error(), externalID) {
						t.Errorf("error discloses the external ID: %v", err)
					}
				})
			}
			t.Run("latency", func(t *testing.T) {
				s := newSandbox(t, 1)
				s.SetFaults(sandbox.Faults{Latency: 30 * time.Millisecond, Jitter: 10 * time.Millisecond})
				a := ad.make(t, s, partnerRole)
				start := time.Now()
				if _, err := a.AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d < 30*time.Millisecond {
					t.Errorf("call took %v, want at least the injected 30ms", d)
				}
			})
			t.Run("cancelled during latency", func(t *testing.T) {
				s := newSandbox(t, 1)
				s.SetFaults(sandbox.Faults{Latency: 5 * time.Second})
				a := ad.make(t, s, partnerRole)
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := a.AssumeRole(ctx, req(roleARN, externalID))
				if !errors.Is(err, probe.ErrTransient) {
					t.Errorf("error %v is not transient", err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("cancelled call took %v", d)
				}
			})
			t.Run("faults are deterministic for a seed", func(t *testing.T) {
				pattern := func() string {
					s := newSandbox(t, 42)
					s.SetFaults(sandbox.Faults{ThrottleRate: 0.3, ErrorRate: 0.2})
					return faultPattern(ad.make(t, s, partnerRole), 40)
				}
				p1, p2 := pattern(), pattern()
				if p1 != p2 {
					t.Errorf("same seed, different faults:\n%s\n%s", p1, p2)
				}
				for _, c := range []string{"OK", "Throttling", "InternalFailure"} {
					if !strings.Contains(p1, c+",") {
						t.Errorf("40 calls at 30%% throttle / 20%% 5xx never gave %s: %s", c, p1)
					}
				}
			})
		})
	}
}

// faultPattern makes n AssumeRole calls through a and lists what each
// returned ("OK" or the STS error code), comma-terminated.
func faultPattern(a probe.Assumer, n int) string {
	var b strings.Builder
	for range n {
		_, err := a.AssumeRole(context.Background(), req(roleARN, externalID))
		b.WriteString(codeOf(err) + ",")
	}
	return b.String()
}

func codeOf(err error) string {
	if err == nil {
		return "OK"
	}
	var se *probe.STSError
	if errors.As(err, &se) {
		return se.Code
	}
	return "?"
}

// TestSameFaultSequenceOverHTTPAndEmbedded: with one seed, the n-th call
// sees the same fault whichever adapter makes it.
func TestSameFaultSequenceOverHTTPAndEmbedded(t *testing.T) {
	var got []string
	for _, ad := range adapters() {
		s := newSandbox(t, 7)
		s.SetFaults(sandbox.Faults{ThrottleRate: 0.25, ErrorRate: 0.25})
		got = append(got, faultPattern(ad.make(t, s, partnerRole), 30))
	}
	if got[0] != got[1] {
		t.Errorf("http and embedded fault sequences differ:\n%s\n%s", got[0], got[1])
	}
}

// TestFaultRates: observed rates are close to the configured ones.
func TestFaultRates(t *testing.T) {
	s := newSandbox(t, 3)
	s.SetFaults(sandbox.Faults{ThrottleRate: 0.2, ErrorRate: 0.1})
	a := s.Assumer(partnerRole)
	counts := map[string]int{}
	const n = 4000
	for range n {
		_, err := a.AssumeRole(context.Background(), req(roleARN, externalID))
		counts[codeOf(err)]++
	}
	// Both rates are shares of all calls.
	expect := func(code string, want float64) {
		got := float64(counts[code]) / n
		if got < want-0.03 || got > want+0.03 {
			t.Errorf("%s rate %.3f, want %.2f±0.03 (%v)", code, got, want, counts)
		}
	}
	expect("Throttling", 0.2)
	expect("InternalFailure", 0.1)
	if got := s.Calls(); got != n {
		t.Errorf("Calls() = %d, want %d", got, n)
	}
}

// TestSDKRetriesThrottling: with the SDK's default retryer, a throttled call
// is retried (3 attempts) and still classified as Throttling at the end.
func TestSDKRetriesThrottling(t *testing.T) {
	s := newSandbox(t, 1)
	s.SetFaults(sandbox.Faults{ThrottleRate: 1})
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(partnerKey, sandbox.DefaultCallerSecret(partnerKey), ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := (&probe.STS{Client: client}).AssumeRole(ctx, req(roleARN, externalID))
	if codeOf(err) != "Throttling" || !errors.Is(err, probe.ErrTransient) {
		t.Fatalf("error %v, want transient Throttling", err)
	}
	if requests != 3 {
		t.Errorf("the SDK sent %d requests, want 3 (throttling is retryable)", requests)
	}
}
