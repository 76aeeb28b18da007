package emulator

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/sweep"
)

// sendOnly is a queue the handlers can send to but serve cannot poll.
type sendOnly struct{}

func (sendOnly) Send(context.Context, []probe.Job) error { return nil }

// wrappedStore is a store without the embedded store's outbox.
type wrappedStore struct{ store.Store }

// newStack is the stack New makes of the test options (events discarded),
// with fast retries, closed when the test ends, and a context for its
// steps that ends then.
func newStack(t *testing.T) (context.Context, *Stack) {
	t.Helper()
	ctx, st := newSettledStack(t)
	fastRetries(st)
	return ctx, st
}

// newSettledStack is newStack's stack with the settings New gave it.
func newSettledStack(t *testing.T) (context.Context, *Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	st, err := New(ctx, testOptions(t, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return ctx, st
}

// Build takes the queue the pollers receive from and the store whose
// outbox is the change feed from the components, so a component replaced
// between New and Build is the one the event sources use; components serve
// cannot run are refused before anything is built.
func TestBuildUsesTheComponents(t *testing.T) {
	tests := []struct {
		name    string
		replace func(*Stack)
		want    string // "" builds
		missing bool   // the error is app.ErrMissing
	}{
		{"a replaced queue is the one polled", func(st *Stack) { st.Components.Queue = queue.NewMemory() }, "", false},
		{"a replaced embedded store is the change feed", func(st *Stack) {
			mem := store.NewMemory()
			st.Components.Store, st.Components.Registrations = mem, registrationsOf(mem)
		}, "", false},
		{"a queue that cannot be polled", func(st *Stack) { st.Components.Queue = sendOnly{} }, "cannot be polled", false},
		{"a store without a change feed", func(st *Stack) { st.Components.Store = wrappedStore{st.Components.Store} }, "no change feed", false},
		{"no registrations", func(st *Stack) { st.Components.Registrations = nil }, "registrations", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, st := newStack(t)
			tc.replace(st)
			err := st.Build(ctx)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, app.ErrMissing) != tc.missing || st.Handlers.API != nil {
					t.Fatalf("Build = %v, want a refusal naming %q (ErrMissing %v) and no handler", err, tc.want, tc.missing)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Queue != st.Components.Queue {
				t.Errorf("the pollers receive from %T, the handlers send to %T", st.Queue, st.Components.Queue)
			}
			if st.outbox != st.Components.Store {
				t.Error("the change feed is not the components' store")
			}
		})
	}
}

// The zero options are serve's documented defaults.
func TestOptionDefaults(t *testing.T) {
	var o Options
	o.defaults()
	if o.Addr != defaultAddr || o.SweepEvery != time.Minute || o.CheckInterval != time.Hour || o.LostAfter != 2 ||
		o.PropagationWindow != 2*time.Minute || o.EventSource != "rolecall" || o.PartnerName != DefaultPartnerName ||
		o.Events == nil || o.Log == nil {
		t.Fatalf("defaults %+v", o)
	}
	p := o.Policy()
	if p.VerifiedInterval != time.Hour || p.LostAfter != 2 || p.PropagationWindow != 2*time.Minute || p.PendingSafetyNet > p.PropagationWindow {
		t.Fatalf("policy of the defaults %+v", p)
	}
	// The retry delays are no flag's: the policy's defaults.
	def := connection.DefaultPolicy()
	if p.PendingBackoff != def.PendingBackoff || p.PendingBackoffMax != def.PendingBackoffMax ||
		p.TransientRetry != def.TransientRetry || p.SuspectInterval != def.SuspectInterval {
		t.Fatalf("policy of the defaults %+v, want the default retry delays of %+v", p, def)
	}
}

// Addresses in URLs: an unspecified IP is reached as localhost.
func TestDisplayAddr(t *testing.T) {
	tests := []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "[::1]:80"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "localhost:9000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, "localhost:9000"},
	}
	for _, tc := range tests {
		if got := displayAddr(tc.addr); got != tc.want {
			t.Errorf("displayAddr(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// The HTTP server's end is delivered on Err: nothing while it serves, nil
// once Shutdown stopped it.
func TestErrDeliversTheServersEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, testOptions(t, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.Err():
		t.Fatalf("Err delivered %v while serving", err)
	default:
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.Err():
		if err != nil {
			t.Fatalf("Err after Shutdown = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("Err delivered nothing after Shutdown")
	}
}

// Sandbox roles the sandbox cannot model are refused with a client error
// naming the field, never as a server error.
func TestSandboxPutRoleRefusals(t *testing.T) {
	_, st := newStack(t)
	c := &sandboxControl{sts: st.Sandbox}
	role := "arn:aws:iam::210987654321:role/Sandboxed"
	good, err := rolesetup.TrustPolicy("rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", SandboxPrincipalARN)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, role string
		policy     []byte
		code       string
		field      string
	}{
		{"not JSON", role, []byte("{"), "INVALID_TRUST_POLICY", "trustPolicy"},
		{"unmodelled operator", role, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + SandboxPrincipalARN + `"},"Action":"sts:AssumeRole","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}]}`), "INVALID_TRUST_POLICY", "trustPolicy"},
		{"not a role ARN", "arn:aws:s3:::bucket", good, "", "roleArn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.PutRole(tc.role, tc.policy)
			e := onboarding.AsError(err)
			if e == nil || e.Field != tc.field || (tc.code != "" && e.Code != tc.code) {
				t.Fatalf("PutRole = %v (%+v), want a refusal of %s", err, e, tc.field)
			}
			if _, ok := st.Sandbox.TrustPolicy(tc.role); ok {
				t.Fatal("a refused role was stored")
			}
		})
	}
	if err := c.PutRole(role, good); err != nil {
		t.Fatalf("PutRole of the enforced policy = %v", err)
	}
	if err := c.DeleteRole(role); err != nil {
		t.Fatal(err)
	}
	if e := onboarding.AsError(c.DeleteRole(role)); e == nil || e.Code != onboarding.CodeNotFound {
		t.Fatalf("deleting a deleted role = %v, want NOT_FOUND", e)
	}
}

// serve's handlers run with the Lambdas' settings: the verify workers are
// paced to the default STS budget with the deployed routine concurrency,
// and the sweeps to the routine share of it per tick; only the lifecycle
// policy is serve's own.
func TestHandlersRunTheLambdasSettings(t *testing.T) {
	ctx, st := newStack(t)
	if err := st.Build(ctx); err != nil {
		t.Fatal(err)
	}
	v, sw := st.Handlers.Verify, st.Handlers.Sweep
	if v.Default.Budget == nil || v.Default.Concurrency != stsbudget.InFlight {
		t.Errorf("routine worker: budget %v, concurrency %d; want the default budget and %d checks at once", v.Default.Budget, v.Default.Concurrency, stsbudget.InFlight)
	}
	// serve's one routine worker holds the routine share the deployed
	// instances split, and the sweep is paced to what it checks.
	plan := app.DefaultVerify().Plan
	plan.Regions, plan.RoutineConcurrency = []string{st.opts.Region}, 1
	if st.Settings.Verify.Plan.RoutineConcurrency != 1 || st.Settings.Sweep.Plan.RoutineConcurrency != 1 {
		t.Errorf("routine concurrency %d (verify), %d (sweep); want serve's one worker", st.Settings.Verify.Plan.RoutineConcurrency, st.Settings.Sweep.Plan.RoutineConcurrency)
	}
	if want := plan.RoutineChecksPerSecond(); sw.ChecksPerSecond != want || want <= 0 {
		t.Errorf("sweep paced to %v checks/s, want one worker's routine share %v", sw.ChecksPerSecond, want)
	}
	// The test options turn the ticker off: sweeps run on request, and a
	// due sweep enqueues what the budget serves in the schedule's interval.
	if st.opts.SweepEvery > 0 || sw.Every != sweep.DefaultEvery || sw.Interval != st.opts.CheckInterval {
		t.Errorf("sweep every %v, interval %v (ticker %v); want the schedule's %v and serve's check interval %v", sw.Every, sw.Interval, st.opts.SweepEvery, sweep.DefaultEvery, st.opts.CheckInterval)
	}
	if v.Default.Policy != st.Settings.Verify.Policy {
		t.Errorf("verify policy = %+v, want the settings' %+v", v.Default.Policy, st.Settings.Verify.Policy)
	}
}

// New sets the lifecycle policy serve's options make, and the one in the
// settings at Build is every handler's: the verify workers', the API's
// onboarding service's and the registration handler's; the checker takes
// the settings' retry delay.
func TestSettingsPolicyIsEveryHandlers(t *testing.T) {
	ctx, st := newSettledStack(t)
	if st.Settings.Verify.Policy != st.opts.Policy() {
		t.Fatalf("New's policy %+v, want the options' %+v", st.Settings.Verify.Policy, st.opts.Policy())
	}
	p := &st.Settings.Verify.Policy
	p.PendingBackoff, p.TransientRetry, p.SuspectInterval = 3*time.Second, 4*time.Second, 5*time.Second
	st.Settings.Verify.CheckBaseDelay = 7 * time.Millisecond
	if err := st.Build(ctx); err != nil {
		t.Fatal(err)
	}
	want := st.Settings.Verify.Policy
	if got := st.Handlers.Verify.Default.Policy; got != want {
		t.Errorf("verify policy = %+v, want %+v", got, want)
	}
	if got := st.Service.Policy; got != want {
		t.Errorf("onboarding policy = %+v, want %+v", got, want)
	}
	if st.Handlers.Register == nil || st.Handlers.Register.Onboarding != st.Service {
		t.Errorf("the registration handler does not submit through the API's onboarding service")
	}
	if checker, ok := st.Checker().(*probe.Checker); !ok || checker.BaseDelay != 7*time.Millisecond {
		t.Errorf("checker %#v, want a *probe.Checker with the settings' base delay 7ms", st.Checker())
	}
}
