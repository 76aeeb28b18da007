package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/opsapi"
)

type eventsOptions struct {
	opsOptions
	follow   bool
	since    time.Duration
	logGroup string
}

func newEventsCmd() *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [--follow] [--since 1h] [--log-group G]",
		Short: "Print RoleCall's events; --follow keeps printing new ones",
		Long: `events prints the events RoleCall emitted, oldest first, one line each (--json: one
EventBridge event per line, for jq).

Against rolecall serve (--api) it reads GET /v1/events. Against a deployed stack
(--stack NAME, or --log-group G) it reads the CloudWatch Logs group every event is
written to (the stack's EventLogGroupName output, /aws/events/rolecall-<stage>),
from --since ago, with the AWS credential chain (logs:FilterLogEvents).
--follow polls for new events until interrupted (from a log group, each poll reads again
the 5 minutes before the newest event seen, so that an event published late is printed
too).`,
		Example: `  rolecall events --api http://127.0.0.1:8080 --follow
  rolecall events --stack rolecall-prod --since 24h --json | jq 'select(.["detail-type"]=="Role Access Lost")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return report(cmd, o.run(cmd))
		},
	}
	addOpsFlags(cmd, &o.opsOptions)
	cmd.Flags().BoolVar(&o.follow, "follow", false, "keep printing new events until interrupted")
	cmd.Flags().DurationVar(&o.since, "since", time.Hour, "with a log group, how far back to start")
	cmd.Flags().StringVar(&o.logGroup, "log-group", "", "read this CloudWatch Logs group instead of the API")
	return cmd
}

// eventsPoll is how often --follow asks for new events.
var eventsPoll = time.Second

func (o *eventsOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	if o.since <= 0 {
		return usagef("--since must be positive")
	}
	p := &eventPrinter{w: cmd.OutOrStdout(), json: o.json}
	if o.logGroup == "" && o.stack != "" {
		if err := o.readStack(ctx); err != nil {
			return err
		}
		if o.logGroup = o.opsOptions.logGroup; o.logGroup == "" {
			return fmt.Errorf("stack %s names no events log group; give --log-group", o.stack)
		}
	}
	var err error
	if o.logGroup != "" {
		err = o.fromLogs(ctx, p)
	} else {
		var c *opsapi.Client
		if c, err = o.connect(ctx); err == nil {
			err = o.fromAPI(ctx, c, p)
		}
	}
	if o.follow && errors.Is(err, context.Canceled) {
		return nil // interrupted: the normal end of --follow
	}
	return err
}

// fromAPI pages through GET /v1/events, then polls with --follow.
func (o *eventsOptions) fromAPI(ctx context.Context, c *opsapi.Client, p *eventPrinter) error {
	const limit = 1000
	after := ""
	for {
		evs, raws, err := c.Events(ctx, after, limit)
		var ae *access.APIError
		if after != "" && errors.As(err, &ae) && ae.Code == httpapi.CodeUnknownEvent {
			// serve keeps its latest events only; this reader fell behind
			// them, and what came between is gone.
			return fmt.Errorf("serve no longer keeps event %s, the last one printed: the events after it were dropped before they were read (serve keeps its latest %d); run rolecall events again to read from the oldest it keeps", after, bus.DefaultKeep)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for i, e := range evs {
			p.print(e, raws[i])
			after = e.Detail.EventID
		}
		if len(evs) == limit {
			continue
		}
		if !o.follow {
			return nil
		}
		if err := backoff.Wait(ctx, eventsPoll); err != nil {
			return err
		}
	}
}

// oneLine is s shown (shown) on one line: an event is one line.
func oneLine(s string) string { return strings.Join(strings.Fields(shown(s)), " ") }

// logsLookback is how far before the newest event seen each --follow poll
// of the log group reads again: an event's log timestamp is its time, and
// one published late (the publisher retried) lands behind newer ones.
const logsLookback = 5 * time.Minute

// fromLogs reads the events log group with FilterLogEvents, then polls
// with --follow, each poll from logsLookback before the newest event seen.
// Log events seen already (by ID) are not printed again.
func (o *eventsOptions) fromLogs(ctx context.Context, p *eventPrinter) error {
	cfg, err := o.aws(ctx)
	if err != nil {
		return err
	}
	client := cloudwatchlogs.NewFromConfig(cfg)
	since := time.Now().Add(-o.since).UnixMilli()
	start, newest := since, since
	seen := map[string]int64{} // the timestamps of the log events printed, by ID
	for {
		for id, ts := range seen {
			if ts < start {
				delete(seen, id) // before every later poll's start
			}
		}
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(o.logGroup), StartTime: aws.Int64(start)}
		pages := cloudwatchlogs.NewFilterLogEventsPaginator(client, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("read log group %s: %w", o.logGroup, err)
			}
			for _, le := range out.Events {
				id, ts := aws.ToString(le.EventId), aws.ToInt64(le.Timestamp)
				if _, printed := seen[id]; printed || ts < start {
					continue // printed, or before the poll's window: no longer kept in seen
				}
				seen[id] = ts
				newest = max(newest, ts)
				raw := json.RawMessage(aws.ToString(le.Message))
				var e opsapi.Envelope
				if err := json.Unmarshal(raw, &e); err != nil {
					continue // not an event RoleCall wrote
				}
				p.print(e, raw)
			}
		}
		if !o.follow {
			return nil
		}
		start = max(since, newest-logsLookback.Milliseconds())
		if err := backoff.Wait(ctx, eventsPoll); err != nil {
			return err
		}
	}
}

// eventPrinter prints events as they come: aligned lines under a header,
// or JSON lines.
type eventPrinter struct {
	w      io.Writer
	json   bool
	headed bool
}

const eventLine = "%-20s  %-30s  %-20s  %-12s  %-12s  %s\n"

func (p *eventPrinter) print(e opsapi.Envelope, raw json.RawMessage) {
	if p.json {
		var compact json.RawMessage = raw
		if b, err := json.Marshal(raw); err == nil {
			compact = b
		}
		fmt.Fprintf(p.w, "%s\n", compact)
		return
	}
	if !p.headed {
		fmt.Fprintf(p.w, eventLine, "TIME", "EVENT", "TENANT", "ACCOUNT", "STATUS", "REASON")
		p.headed = true
	}
	at := e.Detail.OccurredAt
	if at.IsZero() {
		at = e.Time
	}
	fmt.Fprintf(p.w, eventLine, when(at), oneLine(e.DetailType), oneLine(e.Detail.TenantID), oneLine(e.Detail.AccountID), oneLine(string(e.Detail.Status)), orDash(oneLine(e.Detail.Reason.Code)))
}
