package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

// costPerCheck drives connections through every kind of check with the
// verify worker on the DynamoDB adapter against DynamoDB Local, counting
// the requests and the capacity DynamoDB reports, and the events written;
// then sweeps them into an SQS queue (awsfake, through the SDK) to count
// the queue's requests.
func costPerCheck(ctx context.Context, cfg Config, r *Report) error {
	cnt := ddbmeter.New()
	tbl, err := newBenchTable(ctx, cfg.DynamoDBEndpoint, "rolecall-bench-cost")
	if err != nil {
		return err
	}
	defer tbl.drop()
	st, plain := tbl.adapter(cnt), tbl.adapter(nil) // plain: uncounted reads for the bookkeeping
	sb := newSandbox()
	// The verify handler's routine worker, built as the Lambda's.
	vh, err := app.NewVerify(app.Verify{Policy: connection.DefaultPolicy(), CheckBaseDelay: time.Millisecond},
		app.Components{Region: benchRegion, Store: st, Queue: queue.NewMemory(), STS: sb.Assumer(partnerPrincipal), Log: quiet})
	if err != nil {
		return err
	}
	w := vh.Default
	p := w.Policy
	n := cfg.CostConnections

	t, err := tenant.New("cost", "Cost", time.Now())
	if err != nil {
		return err
	}
	if err := plain.CreateTenant(ctx, t); err != nil {
		return err
	}
	area := "Cost per check"
	events := func() (int, error) {
		total := 0
		for i := range n {
			evs, err := plain.Events(ctx, t.ID, accountID(i))
			if err != nil {
				return 0, err
			}
			total += len(evs)
		}
		return total, nil
	}
	// measure runs step for every connection and adds its row.
	measure := func(what string, step func(i int) error) (ddbmeter.Reading, int, error) {
		before, err := events()
		if err != nil {
			return ddbmeter.Reading{}, 0, err
		}
		s0 := cnt.Read()
		for i := range n {
			if err := step(i); err != nil {
				return ddbmeter.Reading{}, 0, fmt.Errorf("%s of %s: %w", what, accountID(i), err)
			}
		}
		d := cnt.Read().Since(s0)
		after, err := events()
		if err != nil {
			return ddbmeter.Reading{}, 0, err
		}
		return d, after - before, nil
	}
	job := func(i int, why string) (probe.Job, error) {
		c, err := plain.GetConnection(ctx, t.ID, accountID(i))
		return probe.Job{Connection: c, ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion, Why: why}, err
	}
	// process runs the worker on the connection's current version and
	// expects the status it should reach.
	process := func(want connection.Status) func(i int) error {
		return func(i int) error {
			j, err := job(i, probe.WhyScheduled)
			if err != nil {
				return err
			}
			if _, err := w.Process(ctx, j, 1); err != nil {
				return err
			}
			c, err := plain.GetConnection(ctx, t.ID, accountID(i))
			if err != nil {
				return err
			}
			if c.Status != want {
				return fmt.Errorf("status %s, want %s", c.Status, want)
			}
			return nil
		}
	}
	type step struct {
		what       string
		run        func(i int) error
		transition bool
		routine    bool // the routine check of a healthy connection: the goal of 0 events
	}
	steps := []step{
		{"submission (new connection → PENDING)", func(i int) error {
			a, err := rolearnOf(i)
			if err != nil {
				return err
			}
			if err := sb.PutRole(a.String(), trustPolicy(t.ExternalID, partnerPrincipal)); err != nil {
				return err
			}
			return st.Apply(ctx, p.Submit(nil, t.ID, a, t.ExternalIDVersion, time.Now()))
		}, true, false},
		{"check that verifies (PENDING → VERIFIED)", process(connection.Verified), true, false},
		{"routine check, role healthy (VERIFIED stays)", process(connection.Verified), false, true},
		{"routine check, role healthy again", process(connection.Verified), false, true},
		{"check that fails once (VERIFIED, suspect)", func(i int) error {
			sb.DeleteRole(roleARN(i))
			return process(connection.Verified)(i)
		}, false, false},
		{"check that loses access (→ ACCESS_LOST)", process(connection.AccessLost), true, false},
		{"check that restores access (→ VERIFIED)", func(i int) error {
			if err := sb.PutRole(roleARN(i), trustPolicy(t.ExternalID, partnerPrincipal)); err != nil {
				return err
			}
			return process(connection.Verified)(i)
		}, true, false},
		{"disconnection (claim released)", func(i int) error {
			c, err := plain.GetConnection(ctx, t.ID, accountID(i))
			if err != nil {
				return err
			}
			return st.Apply(ctx, p.Disconnect(c, t.ExternalIDVersion, time.Now()))
		}, true, false},
	}
	routineEvents := 0
	var sqsRow Row
	for i, s := range steps {
		if s.what == "disconnection (claim released)" { // while every connection is live
			if sqsRow, err = sqsPerCheck(ctx, cfg, plain, area); err != nil {
				return err
			}
		}
		d, evs, err := measure(s.what, s.run)
		if err != nil {
			return err
		}
		value := fmt.Sprintf("%s; %s; %s events", perOp(d, n), capacity(d, n), trim(float64(evs)/float64(n)))
		if d.Items > 0 {
			value += fmt.Sprintf("; %s items read", trim(float64(d.Items)/float64(n)))
		}
		row := Row{Area: area, Measure: "DynamoDB per " + s.what, Value: value}
		switch {
		case s.transition && (evs != n || d.Ops["TransactWriteItems"] != n):
			return fmt.Errorf("%s: %d events and %d transactions for %d transitions", s.what, evs, d.Ops["TransactWriteItems"], n)
		case s.routine:
			routineEvents += evs
			if d.Requests() != n || d.Ops["UpdateItem"] != n {
				return fmt.Errorf("%s: %s per check, want one UpdateItem", s.what, perOp(d, n))
			}
			row.Goal, row.Verdict = "1 conditional write, no read", "met"
		}
		r.add(row)
		if i == 3 {
			r.add(Row{Area: area, Measure: "events per routine check", Value: trim(float64(routineEvents) / float64(2*n)),
				Goal: "0", Verdict: atMost(float64(routineEvents)/float64(2*n), 0, "")})
		}
	}
	r.add(sqsRow)
	r.Notes = append(r.Notes, "Capacity is what DynamoDB Local reports with ReturnConsumedCapacity=INDEXES (on-demand tables bill the same units as request units); "+
		"a routine check writes the connection item and moves its entry in the sparse due index, which is why it costs index units.")
	return nil
}

// sqsPerCheck sweeps every live connection into an SQS queue (the awsfake
// SQS endpoint, through the real SDK client and queue.SQS) and counts
// SendMessageBatch requests per check; the verify side is derived from the
// event source mapping's batch size.
func sqsPerCheck(ctx context.Context, cfg Config, st *store.DynamoDB, area string) (Row, error) {
	fake := awsfake.NewSQS()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := app.AWSComponents(awsfake.ClientConfig(srv.URL, 3), app.Resources{QueueURL: srv.URL + "/111122223333/verify"}, quiet, app.SQS)
	if err != nil {
		return Row{}, err
	}
	c.Store = st
	sw, err := app.NewSweep(app.Sweep{}, c)
	if err != nil {
		return Row{}, err
	}
	res, err := sw.All(ctx)
	if err != nil {
		return Row{}, fmt.Errorf("sweep into SQS: %w", err)
	}
	if res.Enqueued != cfg.CostConnections || len(fake.Messages()) != res.Enqueued {
		return Row{}, fmt.Errorf("swept %d jobs, the queue holds %d, want %d", res.Enqueued, len(fake.Messages()), cfg.CostConnections)
	}
	batch, _, err := verifyDeployment(cfg.Root)
	if err != nil {
		return Row{}, err
	}
	send := float64(fake.Calls("SendMessageBatch")) / float64(res.Enqueued)
	// The mapping's pollers receive and delete at most 10 messages a call,
	// whatever the batch it hands the function.
	recv := 1 / float64(min(batch, sqsReceiveBatch))
	del := 1 / float64(min(batch, sqsDeleteBatch))
	return Row{Area: area, Measure: "SQS requests per check",
		Value: fmt.Sprintf("%s: %s SendMessageBatch (measured: %d calls for %d jobs) + %s ReceiveMessage + %s DeleteMessageBatch (event source mapping, BatchSize %d, 10 messages a call; derived)",
			trim(send+recv+del), trim(send), fake.Calls("SendMessageBatch"), res.Enqueued, trim(recv), trim(del), batch)}, nil
}

// Prices, US East (N. Virginia), used for the monthly cost per 1,000
// connections. Each from the AWS pricing page named, as read on 2026-12-01.
const (
	// https://aws.amazon.com/dynamodb/pricing/on-demand/ — on-demand write
	// request units (since the 2024-11-01 on-demand price reduction).
	priceDynamoDBWriteRequestUnit = 0.625 / 1e6
	// https://aws.amazon.com/dynamodb/pricing/on-demand/ — on-demand read
	// request units.
	priceDynamoDBReadRequestUnit = 0.125 / 1e6
	// https://aws.amazon.com/sqs/pricing/ — standard queue requests (each
	// 64 KB chunk of a request is one), beyond the free million.
	priceSQSRequest = 0.40 / 1e6
	// https://aws.amazon.com/lambda/pricing/ — Arm duration, first 7.5
	// billion GB-seconds a month.
	priceLambdaArmGBSecond = 0.0000133334
	// https://aws.amazon.com/lambda/pricing/ — requests.
	priceLambdaRequest = 0.20 / 1e6
	// https://aws.amazon.com/eventbridge/pricing/ — custom events put on
	// an event bus.
	priceEventBridgeEvent = 1.00 / 1e6
)

// Assumptions of the cost row, beyond what the scale run counts.
const (
	hoursPerMonth   = 730
	verifyMemoryGB  = 0.25 // template.yaml Globals MemorySize: 256
	verifyBatchSize = 500  // template.yaml Jobs BatchSize: messages per invocation
	sqsReceiveBatch = 10   // a ReceiveMessage returns at most 10 messages
	sqsDeleteBatch  = 10   // Lambda deletes handled messages in batches of 10
	// dueItemKB is a connection item's size in the due index's pages
	// (the index projects the whole item): about 0.6 KB.
	dueItemKB = 0.6
)

// monthlyCostRow prices a month of hourly checks of 1,000 connections from
// what the scale run counted per check: DynamoDB writes and due items read,
// SQS sends (plus the receive and delete each message costs through the
// event source mapping), Lambda GB-seconds of the verify instances, and the
// events (a routine check that changes nothing emits none).
func monthlyCostRow(area string, r scaleResult) Row {
	checks := float64(max(1, r.allChecks))
	perMonth := 1000.0 * hoursPerMonth
	writes := float64(r.writes) / checks
	reads := float64(r.dueItemsRead) / checks * dueItemKB / 4 * 0.5 // eventually consistent query: 0.5 RRU per 4 KB
	sqsReqs := float64(r.sendBatches)/checks + 1.0/sqsReceiveBatch + 1.0/sqsDeleteBatch
	gbSeconds := r.busy.Seconds() * verifyMemoryGB / checks
	invocations := 1.0 / verifyBatchSize
	ddb := perMonth * (writes*priceDynamoDBWriteRequestUnit + reads*priceDynamoDBReadRequestUnit)
	sqsCost := perMonth * sqsReqs * priceSQSRequest
	lambdaCost := perMonth * (gbSeconds*priceLambdaArmGBSecond + invocations*priceLambdaRequest)
	events := perMonth * 0 * priceEventBridgeEvent
	total := ddb + sqsCost + lambdaCost + events
	return Row{Area: area, Measure: "monthly AWS cost per 1,000 connections checked hourly (US East prices; STS is free)",
		Value: fmt.Sprintf("$%.3f: DynamoDB $%.3f (%.2f writes, %.2f due items read per check), SQS $%.3f (%.2f requests per check), Lambda arm64 $%.3f (%.1f ms of a 256 MB instance per check), EventBridge $0 (no event per routine check)",
			total, ddb, writes, float64(r.dueItemsRead)/checks, sqsCost, sqsReqs, lambdaCost, 1000*r.busy.Seconds()/checks)}
}
