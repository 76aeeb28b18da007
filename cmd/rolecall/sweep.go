package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/jedib0t/go-pretty/v6/progress"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/opsapi"
)

func newSweepCmd() *cobra.Command {
	o := &opsOptions{}
	var all, wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sweep [--all] [--wait [--timeout 10m]]",
		Short: "Queue checks of the due connections (or of all live ones) now",
		Long: `sweep asks the API (POST /v1/sweeps, rolecall serve) to queue the checks that are
due, or with --all a check of every live connection. With --wait it follows the checks
until as many have landed as were queued: a progress bar on a terminal (checks done of
queued, failures so far, rate, time left), one plain line per change when stderr is not
a terminal, and a summary at the end. A check has landed when its connection's last
check time or version moved; it failed when the connection is FAILED or ACCESS_LOST
or has failed checks in a row. The exit status is 1 when --timeout passes first.`,
		Example: `  rolecall sweep --all --wait
  rolecall sweep --json`,
		Args: cobra.NoArgs,
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			var before map[string]checkMark
			if wait {
				var err error
				if before, err = liveChecks(ctx, c); err != nil {
					return err
				}
			}
			started := time.Now()
			n, raw, err := c.Sweep(ctx, all)
			var ae *access.APIError
			if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
				fmt.Fprintln(cmd.ErrOrStderr(), "rolecall sweep: this API has no sweep route; a deployed stack sweeps on its schedule, and `connections check` re-checks one connection")
			}
			if err != nil {
				return err
			}
			if !wait {
				return o.print(cmd, raw, func() error {
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "Sweep queued %d checks.\n", n)
					return err
				})
			}
			s := &sweepWatch{c: c, before: before, queued: n, started: started, every: pollEvery, stderr: cmd.ErrOrStderr()}
			sum, err := s.run(ctx, timeout, isTerminal(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if o.json {
				if err := printJSON(cmd.OutOrStdout(), sum); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.ErrOrStderr(), sum.String())
			if sum.TimedOut {
				return exitCode(1)
			}
			return nil
		}),
	}
	addOpsFlags(cmd, o)
	cmd.Flags().BoolVar(&all, "all", false, "check every live connection, not only the due ones")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the checks until they have landed")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait, how long to wait at most")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkMark is what tells that a connection was checked since.
type checkMark struct {
	lastChecked time.Time
	version     int64
}

// liveChecks lists the live connections' check marks.
func liveChecks(ctx context.Context, c *opsapi.Client) (map[string]checkMark, error) {
	out := map[string]checkMark{}
	for _, st := range allStatuses {
		if st == connection.Disconnected {
			continue
		}
		cs, _, err := c.Connections(ctx, "", st)
		if err != nil {
			return nil, err
		}
		for _, cn := range cs {
			out[cn.TenantID+"/"+cn.AccountID] = checkMark{cn.LastCheckedAt, cn.Version}
		}
	}
	return out, nil
}

// sweepSummary is the result of a followed sweep (--json prints it).
type sweepSummary struct {
	Queued   int     `json:"queued"`
	Done     int     `json:"done"`
	Failed   int     `json:"failed"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"checksPerSecond"`
	TimedOut bool    `json:"timedOut"`
}

func (s sweepSummary) String() string {
	if s.Queued == 0 {
		return "Sweep: nothing was due; no checks queued."
	}
	end := "done"
	if s.TimedOut {
		end = "timed out"
	}
	return fmt.Sprintf("Sweep %s: %d of %d checks landed, %d failed, in %.1fs (%.1f checks/s).", end, s.Done, s.Queued, s.Failed, s.Seconds, s.Rate)
}

// sweepWatch follows a sweep's checks.
type sweepWatch struct {
	c       *opsapi.Client
	before  map[string]checkMark
	queued  int
	started time.Time
	every   time.Duration
	stderr  io.Writer
}

// measure counts the checks that landed since the sweep and the failed
// ones among them.
func (s *sweepWatch) measure(ctx context.Context) (done, failed int, err error) {
	for _, st := range allStatuses {
		cs, _, err := s.c.Connections(ctx, "", st)
		if err != nil {
			return 0, 0, err
		}
		for _, cn := range cs {
			b, known := s.before[cn.TenantID+"/"+cn.AccountID]
			if !known || (b.lastChecked.Equal(cn.LastCheckedAt) && b.version == cn.Version) {
				continue
			}
			done++
			if cn.Status == connection.Failed || cn.Status == connection.AccessLost || cn.ConsecutiveFailures > 0 {
				failed++
			}
		}
	}
	return min(done, s.queued), min(failed, s.queued), nil
}

// run polls until every queued check landed or timeout passes, showing
// progress on stderr.
func (s *sweepWatch) run(ctx context.Context, timeout time.Duration, tty bool) (sweepSummary, error) {
	sum := sweepSummary{Queued: s.queued}
	var show progressView = &plainProgress{w: s.stderr, queued: s.queued, started: s.started, last: -1}
	if tty {
		show = newBarProgress(s.stderr, s.queued, s.started)
	}
	defer show.stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for s.queued > 0 {
		done, failed, err := s.measure(ctx)
		if err != nil {
			return sum, err
		}
		sum.Done, sum.Failed = done, failed
		show.update(done, failed)
		if done >= s.queued {
			break
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-deadline.C:
			sum.TimedOut = true
		case <-tick.C:
		}
		if sum.TimedOut {
			break
		}
	}
	sum.Seconds = time.Since(s.started).Seconds()
	if sum.Seconds > 0 {
		sum.Rate = float64(sum.Done) / sum.Seconds
	}
	return sum, nil
}

// progressView shows a sweep's progress.
type progressView interface {
	update(done, failed int)
	stop()
}

// plainProgress prints a line whenever the count changes.
type plainProgress struct {
	w       io.Writer
	queued  int
	started time.Time
	last    int
}

func (p *plainProgress) update(done, failed int) {
	if done == p.last {
		return
	}
	p.last = done
	rate, left := pace(p.started, done, p.queued)
	fmt.Fprintf(p.w, "sweep: %d/%d checks done, %d failed, %.1f checks/s, %s left\n", done, p.queued, failed, rate, left)
}

// pace is the rate of checks since started and the time the rest will
// take at that rate.
func pace(started time.Time, done, queued int) (float64, string) {
	el := time.Since(started).Seconds()
	if el <= 0 || done == 0 {
		return 0, "unknown"
	}
	rate := float64(done) / el
	return rate, time.Duration(float64(queued-done) / rate * float64(time.Second)).Round(time.Second).String()
}

func (p *plainProgress) stop() {}

// barProgress is go-pretty's progress bar with the failures in its message.
type barProgress struct {
	pw       progress.Writer
	tr       *progress.Tracker
	queued   int
	started  time.Time
	rendered chan struct{} // closed when Render returns
}

func newBarProgress(w io.Writer, queued int, started time.Time) *barProgress {
	pw := progress.NewWriter()
	pw.SetOutputWriter(w)
	pw.SetAutoStop(false)
	pw.SetTrackerLength(30)
	pw.SetMessageLength(40)
	pw.SetUpdateFrequency(100 * time.Millisecond)
	pw.SetStyle(progress.StyleBlocks)
	vis := &pw.Style().Visibility
	vis.ETA, vis.Speed, vis.Time, vis.Value, vis.Percentage, vis.TrackerOverall = true, true, true, true, true, false
	pw.Style().Options.SpeedSuffix = " checks/s"
	tr := &progress.Tracker{Message: fmt.Sprintf("0/%d done, 0 failed", queued), Total: int64(queued), Units: progress.UnitsDefault}
	pw.AppendTracker(tr)
	b := &barProgress{pw: pw, tr: tr, queued: queued, started: started, rendered: make(chan struct{})}
	go func() { defer close(b.rendered); pw.Render() }()
	return b
}

func (b *barProgress) update(done, failed int) {
	_, left := pace(b.started, done, b.queued)
	b.tr.UpdateMessage(fmt.Sprintf("%d/%d done, %d failed, %s left", done, b.queued, failed, left))
	b.tr.SetValue(int64(done))
}

// stop draws the bar a last time and returns once it is no longer drawn,
// so nothing overwrites what is printed after it. A Stop that comes before
// Render has begun is lost, so it is repeated until Render returns.
func (b *barProgress) stop() {
	if b.tr.Value() >= b.tr.Total {
		b.tr.MarkAsDone()
	}
	again := time.NewTicker(10 * time.Millisecond)
	defer again.Stop()
	for {
		b.pw.Stop()
		select {
		case <-b.rendered:
			return
		case <-again.C:
		}
	}
}
