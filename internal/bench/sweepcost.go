package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

func rolearnOf(i int) (rolearn.ARN, error) { return rolearn.Parse(roleARN(i), rolearn.Rules{}) }

// jobCounter is a queue that counts the jobs sent to it.
type jobCounter struct{ n atomic.Int64 }

func (q *jobCounter) Send(ctx context.Context, jobs []probe.Job) error {
	q.n.Add(int64(len(jobs)))
	return nil
}

// sweepCost loads SweepTotal VERIFIED connections, SweepDue of them due,
// into DynamoDB Local with BatchWriteItem (items in the store's format),
// then runs a due sweep with the DynamoDB adapter and counts what it read.
func sweepCost(ctx context.Context, cfg Config, r *Report) error {
	tbl, err := newBenchTable(ctx, cfg.DynamoDBEndpoint, "rolecall-bench-sweep")
	if err != nil {
		return err
	}
	defer tbl.drop()
	plain := tbl.adapter(nil)

	now := time.Now().UTC()
	tenants := (cfg.SweepTotal + 999) / 1000
	ts := make([]tenant.Tenant, tenants)
	for i := range ts {
		t, err := tenant.New(fmt.Sprintf("tenant-%04d", i), fmt.Sprintf("Tenant %d", i), now)
		if err != nil {
			return err
		}
		if err := plain.CreateTenant(ctx, t); err != nil {
			return err
		}
		ts[i] = t
	}
	// Every stride-th connection is due (at most an hour ago); the others
	// are due within the next hour, as a sweep every minute sees them.
	stride := cfg.SweepTotal / cfg.SweepDue
	item := func(i int) (map[string]ddbtypes.AttributeValue, error) {
		t := ts[i/1000]
		c := connection.Connection{
			TenantID: t.ID, AccountID: accountID(i), RoleARN: roleARN(i), Status: connection.Verified,
			Reason:  connection.Reason{Code: connection.CodeVerified, Message: "verified"},
			Version: 2, SubmittedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour), VerifiedAt: now.Add(-2 * time.Hour),
			LastCheckedAt: now.Add(-time.Hour), ExternalIDVersion: 1,
		}
		if i%stride == 0 && i/stride < cfg.SweepDue {
			c.NextCheckAt = now.Add(-time.Duration(i%3600) * time.Second)
		} else {
			c.NextCheckAt = now.Add(time.Duration(1+i%3599) * time.Second)
		}
		return store.ItemFromConnection(c)
	}
	start := time.Now()
	if err := batchLoad(ctx, tbl.client, tbl.name, cfg.SweepTotal, item); err != nil {
		return err
	}
	load := time.Since(start)
	cfg.progress("   loaded %d connections in %s (%.0f items/s)", cfg.SweepTotal, load.Round(time.Millisecond), float64(cfg.SweepTotal)/load.Seconds())

	cnt := ddbmeter.New()
	counted := tbl.adapter(cnt)
	q := &jobCounter{}
	sw, err := app.NewSweep(app.Sweep{}, app.Components{Store: counted, Queue: q, Log: quiet})
	if err != nil {
		return err
	}
	sw.Now = func() time.Time { return now }
	start = time.Now()
	res, err := sw.Due(ctx)
	took := time.Since(start)
	if err != nil {
		return err
	}
	d := cnt.Read().Since(ddbmeter.Reading{})
	if res.Enqueued != cfg.SweepDue || int(q.n.Load()) != cfg.SweepDue {
		return fmt.Errorf("the sweep enqueued %d (queue got %d), want the %d due", res.Enqueued, q.n.Load(), cfg.SweepDue)
	}
	indexItems := d.Items - d.Ops["GetItem"] // GetItem reads are the tenants
	area := "Sweep"
	ratio := float64(indexItems) / float64(cfg.SweepDue)
	r.add(
		Row{Area: area, Measure: "table", Value: fmt.Sprintf("%d connections, %d due, %d tenants (DynamoDB Local; loaded with BatchWriteItem in %s, %.0f items/s)",
			cfg.SweepTotal, cfg.SweepDue, tenants, load.Round(time.Second), float64(cfg.SweepTotal)/load.Seconds())},
		Row{Area: area, Measure: "due-index items read ÷ items due (ScannedCount of the index queries)", Value: fmt.Sprintf("%s (%d ÷ %d)", trim(ratio), indexItems, cfg.SweepDue),
			Goal: "≤ 1.2", Verdict: atMost(ratio, 1.2, "")},
		Row{Area: area, Measure: "with the tenant reads (one GetItem per tenant per sweep)", Value: fmt.Sprintf("%s ((%d + %d) ÷ %d)",
			trim(float64(d.Items)/float64(cfg.SweepDue)), indexItems, d.Ops["GetItem"], cfg.SweepDue)},
		Row{Area: area, Measure: "requests and capacity", Value: fmt.Sprintf("%s; %s", perOp(d, 1), capacity(d, 1))},
		Row{Area: area, Measure: "sweep time (8 shards' first pages read in parallel, then merged oldest-due first; jobs to a counting queue)", Value: ms(took)},
	)
	return nil
}

// batchLoad writes items 0..n-1 with BatchWriteItem, 25 per request, from
// a few writers, retrying unprocessed items.
func batchLoad(ctx context.Context, client *dynamodb.Client, table string, n int, item func(i int) (map[string]ddbtypes.AttributeValue, error)) error {
	const per = 25
	batches := make(chan int)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for start := range batches {
				var reqs []ddbtypes.WriteRequest
				for i := start; i < min(start+per, n); i++ {
					it, err := item(i)
					if err != nil {
						errc <- err
						cancel()
						return
					}
					reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: it}})
				}
				in := map[string][]ddbtypes.WriteRequest{table: reqs}
				for attempt := 0; len(in) > 0; attempt++ {
					out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: in})
					if err != nil {
						errc <- fmt.Errorf("batch write: %w", err)
						cancel()
						return
					}
					in = out.UnprocessedItems
					// A batch write may leave items unprocessed (when
					// throttled): back off before writing them again.
					if len(in) > 0 && backoff.Wait(ctx, backoff.Doubling(20*time.Millisecond, time.Second, attempt)) != nil {
						return
					}
				}
			}
		})
	}
feed:
	for start := 0; start < n; start += per {
		select {
		case batches <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return ctx.Err()
}
