package stsclient

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/stsbudget"
)

const (
	sbPartnerKey  = "AKIAPARTNERSANDBOX01"
	sbPartnerRole = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	sbCustomer    = "123456789012"
	sbRoleARN     = "arn:aws:iam::" + sbCustomer + ":role/RoleCall"
	// Of RoleCall's generated shape, so a check sends one decoy.
	sbCurrentID  = "rc-CURRENTCURRENTCURRENTCURRENTCURR"
	sbPreviousID = "rc-PREVIOUSPREVIOUSPREVIOUSPREVIOUS"
)

// sandboxWire serves the sandbox STS to the real SDK clients in memory (no
// listener, so it runs inside a synctest bubble), counting the requests
// each Region's endpoint gets (the Region of the SigV4 scope, as the
// sandbox reads it), and answers the first unavailable requests to one
// Region with one external ID as STS does when it is briefly unavailable.
// The first together requests to each Region are answered only once they
// have all arrived: a check's three probes are sent at once, each before
// any is answered, as over a network.
type sandboxWire struct {
	sts *sandbox.STS

	mu    sync.Mutex
	calls map[string]int // Region -> requests
	// each Region's first together requests are held until all have
	// arrived (its arrived closed).
	together int
	arrived  map[string]chan struct{}
	// unavailable: requests to this Region with this ExternalId answered
	// 503 ServiceUnavailable before the sandbox sees them.
	unavailRegion, unavailExtID string
	unavailable                 int
}

func (w *sandboxWire) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(body))
	_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	fields := strings.Split(scope, "/") // AKID/date/region/service/aws4_request
	region := ""
	if len(fields) > 2 {
		region = fields[2]
	}
	w.mu.Lock()
	w.calls[region]++
	unavailable := w.unavailable > 0 && region == w.unavailRegion && form.Get("ExternalId") == w.unavailExtID
	if unavailable {
		w.unavailable--
	}
	var wait chan struct{}
	if w.calls[region] <= w.together {
		if w.arrived[region] == nil {
			w.arrived[region] = make(chan struct{})
		}
		wait = w.arrived[region]
		if w.calls[region] == w.together {
			close(wait)
		}
	}
	w.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	rec := httptest.NewRecorder()
	if unavailable {
		rec.Header().Set("Content-Type", "text/xml")
		rec.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(rec, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is unavailable.</Message></Error><RequestId>req-unavailable</RequestId></ErrorResponse>`)
		return rec.Result(), nil
	}
	sr := r.Clone(r.Context())
	sr.Body = io.NopCloser(strings.NewReader(string(body)))
	sr.Host, sr.RequestURI = r.URL.Host, r.URL.RequestURI()
	w.sts.ServeHTTP(rec, sr)
	return rec.Result(), nil
}

func (w *sandboxWire) callsIn(region string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[region]
}

// regionalOverSandbox is the Regional port over one real SDK client per
// Region (the SDK's retryer off, as New builds them), all served by w.
func regionalOverSandbox(w *sandboxWire, names []string) *Regional {
	r := &Regional{names: names, clients: map[string]probe.Assumer{}}
	for _, n := range names {
		r.clients[n] = &probe.STS{Client: sts.New(sts.Options{
			Region:           n,
			BaseEndpoint:     aws.String("http://sts.sandbox.invalid"),
			Credentials:      credentials.NewStaticCredentialsProvider(sbPartnerKey, sandbox.DefaultCallerSecret(sbPartnerKey), ""),
			HTTPClient:       &http.Client{Transport: w},
			Retryer:          aws.NopRetryer{},
			RetryMaxAttempts: 1,
		})}
	}
	return r
}

// TestCheckAsksADisabledRegionOnce: with StsRegions, a check whose Region
// the customer's account has disabled sends its three probes there once
// each (at once, before any answer) and on to the next Region. Its later
// calls, the retry of a probe STS answered unavailable and a rotation's
// fourth probe, go straight to the next Region, paid there, instead of
// asking the disabled Region again; a probe that finds every Region
// already answered disabled is not sent at all. Paced by the budget or
// not, and through the sandbox, which answers RegionDisabledException for
// the customer's account only where it is disabled.
func TestCheckAsksADisabledRegionOnce(t *testing.T) {
	names := []string{"us-east-1", "eu-south-1"}
	current := probe.Request{TenantID: "acme", AccountID: sbCustomer, RoleARN: sbRoleARN, ExternalID: sbCurrentID, ExternalIDVersion: 3, Version: 1}
	rotating := current
	rotating.PreviousExternalID, rotating.PreviousExternalIDVersion = sbPreviousID, 2
	for _, tc := range []struct {
		name       string
		trusts     string   // the external ID the role's trust policy takes
		disabled   []string // in the customer's account
		unavail    int      // requests with the current external ID to eu-south-1 answered 503
		req        probe.Request
		want       connection.Result
		extVersion int
		calls      map[string]int // requests by Region
	}{
		{"a retry goes to the next Region", sbCurrentID, []string{"us-east-1"}, 1, current,
			connection.ResultOK, 3, map[string]int{"us-east-1": 3, "eu-south-1": 4}},
		{"a rotation's fourth probe goes to the next Region", sbPreviousID, []string{"us-east-1"}, 0, rotating,
			connection.ResultOK, 2, map[string]int{"us-east-1": 3, "eu-south-1": 4}},
		{"a retry after every Region answered disabled is not sent", sbCurrentID, names, 1, current,
			connection.ResultRegionDisabled, 3, map[string]int{"us-east-1": 3, "eu-south-1": 3}},
	} {
		for _, paced := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/paced=%t", tc.name, paced), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					s := sandbox.New(sandbox.Config{Callers: map[string]string{sbPartnerKey: sbPartnerRole}})
					policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":%q}}}]}`, sbPartnerRole, tc.trusts)
					if err := s.PutRole(sbRoleARN, []byte(policy)); err != nil {
						t.Fatal(err)
					}
					for _, region := range tc.disabled {
						s.SetRegionDisabled(sbCustomer, region, true)
					}
					w := &sandboxWire{sts: s, calls: map[string]int{}, unavailRegion: "eu-south-1", unavailExtID: sbCurrentID, unavailable: tc.unavail,
						together: stsbudget.CallsPerCheck, arrived: map[string]chan struct{}{}}
					ctx := context.Background()
					if paced {
						budget, err := stsbudget.NewRegions(names, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
						if err != nil {
							t.Fatal(err)
						}
						if ctx, err = budget.Take(ctx, stsbudget.CallsPerCheck); err != nil || stsbudget.RegionOf(ctx) != "us-east-1" {
							t.Fatalf("Take: Region %q, %v; want us-east-1", stsbudget.RegionOf(ctx), err)
						}
					}
					rep := Checker(regionalOverSandbox(w, names), Options{Log: slog.New(slog.DiscardHandler)}).Check(ctx, tc.req)
					if rep.Outcome.Result != tc.want || rep.Outcome.ExternalIDVersion != tc.extVersion {
						t.Fatalf("outcome %s (%s) v%d, want %s v%d; steps %+v", rep.Outcome.Result, rep.Outcome.Detail, rep.Outcome.ExternalIDVersion, tc.want, tc.extVersion, rep.Steps)
					}
					if tc.want == connection.ResultRegionDisabled && rep.Outcome.Detail != "RegionDisabledException" {
						t.Errorf("detail %q, want RegionDisabledException", rep.Outcome.Detail)
					}
					for _, region := range names {
						if got := w.callsIn(region); got != tc.calls[region] {
							t.Errorf("%s got %d requests, want %d (all: %v)", region, got, tc.calls[region], w.calls)
						}
					}
				})
			})
		}
	}
}
