package access

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const failingAccount = "444455556666"

// failure is one way a connection's refresh fails, and how it is mended.
type failure struct {
	name    string
	breakIt func(w *world)
	mend    func(w *world)
	is      func(error) bool
}

func failures() []failure {
	ref := Ref{TenantID: "acme", AccountID: failingAccount}
	return []failure{
		{"the customer's role denies",
			func(w *world) { w.sts.AddRole(customerRole(failingAccount), accessRoleARN, "rc-some-other-id") },
			func(w *world) { w.sts.AddRole(customerRole(failingAccount), accessRoleARN, "rc-ext-"+failingAccount) },
			func(err error) bool { var e *AccessDeniedError; return errors.As(err, &e) }},
		{"the connection is not verified",
			func(w *world) { w.api.setStatus(ref, "ACCESS_LOST", Reason{Code: "ASSUME_DENIED"}) },
			func(w *world) { w.api.setStatus(ref, "VERIFIED", Reason{}) },
			func(err error) bool { var e *NotVerifiedError; return errors.As(err, &e) }},
		{"the access role refuses the workload",
			func(w *world) { w.sts.AddRole(accessRoleARN, "arn:aws:iam::"+partnerAccount+":role/someone-else", "") },
			func(w *world) { w.sts.AddRole(accessRoleARN, workloadRole, "") },
			func(err error) bool { return errors.Is(err, ErrAccessRole) }},
	}
}

// stsCalls counts the AssumeRole calls the partner account made.
func stsCalls(w *world) int {
	n := 0
	for _, r := range w.sts.Requests() {
		if r.Get("Action") == "AssumeRole" {
			n++
		}
	}
	return n
}

// TestFailedRefreshesBackOff: SDK calls made while a connection's last
// refresh failed get that failure again without asking RoleCall or STS,
// until a backoff doubling from FailureBackoff has passed; then one more
// attempt is made; a success forgets the failures (the next one backs off
// from FailureBackoff again).
func TestFailedRefreshesBackOff(t *testing.T) {
	for _, f := range failures() {
		t.Run(f.name, func(t *testing.T) {
			w := newWorld(t, failingAccount)
			// Sessions expire inside every renewal window: each SDK call
			// after a success refreshes.
			w.sts.SetExpiry(2 * time.Minute)
			client := sts.NewFromConfig(w.client.Config("acme", failingAccount), func(o *sts.Options) { o.Retryer = aws.NopRetryer{} })
			ctx := context.Background()
			calls := func(n int) (last error) {
				t.Helper()
				for range n {
					_, last = client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				}
				return last
			}
			attempts := func(want int) {
				t.Helper()
				if got := w.api.accessReads(); got != want {
					t.Fatalf("%d attempts (RoleCall API reads), want %d", got, want)
				}
				if got := stsCalls(w); got > 2*want {
					t.Fatalf("%d sts:AssumeRole calls for %d attempts", got, want)
				}
			}

			f.breakIt(w)
			err := calls(50)
			if !f.is(err) {
				t.Fatalf("error %v, not the failure", err)
			}
			var later *RetryLaterError
			if !errors.As(err, &later) || later.Failures != 1 || later.RetryAt.After(w.clock.Now().Add(FailureBackoff)) {
				t.Fatalf("error %v, want a *RetryLaterError after 1 failure, retried within %v", err, FailureBackoff)
			}
			attempts(1)
			if got := len(w.api.checked()); got > 1 {
				t.Errorf("%d re-checks requested in one backoff", got)
			}
			customerCalls := func() int {
				n := 0
				for _, r := range w.sts.Requests() {
					if r.Get("RoleArn") == customerRole(failingAccount) {
						n++
					}
				}
				return n
			}
			assumed := customerCalls()

			w.clock.Advance(FailureBackoff)
			if err := calls(20); !f.is(err) || !errors.As(err, &later) || later.Failures != 2 {
				t.Fatalf("after the first backoff: %v", err)
			}
			attempts(2)
			if got := customerCalls() - assumed; got > 1 {
				t.Errorf("%d sts:AssumeRole calls of the customer's role for one attempt", got)
			}

			// The second backoff is up to twice the first: half of it
			// passed is not always enough, all of it is.
			w.clock.Advance(FailureBackoff / 4)
			calls(20)
			attempts(2)
			w.clock.Advance(2*FailureBackoff - FailureBackoff/4)
			calls(20)
			attempts(3)

			f.mend(w)
			w.clock.Advance(4 * FailureBackoff)
			if err := calls(1); err != nil {
				t.Fatalf("after mending: %v", err)
			}
			attempts(4)

			// Forgotten: the next failure backs off FailureBackoff, not
			// the eight seconds a fourth failure in a row would.
			f.breakIt(w)
			if err := calls(10); !errors.As(err, &later) || later.Failures != 1 {
				t.Fatalf("broken again: %v", err)
			}
			attempts(5)
			w.clock.Advance(FailureBackoff)
			calls(10)
			attempts(6)
		})
	}
}

// TestFailureBackoffStopsAtRecheckEvery: however many failures in a row, a
// connection is tried again once per RecheckEvery.
func TestFailureBackoffStopsAtRecheckEvery(t *testing.T) {
	w := newWorld(t, failingAccount)
	failures()[0].breakIt(w)
	p := w.client.Credentials("acme", failingAccount)
	for i := range 15 {
		for range 3 {
			if _, err := p.Retrieve(context.Background()); err == nil {
				t.Fatal("a refused connection retrieved credentials")
			}
		}
		if got := w.api.accessReads(); got != i+1 {
			t.Fatalf("after %d backoffs: %d attempts, want %d", i, got, i+1)
		}
		w.clock.Advance(DefaultRecheckEvery)
	}
}

// TestAFailureAnsweredAgainAsksForNoRecheck: only the attempt that was
// refused asked RoleCall for a re-check; the answers repeated after it say
// they did not.
func TestAFailureAnsweredAgainAsksForNoRecheck(t *testing.T) {
	w := newWorld(t, failingAccount)
	failures()[0].breakIt(w)
	p := w.client.Credentials("acme", failingAccount)
	for i, want := range []bool{true, false, false} {
		_, err := p.Retrieve(context.Background())
		var denied *AccessDeniedError
		if !errors.As(err, &denied) || denied.RecheckRequested != want {
			t.Fatalf("answer %d: %v, want a refusal with RecheckRequested %v", i, err, want)
		}
	}
	if got := len(w.api.checked()); got != 1 {
		t.Errorf("%d re-checks requested, want 1", got)
	}
}

// TestSessionsAreRenewedAtSpreadTimes: connections whose sessions were
// issued together are renewed at different points of the expiry window,
// each between 2.5 and 5 minutes before its session expires.
func TestSessionsAreRenewedAtSpreadTimes(t *testing.T) {
	var accounts []string
	for i := range 20 {
		accounts = append(accounts, "5555666677"+string(rune('0'+i/10))+string(rune('0'+i%10)))
	}
	w := newWorld(t, accounts...)
	issued := time.Now()
	renewAt := map[time.Time]bool{}
	for _, a := range accounts {
		creds, err := w.client.Credentials("acme", a).Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The fake's sessions last an hour from issue, to the second.
		earliest := issued.Truncate(time.Second).Add(time.Hour - ExpiryWindow)
		latest := time.Now().Add(time.Hour - time.Duration(float64(ExpiryWindow)*(1-ExpiryWindowJitterFrac)))
		if creds.Expires.Before(earliest) || creds.Expires.After(latest) {
			t.Errorf("%s renewed at %s, want between %s and %s", a, creds.Expires, earliest, latest)
		}
		renewAt[creds.Expires] = true
	}
	if len(renewAt) < len(accounts)/2 {
		t.Errorf("%d connections renewed at %d distinct times", len(accounts), len(renewAt))
	}
}
