package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/verify"
)

// Server is a running pipeline: the Stack it runs, and the event sources
// running around its handlers.
type Server struct {
	*Stack

	log     *slog.Logger
	http    *http.Server
	stsHTTP *http.Server // the sandbox STS the checker calls; nil with AWS
	feed    feed

	stopSweep, stopVerify, stopFeed context.CancelFunc
	sweepDone, verifyDone, feedDone sync.WaitGroup
	serveErr                        chan error
	shutdownOnce                    sync.Once
	shutdownErr                     error
}

// VerifyQueue is the verify queue as the pipeline uses it: the sweeps, the
// ops re-checks and the "Role Submitted" rule send jobs to it; the verify
// loop receives its messages, delays their redelivery and deletes them.
type VerifyQueue interface {
	Send(ctx context.Context, jobs []probe.Job) error
	Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, receiptHandle string) error
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

var (
	_ VerifyQueue = (*queue.Memory)(nil)
	_ VerifyQueue = (*queue.SQS)(nil)
)

// feed is a store's change feed: it delivers outbox events to the publish
// handler.
type feed interface {
	// run delivers until ctx is done.
	run(ctx context.Context)
	// drain delivers what is left, then returns.
	drain(ctx context.Context)
}

// Err delivers the HTTP server's error if it stops on its own.
func (s *Server) Err() <-chan error { return s.serveErr }

// Shutdown stops taking requests, lets in-flight requests and checks
// finish, publishes the events they wrote, and stops. It is safe to call
// more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
		s.stopSweep()
		s.sweepDone.Wait()
		s.stopVerify()
		s.verifyDone.Wait()
		if s.cfn != nil {
			if err := s.cfn.shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the sandbox response bucket: %w", err))
			}
		}
		if s.stsHTTP != nil {
			if err := s.stsHTTP.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the sandbox STS: %w", err))
			}
		}
		s.stopFeed()
		s.feedDone.Wait()
		s.feed.drain(ctx)
		s.shutdownErr = errors.Join(errs...)
	})
	return s.shutdownErr
}

// run starts the change feed, the verify queue's pollers, the sweep ticker
// and HTTP.
func (s *Server) run() {
	var fctx, vctx, sctx context.Context
	fctx, s.stopFeed = context.WithCancel(context.Background())
	vctx, s.stopVerify = context.WithCancel(context.Background())
	sctx, s.stopSweep = context.WithCancel(context.Background())
	s.feedDone.Add(1)
	go func() { defer s.feedDone.Done(); s.feed.run(fctx) }()
	for range verifyLoops {
		s.verifyDone.Add(1)
		go func() { defer s.verifyDone.Done(); s.verifyLoop(vctx) }()
	}
	if every := s.opts.SweepEvery; every > 0 {
		s.sweepDone.Add(1)
		go func() { defer s.sweepDone.Done(); s.sweepLoop(sctx, every) }()
	}
	go func() {
		err := s.http.Serve(s.listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
}

// Banner is the block serve prints at start.
func (s *Stack) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRoleCall is running: %s, %s, %s.\n\n", s.StoreKind, s.STSKind, s.QueueKind)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-28s %s\n", k, v) }
	row("Customer form (tenant demo):", s.DemoInviteURL)
	row("Ops page:", s.URL+"/ops")
	row("Ops token:", s.opsTokenNote())
	row("Partner principal ARN:", s.PartnerPrincipalARN)
	if s.Sandbox != nil {
		row("Sandbox control:", s.URL+"/_sandbox")
	}
	if s.WorkloadAccessKeyID != "" {
		row("Workload access key ID:", s.WorkloadAccessKeyID)
		row("Workload secret key:", s.WorkloadSecretAccessKey+" (this serve's own; the sandbox checks signatures)")
		row("Sandbox STS:", s.URL+SandboxSTSPath+" (AWS_ENDPOINT_URL_STS)")
	}
	row("Events:", "stdout (one JSON line per event), the ops page, and GET "+s.URL+"/v1/events")
	if s.StackRoutesSubmissions {
		row("Submissions:", "checked by the deployed stack: its Role Submitted rule queues them on its priority queue (serve's own rule is off)")
	}
	b.WriteString("\nOpen the customer form, create the role (the sandbox button needs no AWS account), paste its ARN\nand watch it connect. Press Ctrl+C to stop.\n\n")
	return b.String()
}

// opsTokenNote is the banner's ops token: the token when the stack
// generated it (nobody else knows it), else where the operator's came from.
func (s *Stack) opsTokenNote() string {
	switch {
	case s.opts.OpsToken == "":
		return s.OpsToken
	case s.opts.OpsTokenSource != "":
		return s.opts.OpsTokenSource + " (not shown)"
	default:
		return "supplied (not shown)"
	}
}

// submitted is the bus rule "Role Submitted" → verify queue.
func (s *Server) submitted(ctx context.Context, env bus.Envelope) error {
	ev, err := decodeDetail(env)
	if err != nil {
		return err
	}
	job, err := s.Handlers.Verify.Default.JobForSubmission(ctx, ev)
	if errors.Is(err, verify.ErrSkip) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("job for %s/%s: %w", ev.TenantID, ev.AccountID, err)
	}
	if err := s.Queue.Send(ctx, []probe.Job{job}); err != nil {
		return fmt.Errorf("queue check of %s/%s: %w", ev.TenantID, ev.AccountID, err)
	}
	return nil
}

// sweepLoop is the schedule: a due sweep every interval.
func (s *Server) sweepLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every)
		res, err := s.Handlers.Sweep.Due(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Error("sweep failed", "error", err)
			continue
		}
		if res.Enqueued > 0 {
			s.log.Info("sweep", "enqueued", res.Enqueued, "failed", res.Failed, "stopped", res.Stopped)
		}
	}
}
