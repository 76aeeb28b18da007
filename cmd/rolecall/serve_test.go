package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/syncbuf"
)

func TestServeStartsPrintsBannerAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	root := newRoot()
	root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--ops-token", "tok-123", "--sweep-every", "0", "--log-level", "warn", "--partner-name", "Acme Cloud"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	formURL := regexp.MustCompile(`Customer form \(tenant demo\):\s+(http://127\.0\.0\.1:\d+/connect\?invite=[a-z2-7]{39})`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; {
		if m = formURL.FindStringSubmatch(stderr.String()); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no banner:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, want := range []string{"Ops token:", "tok-123", "/ops", "arn:aws:iam::123456789012:role/RoleCallVerifier", "stdout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stderr.String())
		}
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Connect Demo Customer to Acme Cloud")) {
		t.Errorf("form: %d, --partner-name not shown:\n%.600s", resp.StatusCode, body)
	}
	if stdout.String() != "" {
		t.Errorf("stdout carries more than events: %q", stdout.String())
	}

	cancel() // SIGINT
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no stop message:\n%s", stderr.String())
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	tests := [][]string{
		{"--lost-after", "0"},
		{"--propagation-window", "0s"},
		{"--check-interval", "10ms"},
		{"--sandbox-latency", "-1s"},
		{"--sweep-every", "-1m"},
		{"--log-level", "loud"},
		{"--aws", "--sandbox-latency", "1s"},
		{"--queue-url", "https://sqs.us-east-1.amazonaws.com/111122223333/rolecall-verify"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			root := newRoot()
			root.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&stderr)
			err := root.ExecuteContext(context.Background())
			var ec exitCode
			if !errors.As(err, &ec) || ec != 2 || !strings.Contains(stderr.String(), strings.TrimLeft(args[len(args)-2], "-")) {
				t.Errorf("err %v, stderr %q", err, stderr.String())
			}
		})
	}
}

func TestServeQueueURL(t *testing.T) {
	t.Run("VERIFY_QUEUE_URL without --aws is refused", func(t *testing.T) {
		t.Setenv("VERIFY_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/111122223333/rolecall-verify")
		var stderr bytes.Buffer
		root := newRoot()
		root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0"})
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&stderr)
		err := root.ExecuteContext(context.Background())
		var ec exitCode
		if !errors.As(err, &ec) || ec != 2 || !strings.Contains(stderr.String(), "--queue-url (or VERIFY_QUEUE_URL) needs --aws") {
			t.Errorf("err %v, stderr %q", err, stderr.String())
		}
	})
	t.Run("the help documents it", func(t *testing.T) {
		var stdout bytes.Buffer
		root := newRoot()
		root.SetArgs([]string{"serve", "--help"})
		root.SetOut(&stdout)
		root.SetErr(&bytes.Buffer{})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--queue-url string", "VERIFY_QUEUE_URL", "with --aws, use this SQS queue"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("help lacks %q:\n%s", want, stdout.String())
			}
		}
	})
}
