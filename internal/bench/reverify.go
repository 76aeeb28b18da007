package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/verify"
)

// The partner the benchmark's sandbox trusts.
const (
	partnerAccount   = "123456789012"
	partnerPrincipal = "arn:aws:iam::" + partnerAccount + ":role/RoleCallVerifier"
	sandboxKey       = "AKIAROLECALLBENCH000"
	// benchRegion is the deployment's Region the handlers are built for.
	benchRegion = "us-east-1"
)

// trustPolicy is the customer role's trust policy: the partner's principal
// with the tenant's external ID, as the customer template writes it.
func trustPolicy(externalID, principal string) []byte {
	return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal +
		`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + externalID + `"}}}]}`)
}

// accountID is the i-th customer account of a benchmark.
func accountID(i int) string { return strconv.Itoa(100_000_000_000 + i) }

// roleARN is the customer role of account i.
func roleARN(i int) string { return "arn:aws:iam::" + accountID(i) + ":role/RoleCallAccess" }

// fleet is n VERIFIED connections spread over tenants of 100 connections,
// each with its sandbox role, in a store; every connection is due at now.
type fleet struct {
	tenants []tenant.Tenant
	conns   []connection.Connection
	now     time.Time
}

// newFleet writes the fleet into st (through Apply, as the pipeline does)
// and its roles into sb.
func newFleet(ctx context.Context, st store.Store, sb *sandbox.STS, n int) (*fleet, error) {
	p := connection.DefaultPolicy()
	f := &fleet{now: time.Now().UTC()}
	verifiedAt := f.now.Add(-2 * p.VerifiedInterval) // so every next check is due by now
	for i := 0; i < (n+99)/100; i++ {
		t, err := tenant.New(fmt.Sprintf("tenant-%04d", i), fmt.Sprintf("Tenant %d", i), verifiedAt)
		if err != nil {
			return nil, err
		}
		if err := st.CreateTenant(ctx, t); err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", t.ID, err)
		}
		f.tenants = append(f.tenants, t)
	}
	for i := range n {
		t := f.tenants[i/100]
		a, err := rolearn.Parse(roleARN(i), rolearn.Rules{})
		if err != nil {
			return nil, err
		}
		if sb != nil {
			if err := sb.PutRole(a.String(), trustPolicy(t.ExternalID, partnerPrincipal)); err != nil {
				return nil, err
			}
		}
		sub := p.Submit(nil, t.ID, a, t.ExternalIDVersion, verifiedAt.Add(-time.Minute))
		if err := st.Apply(ctx, sub); err != nil {
			return nil, fmt.Errorf("submit %s: %w", a, err)
		}
		ok, err := p.Apply(sub.After, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: sub.After.Version,
			ExternalIDVersion: t.ExternalIDVersion, CheckedAt: verifiedAt})
		if err != nil {
			return nil, err
		}
		if err := st.Apply(ctx, ok); err != nil {
			return nil, fmt.Errorf("verify %s: %w", a, err)
		}
		f.conns = append(f.conns, ok.After)
	}
	return f, nil
}

// newSandbox is a sandbox STS that knows the partner's principal.
func newSandbox() *sandbox.STS {
	return sandbox.New(sandbox.Config{Callers: map[string]string{sandboxKey: partnerPrincipal}, Seed: 6})
}

// stsMode is how the checker reaches the sandbox STS.
type stsMode struct {
	name string
	// assumer returns one Lambda instance's Assumer.
	assumer func() probe.Assumer
	close   func()
}

// embeddedSTS calls the sandbox in-process.
func embeddedSTS(sb *sandbox.STS) stsMode {
	return stsMode{name: "embedded sandbox STS", assumer: func() probe.Assumer { return sb.Assumer(partnerPrincipal) }, close: func() {}}
}

// httpSTS serves the sandbox on loopback; each instance gets its own SDK
// client (as each Lambda instance builds its own), configured as
// `rolecall serve` configures it.
func httpSTS(sb *sandbox.STS) (stsMode, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stsMode{}, fmt.Errorf("listen for the sandbox STS: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	cfg := aws.Config{Region: benchRegion, BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider(sandboxKey, sandbox.DefaultCallerSecret(sandboxKey), "")}
	return stsMode{
		name: "sandbox STS over HTTP through the AWS SDK",
		assumer: func() probe.Assumer {
			// The port app builds for a checker that is the trusted
			// principal itself; it fails only without a Region, and cfg
			// has one.
			c, _ := app.AWSComponents(cfg, app.Resources{}, quiet, app.CallerSTS)
			return c.STS
		},
		close: func() { _ = srv.Close() },
	}, nil
}

// verifyDeployment reads the verify function's event source mapping from
// template.yaml: messages per batch and the most batches at once.
func verifyDeployment(root string) (batch, instances int, err error) {
	t, err := stack.LoadTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		return 0, 0, err
	}
	fn, ok := t.Resources("AWS::Serverless::Function")["VerifyFunction"]
	if !ok {
		return 0, 0, errors.New("template.yaml has no VerifyFunction")
	}
	// Jobs is the routine queue's mapping: the one re-verification runs on.
	em, _ := stack.Properties(fn)["Events"].(map[string]any)["Jobs"].(map[string]any)
	if em["Type"] == "SQS" {
		p, _ := em["Properties"].(map[string]any)
		sc, _ := p["ScalingConfig"].(map[string]any)
		b, bok := p["BatchSize"].(int)
		c, cok := sc["MaximumConcurrency"].(int)
		if ref, ok := sc["MaximumConcurrency"].(map[string]any)["Ref"].(string); ok {
			c, err = strconv.Atoi(t.Parameters()[ref])
			cok = err == nil
		}
		if !bok || !cok {
			return 0, 0, fmt.Errorf("VerifyFunction's SQS event lacks BatchSize or ScalingConfig.MaximumConcurrency: %v", p)
		}
		return b, c, nil
	}
	return 0, 0, errors.New("VerifyFunction has no SQS event")
}

// drainResult is what a drain did.
type drainResult struct {
	handled, retried int
	elapsed          time.Duration
}

// drain plays the verify queue's event source mapping: instances pollers,
// each with its own worker (a Lambda instance), receive batches from q,
// hand them to the worker's Handle as the SQS event Lambda delivers, and
// delete the messages not reported as failures, until want messages were
// handled.
func drain(ctx context.Context, q *queue.Memory, workers []*verify.Worker, batch, want int) (drainResult, error) {
	var handled, retried atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, len(workers))
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && handled.Load() < int64(want) {
				msgs, err := q.Receive(ctx, batch, 20*time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						errc <- err
					}
					return
				}
				if len(msgs) == 0 {
					continue
				}
				in := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
				for _, m := range msgs {
					body, err := json.Marshal(m.Job)
					if err != nil {
						errc <- err
						return
					}
					in.Records = append(in.Records, events.SQSMessage{MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: string(body),
						EventSource: "aws:sqs", Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount)}})
				}
				resp, err := w.Handle(ctx, in)
				if err != nil {
					errc <- err
					return
				}
				failed := map[string]bool{}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				for _, m := range msgs {
					if failed[m.ID] {
						retried.Add(1)
						continue
					}
					if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
						errc <- err
						return
					}
					handled.Add(1)
				}
			}
		})
	}
	wg.Wait()
	res := drainResult{handled: int(handled.Load()), retried: int(retried.Load()), elapsed: time.Since(start)}
	select {
	case err := <-errc:
		return res, err
	default:
	}
	return res, ctx.Err()
}

// reverification: the fleet re-checked by the verify handler as deployed
// (BatchSize and MaximumConcurrency from template.yaml, the routine
// instances' concurrency and STS budget share at the default budget),
// through each STS mode, then the naive loop. The ideal is the lesser of
// what the checks in flight and what the budget allow.
func reverification(ctx context.Context, cfg Config, r *Report) error {
	batch, instances, err := verifyDeployment(cfg.Root)
	if err != nil {
		return err
	}
	perInstance := min(batch, stsbudget.InFlight)
	concurrency := instances * perInstance
	// A check's three probes run at once: one STS round trip per check,
	// within the routine share of the budget.
	plan := stsbudget.DefaultPlan()
	plan.RoutineConcurrency = instances
	budgetRate := plan.RoutineChecksPerSecond()
	ideal := min(float64(concurrency)/cfg.STSLatency.Seconds(), budgetRate)

	sb := newSandbox()
	mem := store.NewMemory()
	setup := time.Now()
	f, err := newFleet(ctx, mem, sb, cfg.Connections)
	if err != nil {
		return err
	}
	cfg.progress("   %d VERIFIED connections and sandbox roles in %s", len(f.conns), time.Since(setup).Round(time.Millisecond))
	sb.SetFaults(sandbox.Faults{Latency: cfg.STSLatency})

	area := "Re-verification"
	r.add(Row{Area: area, Measure: "setup", Value: fmt.Sprintf("%d VERIFIED connections (embedded store), sandbox STS latency %s per call, "+
		"verify handler: %d instances (MaximumConcurrency) × batches of %d × worker concurrency %d = %d checks at once, paced to the routine share of a budget of %d STS requests/s (%s checks/s); ideal %s checks/s",
		len(f.conns), ms(cfg.STSLatency), instances, batch, stsbudget.InFlight, concurrency, plan.RequestsPerSecond, trim(budgetRate), trim(ideal))})

	httpMode, err := httpSTS(sb)
	if err != nil {
		return err
	}
	defer httpMode.close()
	perCheck := 0
	for _, mode := range []stsMode{httpMode, embeddedSTS(sb)} {
		rate, calls, err := reverifyOnce(ctx, cfg, mem, sb, f, mode, batch, plan)
		perCheck = calls
		if err != nil {
			return fmt.Errorf("%s: %w", mode.name, err)
		}
		ratio := rate / ideal
		r.add(Row{Area: area, Measure: "checks/s, " + mode.name, Value: fmt.Sprintf("%s checks/s = %.2f × ideal", trim(rate), ratio),
			Goal: "≥ 0.95 × ideal", Verdict: atLeast(ratio, 0.95, "")})
		if mode.name == httpMode.name {
			naive, err := naiveLoop(ctx, mem, f, mode, cfg.NaiveConnections)
			if err != nil {
				return fmt.Errorf("naive loop: %w", err)
			}
			r.add(Row{Area: area, Measure: fmt.Sprintf("naive loop (one connection after another, %d connections, %s)", cfg.NaiveConnections, mode.name),
				Value: fmt.Sprintf("%s checks/s; the handler is %.0f× faster", trim(naive), rate/naive)})
			// One check at a time: its duration over the STS latency is
			// the check's latency in STS round trips (store work included).
			trips := 1 / (naive * cfg.STSLatency.Seconds())
			r.add(Row{Area: area, Measure: fmt.Sprintf("check latency in STS round trips (naive loop, %s)", mode.name),
				Value: fmt.Sprintf("%.2f round trips of %s", trips, ms(cfg.STSLatency)),
				Goal:  "≤ 1.5 (the three probes at once; one after another would take 3)", Verdict: atMost(trips, 1.5, "")})
		}
	}
	r.add(Row{Area: area, Measure: "STS requests per routine check", Value: fmt.Sprintf("%d (AssumeRole with the external ID, without one and with a decoy, at once; counted by the sandbox over %d checks per run; none retried)", perCheck, len(f.conns)),
		Goal: fmt.Sprintf("%d (one STS round of concurrent calls, the budget's calls per check)", stsbudget.CallsPerCheck), Verdict: atMost(float64(perCheck), stsbudget.CallsPerCheck, "")})
	return nil
}

// reverifyOnce enqueues every connection with a due sweep and drains the
// queue with the verify handler; it returns checks per second and fails
// unless every connection was checked, none failed and no event was
// written.
func reverifyOnce(ctx context.Context, cfg Config, mem *store.Memory, sb *sandbox.STS, f *fleet, mode stsMode, batch int, plan stsbudget.Plan) (float64, int, error) {
	q := queue.NewMemory()
	q.Visibility = time.Minute
	// Every connection is due by then, also those a previous run checked.
	until := time.Now().Add(2 * connection.DefaultPolicy().VerifiedInterval)
	sw, err := app.NewSweep(app.Sweep{}, app.Components{Store: mem, Queue: q, Log: quiet})
	if err != nil {
		return 0, 0, err
	}
	sw.Now = func() time.Time { return until }
	res, err := sw.Due(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("sweep: %w", err)
	}
	if res.Enqueued != len(f.conns) {
		return 0, 0, fmt.Errorf("the sweep enqueued %d of %d connections", res.Enqueued, len(f.conns))
	}
	// One verify handler per instance, each with its own share of the
	// budget, built as the Lambda builds its handler.
	workers := make([]*verify.Worker, plan.RoutineConcurrency)
	for i := range workers {
		h, err := app.NewVerify(app.Verify{Policy: connection.DefaultPolicy(), Plan: plan, RoutineConcurrency: stsbudget.InFlight},
			app.Components{Region: benchRegion, Store: mem, Queue: q, STS: mode.assumer(), Log: quiet})
		if err != nil {
			return 0, 0, err
		}
		workers[i] = h.Default
	}
	outbox := outboxLen(mem)
	calls := sb.Calls()
	started := time.Now()
	d, err := drain(ctx, q, workers, batch, len(f.conns))
	if err != nil {
		return 0, 0, err
	}
	if d.handled != len(f.conns) || d.retried != 0 {
		return 0, 0, fmt.Errorf("handled %d of %d checks, %d retried", d.handled, len(f.conns), d.retried)
	}
	n := sb.Calls() - calls
	perCheck := int(n / uint64(len(f.conns)))
	if n != uint64(stsbudget.CallsPerCheck*len(f.conns)) {
		return 0, 0, fmt.Errorf("%d STS calls for %d checks, want %d each (no retry)", n, len(f.conns), stsbudget.CallsPerCheck)
	}
	if n := outboxLen(mem) - outbox; n != 0 {
		return 0, 0, fmt.Errorf("routine checks wrote %d events", n)
	}
	for _, c := range f.conns {
		cur, err := mem.GetConnection(ctx, c.TenantID, c.AccountID)
		if err != nil {
			return 0, 0, err
		}
		if cur.Status != connection.Verified || cur.Version != c.Version || cur.LastCheckedAt.Before(started) {
			return 0, 0, fmt.Errorf("%s/%s: %s v%d checked at %s, not re-checked", c.TenantID, c.AccountID, cur.Status, cur.Version, cur.LastCheckedAt)
		}
	}
	rate := float64(d.handled) / d.elapsed.Seconds()
	cfg.progress("   %s: %d checks in %s (%.0f/s)", mode.name, d.handled, d.elapsed.Round(time.Millisecond), rate)
	return rate, perCheck, nil
}

// naiveLoop checks n connections one after another, as a single script
// would: read, check, write.
func naiveLoop(ctx context.Context, mem *store.Memory, f *fleet, mode stsMode, n int) (float64, error) {
	n = min(n, len(f.conns))
	checker := app.Checker(app.Components{STS: mode.assumer(), Log: quiet}, app.Verify{})
	p := connection.DefaultPolicy()
	ext := map[string]tenant.Tenant{}
	for _, t := range f.tenants {
		ext[t.ID] = t
	}
	start := time.Now()
	for _, c := range f.conns[:n] {
		cur, err := mem.GetConnection(ctx, c.TenantID, c.AccountID)
		if err != nil {
			return 0, err
		}
		t := ext[c.TenantID]
		job := probe.Job{Connection: cur, ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion}
		rep := checker.Check(ctx, job.Request())
		if rep.Outcome.Result != connection.ResultOK {
			return 0, fmt.Errorf("%s/%s: %s", c.TenantID, c.AccountID, rep.Outcome.Result)
		}
		out := rep.Outcome
		out.ExternalIDCurrent = true // the job carries the current external ID only
		tr, err := p.Apply(cur, out)
		if err != nil {
			return 0, err
		}
		if err := mem.Apply(ctx, tr); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// outboxLen is how many events the store's outbox holds.
func outboxLen(mem *store.Memory) int {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	for {
		evs, next, err := mem.ReadOutbox(done, n, 1<<20)
		if err != nil || len(evs) == 0 {
			return n
		}
		n = next
	}
}
