// Package bench measures RoleCall against its performance goals (README "Performance")
// and prints the figures as one table: re-verification throughput against
// the ideal, the AWS requests and capacity a check costs, what a sweep
// reads, submit-to-VERIFIED and API latency, the functions' binary sizes
// and cold starts, and the STS budget at scale (in virtual time).
//
// `make bench` runs Run with Full() (go run ./cmd/rolecall-bench, with
// DynamoDB Local started by .ci/with-dynamodb.sh); the package's test runs
// the same scenarios at toy sizes, so plain `go test ./...` keeps them
// working without spending minutes.
//
// Every scenario drives the real handlers, built by internal/app's
// constructors as the Lambdas build them (verify.Worker, sweep.Sweeper,
// the HTTP API), `rolecall serve` (emulator.Start) and the Lambda
// bootstraps, on the embedded or local stand-ins of the AWS services
// (internal/testkit's fakes and meters), and fails rather than report a
// figure when what it measured did not happen (a check not done, an event
// emitted by a routine check, a request refused).
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
)

// Config sizes the scenarios. Full and Smoke are the two used.
type Config struct {
	// Re-verification: connections checked, the sandbox STS latency per
	// call, and how many connections the naive loop checks.
	Connections      int
	STSLatency       time.Duration
	NaiveConnections int
	// Cost per check: connections driven through each kind of check.
	CostConnections int
	// Sweep: connections in the table and how many of them are due.
	SweepTotal, SweepDue int
	// Latency: sequential submissions timed to VERIFIED, and the API load
	// (requests per second for LoadDuration after LoadWarmup).
	LatencySamples           int
	LoadRate                 int
	LoadWarmup, LoadDuration time.Duration
	// Binaries: cold starts per function (0 skips the scenario); Targets
	// are the GOOS/GOARCH the sizes are measured for.
	Starts      int
	SizeTargets []string
	// Scale: the STS budget's simulation (virtual time).
	Scale ScaleSizes

	// DynamoDBEndpoint is DynamoDB Local's; empty skips the scenarios
	// that need it.
	DynamoDBEndpoint string
	// Root is the repository root (Makefile, template.yaml).
	Root string
	// Progress receives a line per step (nil: none).
	Progress io.Writer
}

// Full is what `make bench` runs: the sizes the goals are stated for.
func Full() Config {
	return Config{
		Connections: 6_000, STSLatency: 50 * time.Millisecond, NaiveConnections: 100,
		CostConnections: 100,
		SweepTotal:      100_000, SweepDue: 1_000,
		LatencySamples: 30, LoadRate: 500, LoadWarmup: time.Second, LoadDuration: 10 * time.Second,
		Starts: 10, SizeTargets: []string{"linux/arm64"},
		Scale: ScaleSizes{Connections: 1_000_000, Interval: time.Hour, Every: time.Minute, Hours: 5 * time.Hour, Settle: 2*time.Hour + 30*time.Minute,
			StretchConnections: 720_000, StretchHours: 3 * time.Hour, StretchSettle: 90 * time.Minute,
			SubmitEvery: 5 * time.Second, HeapSmall: 100_000, HeapLarge: 1_000_000,
			ThrottleConnections: 300_000, ThrottleOther: 400, ThrottleFrom: 10 * time.Minute, ThrottleFor: 30 * time.Minute},
	}
}

// Smoke is the same scenarios at toy sizes, for `go test`.
func Smoke() Config {
	return Config{
		Connections: 60, STSLatency: 5 * time.Millisecond, NaiveConnections: 5,
		CostConnections: 5,
		SweepTotal:      600, SweepDue: 20,
		LatencySamples: 3, LoadRate: 100, LoadWarmup: 100 * time.Millisecond, LoadDuration: 300 * time.Millisecond,
		Scale: ScaleSizes{Connections: 16_000, Interval: time.Minute, Every: 5 * time.Second, Hours: 8 * time.Minute, Settle: 4 * time.Minute,
			StretchConnections: 12_000, StretchHours: 6 * time.Minute, StretchSettle: 3 * time.Minute,
			SubmitEvery: 2 * time.Second, HeapSmall: 10_000, HeapLarge: 40_000,
			ThrottleConnections: 16_000, ThrottleOther: 400, ThrottleFrom: time.Minute, ThrottleFor: 2 * time.Minute},
	}
}

// Row is one figure of the table.
type Row struct {
	Area    string
	Measure string
	Value   string
	Goal    string // "" when the figure has none
	Verdict string // "met", "missed by …", or "" without a goal
}

// Report is the table.
type Report struct {
	Rows  []Row
	Notes []string
}

func (r *Report) add(rows ...Row) { r.Rows = append(r.Rows, rows...) }

// Markdown renders the table and its notes.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| Area | Measure | Result | Goal | |\n|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.Area, row.Measure, row.Value, row.Goal, row.Verdict)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// scenario is one part of the run.
type scenario struct {
	name string
	run  func(ctx context.Context, cfg Config, r *Report) error
	// needs DynamoDB Local
	dynamo bool
}

var scenarios = []scenario{
	{"re-verification throughput", reverification, false},
	{"cost per check", costPerCheck, true},
	{"sweep cost", sweepCost, true},
	{"latency", latency, false},
	{"function binaries", binaries, false},
	{"scale", scale, false},
}

// Names lists the scenarios in the order Run runs them.
func Names() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// Run runs the scenarios named in only (all when empty) and returns the
// table. A scenario that fails adds a row saying so and the run goes on;
// the error joins every failure.
func Run(ctx context.Context, cfg Config, only ...string) (*Report, error) {
	r := &Report{}
	var errs []string
	for _, s := range scenarios {
		if len(only) > 0 && !slices.Contains(only, s.name) {
			continue
		}
		if s.dynamo && cfg.DynamoDBEndpoint == "" {
			r.add(Row{Area: s.name, Measure: "skipped", Value: "DynamoDB Local not running (run `make bench`)"})
			continue
		}
		start := time.Now()
		cfg.progress("== %s", s.name)
		if err := s.run(ctx, cfg, r); err != nil {
			msg := strings.Join(strings.Fields(err.Error()), " ") // one table cell
			r.add(Row{Area: s.name, Measure: "FAILED", Value: strings.ReplaceAll(msg, "|", "\\|")})
			errs = append(errs, fmt.Sprintf("%s: %v", s.name, err))
		}
		cfg.progress("== %s done in %s", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("bench: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// quiet is the logger the pipeline gets: the benchmark measures work, not
// log output.
var quiet = slog.New(slog.DiscardHandler)

// atLeast is the verdict of a figure whose goal is a floor.
func atLeast(got, goal float64, unit string) string {
	if got >= goal {
		return "met"
	}
	return fmt.Sprintf("missed by %s%s (%.0f%%)", trim(goal-got), unit, 100*(goal-got)/goal)
}

// atMost is the verdict of a figure whose goal is a ceiling.
func atMost(got, goal float64, unit string) string {
	if got <= goal {
		return "met"
	}
	return fmt.Sprintf("missed by %s%s (%.0f%%)", trim(got-goal), unit, 100*(got-goal)/goal)
}

// trim formats a number with at most 3 significant decimals.
func trim(x float64) string {
	switch {
	case x == math.Trunc(x) && math.Abs(x) < 1e15:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	case math.Abs(x) >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

// ms renders a duration in milliseconds.
func ms(d time.Duration) string {
	return trim(float64(d.Microseconds())/1000) + " ms"
}

// percentile returns the p-th percentile (0-100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
