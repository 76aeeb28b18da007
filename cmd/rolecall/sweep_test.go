package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// sweepFleet starts serve with three verified connections, one of whose
// roles is then deleted so its next check fails.
func sweepFleet(t *testing.T) {
	t.Helper()
	s := startServe(t)
	for _, id := range []string{"acme", "bravo", "charlie"} {
		acct := connect(t, s, id)
		if id == "charlie" {
			var h struct {
				Connection struct {
					RoleARN string `json:"roleArn"`
				} `json:"connection"`
			}
			rolecall(t, "connections", "get", id, acct, "--json").must(t, 0).json(t, &h)
			httpJSON(t, "DELETE", s.URL+"/_sandbox/roles?roleArn="+url.QueryEscape(h.Connection.RoleARN), "", nil, 200, nil)
		}
	}
}

var summaryRE = regexp.MustCompile(`Sweep done: 3 of 3 checks landed, 1 failed, in [0-9.]+s \([0-9.]+ checks/s\)\.`)

func TestSweepWaitOnAPipe(t *testing.T) {
	sweepFleet(t)
	r := rolecall(t, "sweep", "--all", "--wait").must(t, 0)
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("terminal control sequences on a pipe: %q", r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if !summaryRE.MatchString(lines[len(lines)-1]) {
		t.Errorf("no summary at the end:\n%s", r.stderr)
	}
	progress := regexp.MustCompile(`^sweep: (\d)/3 checks done, (\d) failed, [0-9.]+ checks/s, \S+ left$`)
	last := ""
	for _, l := range lines[:len(lines)-1] {
		m := progress.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not a progress line: %q", l)
			continue
		}
		last = m[1] + "/" + m[2]
	}
	if last != "3/1" {
		t.Errorf("last progress %q, want 3 done, 1 failed:\n%s", last, r.stderr)
	}

	var sum sweepSummary
	rolecall(t, "sweep", "--all", "--wait", "--json").must(t, 0).json(t, &sum)
	if sum.Queued != 3 || sum.Done != 3 || sum.Failed != 1 || sum.TimedOut || sum.Rate <= 0 {
		t.Errorf("--json summary %+v", sum)
	}
	var queued struct {
		Enqueued *int `json:"enqueued"`
	}
	rolecall(t, "sweep", "--all", "--json").must(t, 0).json(t, &queued)
	if queued.Enqueued == nil || *queued.Enqueued != 3 {
		t.Errorf("sweep --all --json: %v", queued.Enqueued)
	}
	q := rolecall(t, "sweep").must(t, 0)
	if q.stdout != "Sweep queued 0 checks.\n" {
		t.Errorf("due sweep: %q", q.stdout)
	}
	if r := rolecall(t, "sweep", "--wait", "--timeout", "0s").must(t, 2); !strings.Contains(r.stderr, "--timeout") {
		t.Errorf("zero timeout: %q", r.stderr)
	}
}

func TestSweepWaitOnATerminal(t *testing.T) {
	sweepFleet(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, err := io.Copy(&screen, ptmx)
		if err != nil && !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
			t.Errorf("read pty: %v", err)
		}
	}()
	var stdout bytes.Buffer
	root := newRoot()
	root.SetArgs([]string{"sweep", "--all", "--wait"})
	root.SetOut(&stdout)
	root.SetErr(tty)
	err = root.ExecuteContext(context.Background())
	tty.Close()
	<-read
	if exitStatus(err) != 0 {
		t.Fatalf("exit %v: %s", err, screen.String())
	}
	// The checks may land before the bar is first drawn (it is redrawn
	// every 100ms), so only the bar's last line is certain here; the
	// drawing itself is TestBarProgressDrawsTheTrack's.
	out := screen.String()
	if !strings.Contains(out, "3/3 done, 1 failed") {
		t.Errorf("the terminal shows no final count:\n%q", out)
	}
	if !summaryRE.MatchString(out) {
		t.Errorf("no summary on the terminal:\n%q", out)
	}
	if strings.Contains(out, "sweep: ") {
		t.Errorf("plain progress lines on a terminal:\n%q", out)
	}
}

// TestBarProgressDrawsTheTrack watches the bar while checks are still
// outstanding: it must draw its frame, an unfilled track and the count,
// then end on the final count. It waits for what is drawn, not for time.
func TestBarProgressDrawsTheTrack(t *testing.T) {
	var screen syncbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bar := newBarProgress(&screen, 3, time.Now())
	bar.update(1, 0)
	for _, want := range []string{"\x1b[", "║", "░", "1/3 done, 0 failed", "checks/s", "left"} {
		if !screen.WaitFor(ctx, want) {
			t.Errorf("the bar shows no %q:\n%q", want, screen.String())
		}
	}
	bar.update(3, 1)
	bar.stop()
	if out := screen.String(); !strings.Contains(out, "3/3 done, 1 failed") || !strings.Contains(out, "done!") {
		t.Errorf("the bar does not end on the final count:\n%q", out)
	}
}

// TestBarProgressStopDrawsTheEnd: a sweep whose checks landed at once stops
// the bar right after starting it, before its drawing may have begun; stop
// must still draw the final count and return only once drawing ended, so
// that nothing overwrites the summary printed next.
func TestBarProgressStopDrawsTheEnd(t *testing.T) {
	for range 50 {
		var screen syncbuf.Buffer
		bar := newBarProgress(&screen, 3, time.Now())
		bar.update(3, 1)
		bar.stop()
		select {
		case <-bar.rendered:
		default:
			t.Fatal("the bar is still drawn after stop")
		}
		if out := screen.String(); !strings.Contains(out, "3/3 done, 1 failed") {
			t.Fatalf("stop did not draw the final count: %q", out)
		}
	}
}
