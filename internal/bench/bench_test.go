package bench

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario at toy sizes (the DynamoDB ones when
// DynamoDB Local is running, the binaries unless -short) and checks that
// each produced its figures. The scenarios themselves fail when what they
// measure did not happen.
func TestSmoke(t *testing.T) {
	cfg := Smoke()
	cfg.Root = "../.."
	cfg.DynamoDBEndpoint = os.Getenv("ROLECALL_DYNAMODB_ENDPOINT")
	if cfg.DynamoDBEndpoint == "" && os.Getenv("CI") == "true" {
		t.Fatal("ROLECALL_DYNAMODB_ENDPOINT is not set; CI must run the tests with `make test`")
	}
	if !testing.Short() {
		cfg.Starts = 1 // host builds only: cross-compiling for arm64 is `make bench`'s job
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Markdown())
	}
	t.Logf("\n%s", rep.Markdown())

	want := map[string]bool{"Re-verification": true, "Latency": true, "Scale": true}
	if cfg.DynamoDBEndpoint != "" {
		want["Cost per check"], want["Sweep"] = true, true
	}
	if cfg.Starts > 0 {
		want["Function binaries"] = true
	}
	got := map[string]int{}
	for _, r := range rep.Rows {
		got[r.Area]++
		if r.Goal != "" && r.Verdict == "" {
			t.Errorf("%s / %s has a goal but no verdict", r.Area, r.Measure)
		}
	}
	for area := range want {
		if got[area] == 0 {
			t.Errorf("no figures for %s:\n%s", area, rep.Markdown())
		}
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		got     string
		want    string
		atLeast bool
		x, goal float64
	}{
		{"floor met", "met", true, 0.95, 0.9},
		{"floor missed", "missed by 0.100 (11%)", true, 0.8, 0.9},
		{"ceiling met", "met", false, 9.5, 10},
		{"ceiling missed", "missed by 5 ms (50%)", false, 15, 10},
	}
	for _, tt := range tests {
		var v string
		if tt.atLeast {
			v = atLeast(tt.x, tt.goal, "")
		} else {
			v = atMost(tt.x, tt.goal, " ms")
		}
		if v != tt.want {
			t.Errorf("%s: %q, want %q", tt.got, v, tt.want)
		}
	}
	if p := percentile([]time.Duration{5, 1, 4, 2, 3}, 50); p != 3 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile([]time.Duration{5, 1, 4, 2, 3}, 100); p != 5 {
		t.Errorf("max = %v", p)
	}
}

// TestRunSelectsAndSkips: Run runs only the scenarios named, in Names'
// order, writes a progress line per step, and skips the DynamoDB ones
// without an endpoint.
func TestRunSelectsAndSkips(t *testing.T) {
	names := Names()
	if !slices.Contains(names, "sweep cost") || names[len(names)-1] != "scale" {
		t.Fatalf("Names() = %v", names)
	}
	var progress strings.Builder
	cfg := Smoke()
	cfg.Progress = &progress
	rep, err := Run(context.Background(), cfg, "sweep cost")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Measure != "skipped" || rep.Rows[0].Area != "sweep cost" {
		t.Errorf("rows = %+v, want one skipped row for sweep cost", rep.Rows)
	}
	if progress.Len() != 0 {
		t.Errorf("a skipped scenario wrote progress: %q", progress.String())
	}
	if full := Full(); full.Connections <= cfg.Connections || full.Scale.Connections <= cfg.Scale.Connections {
		t.Errorf("Full() is not larger than Smoke(): %+v", full)
	}
}
