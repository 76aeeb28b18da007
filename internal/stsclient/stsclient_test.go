package stsclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

func cfg(region string) aws.Config {
	return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
}

// TestRegionalEndpointOnly: the client resolves the STS endpoint of the
// configured Region, us-east-1 included (whose global endpoint is
// sts.amazonaws.com), and refuses a configuration without a Region.
func TestRegionalEndpointOnly(t *testing.T) {
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		c, err := stsclient.New(cfg(region), stsclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o := c.Options()
		ep, err := o.EndpointResolverV2.ResolveEndpoint(context.Background(), sts.EndpointParameters{Region: aws.String(o.Region)})
		if err != nil {
			t.Fatal(err)
		}
		if want := "https://sts." + region + ".amazonaws.com"; ep.URI.String() != want {
			t.Errorf("%s: endpoint %s, want %s", region, ep.URI.String(), want)
		}
		// And the request the client sends goes there.
		host := ""
		c, _ = stsclient.New(cfg(region), stsclient.Options{})
		_, _ = c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/R"), RoleSessionName: aws.String("s")},
			func(so *sts.Options) {
				so.HTTPClient = roundTrip(func(r *http.Request) (*http.Response, error) {
					host = r.URL.Host
					return nil, errors.New("offline")
				})
			})
		if host != "sts."+region+".amazonaws.com" {
			t.Errorf("%s: request sent to %q", region, host)
		}
	}
	if _, err := stsclient.New(aws.Config{}, stsclient.Options{}); !errors.Is(err, stsclient.ErrNoRegion) {
		t.Fatalf("no Region: %v, want ErrNoRegion", err)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) Do(r *http.Request) (*http.Response, error) { return f(r) }

const throttled = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>`

// TestCallsPerProbeAreBounded: against an STS that throttles every call,
// the SDK makes one HTTP attempt per call and the checker at most
// AttemptsPerProbe per probe, so a check stays within MaxCallsPerCheck.
func TestCallsPerProbeAreBounded(t *testing.T) {
	// External IDs of the shape RoleCall generates, as every tenant's.
	const extID, newID = "rc-EXTEXTEXTEXTEXTEXTEXTEXTEXTEXT23", "rc-NEWNEWNEWNEWNEWNEWNEWNEWNEWNE234"
	var mu sync.Mutex
	perProbe := map[string]int{}
	total := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(b))
		mu.Lock()
		perProbe[v.Get("ExternalId")]++
		total++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if v.Get("ExternalId") == newID { // a rotation's new ID, not yet in the trust policy
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, denied)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, throttled)
	}))
	defer srv.Close()
	o := stsclient.Options{Endpoint: srv.URL, BaseDelay: time.Millisecond}
	c, err := stsclient.New(cfg("us-east-1"), o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&probe.STS{Client: c}).AssumeRole(context.Background(), probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R", SessionName: "s", DurationSeconds: 900, ExternalID: "x"})
	var se *probe.STSError
	if !errors.As(err, &se) || se.Code != "Throttling" || !errors.Is(err, probe.ErrTransient) {
		t.Fatalf("AssumeRole: %v, want a transient Throttling", err)
	}
	if total != 1 {
		t.Fatalf("one AssumeRole made %d HTTP attempts: the SDK retried", total)
	}
	total = 0
	clear(perProbe)
	regional, err := stsclient.NewRegional(cfg("us-east-1"), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	ch := stsclient.Checker(regional, o)
	rep := ch.Check(context.Background(), probe.Request{TenantID: "acme", AccountID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/R", ExternalID: extID, Version: 1})
	if rep.Outcome.Result != connection.ResultTransient {
		t.Fatalf("outcome %s, want transient", rep.Outcome.Result)
	}
	if total < stsclient.AttemptsPerProbe || total > stsclient.MaxCallsPerCheck {
		t.Fatalf("a throttled check made %d calls, want %d..%d", total, stsclient.AttemptsPerProbe, stsclient.MaxCallsPerCheck)
	}
	for probe, n := range perProbe {
		if n > stsclient.AttemptsPerProbe {
			t.Errorf("probe %q made %d calls, want at most %d", probe, n, stsclient.AttemptsPerProbe)
		}
	}
	if !strings.Contains(rep.Outcome.Detail, "Throttling") {
		t.Errorf("detail %q does not name the throttling", rep.Outcome.Detail)
	}

	// During a rotation's grace, the new ID denied: a fourth probe, with
	// the previous ID, throttled like the negatives; still within bounds.
	total = 0
	clear(perProbe)
	rep = ch.Check(context.Background(), probe.Request{TenantID: "acme", AccountID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/R",
		ExternalID: newID, ExternalIDVersion: 2, PreviousExternalID: extID, PreviousExternalIDVersion: 1, Version: 1})
	if perProbe[extID] == 0 || total > stsclient.MaxCallsPerCheck {
		t.Fatalf("a rotating check made %d calls (%v), want a previous-ID probe and at most %d", total, perProbe, stsclient.MaxCallsPerCheck)
	}
}

const denied = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>2</RequestId></ErrorResponse>`

// TestIdleConnsKeepABatchsCalls: the client keeps an idle connection for
// every call a verify instance has in flight at once, so a second burst of
// that many concurrent calls opens no new connection (each new one is a
// TLS handshake against real STS).
func TestIdleConnsKeepABatchsCalls(t *testing.T) {
	if n := stsclient.DefaultIdleConns; n < stsbudget.InFlight*stsbudget.CallsPerCheck {
		t.Fatalf("DefaultIdleConns %d is less than the %d calls an instance has in flight", n, stsbudget.InFlight*stsbudget.CallsPerCheck)
	}
	// The default, and more than the SDK transport's cap on idle
	// connections in all (100), as serve keeps.
	for _, idle := range []int{0, 120} {
		t.Run(fmt.Sprintf("IdleConns %d", idle), func(t *testing.T) { idleConnsKept(t, idle) })
	}
}

func idleConnsKept(t *testing.T, idle int) {
	n := idle
	if n == 0 {
		n = stsclient.DefaultIdleConns
	}
	fake := awsfake.NewSTS()
	const role = "arn:aws:iam::111122223333:role/R"
	fake.Grant(role)
	// Each burst's calls are held until all n have arrived, so n
	// connections are open at once.
	var mu sync.Mutex
	arrived, release := 0, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(release)
		}
		wait := release
		mu.Unlock()
		<-wait
		fake.ServeHTTP(w, r)
	}))
	var opened sync.WaitGroup
	newConns := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			newConns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := stsclient.New(cfg("eu-west-1"), stsclient.Options{Endpoint: srv.URL, IdleConns: idle})
	if err != nil {
		t.Fatal(err)
	}
	// A connection goes back to the client's idle pool a moment after its
	// call has returned: a burst ends once all n are back (or refused). A
	// call that fails puts no connection back: it reports its error there
	// itself, so the burst still ends (and the test fails).
	returned := make(chan error, 2*n)
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{PutIdleConn: func(err error) { returned <- err }})
	burst := func() int {
		mu.Lock()
		arrived, release, newConns = 0, make(chan struct{}), 0
		mu.Unlock()
		for range n {
			opened.Add(1)
			go func() {
				defer opened.Done()
				if _, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s")}); err != nil {
					returned <- fmt.Errorf("a call failed: %w", err)
				}
			}()
		}
		opened.Wait()
		// A watchdog, not a wait for time to pass: the connections are
		// back within milliseconds, or something is wrong.
		watchdog := time.NewTimer(time.Minute)
		defer watchdog.Stop()
		for i := range n {
			select {
			case err := <-returned:
				if err != nil {
					t.Errorf("a connection was not kept idle: %v", err)
				}
			case <-watchdog.C:
				t.Fatalf("%d of %d connections went back to the idle pool within a minute", i, n)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return newConns
	}
	if first := burst(); first != n {
		t.Fatalf("the first burst opened %d connections, want %d", first, n)
	}
	if second := burst(); second != 0 {
		t.Errorf("the second burst of %d calls opened %d new connections, want none", n, second)
	}
}
