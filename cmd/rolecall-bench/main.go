// Command rolecall-bench runs RoleCall's benchmarks (`make bench`) and prints the
// results as a Markdown table, with the date, the machine's core count and
// the command, ready for the README's performance section.
//
//	go run ./cmd/rolecall-bench [-only "sweep cost,latency"] [-connections 10000] [-sweep-total 100000]
//
// The DynamoDB scenarios need ROLECALL_DYNAMODB_ENDPOINT (make bench starts
// DynamoDB Local through .ci/with-dynamodb.sh); without it they are skipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/bench"
)

func main() {
	cfg := bench.Full()
	only := flag.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(bench.Names(), ", "))
	flag.IntVar(&cfg.Connections, "connections", cfg.Connections, "VERIFIED connections re-verified")
	flag.DurationVar(&cfg.STSLatency, "sts-latency", cfg.STSLatency, "sandbox STS latency per call")
	flag.IntVar(&cfg.SweepTotal, "sweep-total", cfg.SweepTotal, "connections in the sweep table")
	flag.IntVar(&cfg.SweepDue, "sweep-due", cfg.SweepDue, "due connections in the sweep table")
	flag.IntVar(&cfg.LoadRate, "rate", cfg.LoadRate, "API load, requests per second")
	flag.DurationVar(&cfg.LoadDuration, "load-duration", cfg.LoadDuration, "API load duration")
	flag.IntVar(&cfg.Starts, "starts", cfg.Starts, "cold starts per function")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}

	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	cfg.Root = root
	cfg.DynamoDBEndpoint = os.Getenv("ROLECALL_DYNAMODB_ENDPOINT")
	cfg.Progress = os.Stderr
	var names []string
	if *only != "" {
		for _, n := range strings.Split(*only, ",") {
			names = append(names, strings.TrimSpace(n))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	rep, err := bench.Run(ctx, cfg, names...)
	fmt.Printf("RoleCall benchmarks, %s, %d cores (nproc), %s/%s, %s; `%s` took %s.\n\n",
		start.UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		"make bench", time.Since(start).Round(time.Second))
	fmt.Print(rep.Markdown())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// repoRoot is the directory holding go.mod, from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
