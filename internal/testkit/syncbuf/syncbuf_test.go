package syncbuf_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// Concurrent writers and readers: every line arrives whole (run with
// -race to see that nothing is shared unguarded).
func TestBufferConcurrentWritesAndReads(t *testing.T) {
	tests := []struct {
		name             string
		writers, perEach int
	}{
		{"one writer", 1, 50},
		{"many writers", 8, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b syncbuf.Buffer
			var wg sync.WaitGroup
			for w := range tc.writers {
				wg.Go(func() {
					for i := range tc.perEach {
						if _, err := fmt.Fprintf(&b, "w%d-%d\n", w, i); err != nil {
							t.Error(err)
						}
						_ = b.String()
					}
				})
			}
			wg.Wait()
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != tc.writers*tc.perEach {
				t.Fatalf("%d lines, want %d", len(lines), tc.writers*tc.perEach)
			}
			seen := map[string]bool{}
			for _, l := range lines {
				seen[l] = true
			}
			for w := range tc.writers {
				for i := range tc.perEach {
					if l := fmt.Sprintf("w%d-%d", w, i); !seen[l] {
						t.Errorf("line %q missing", l)
					}
				}
			}
		})
	}
}

// WaitFor returns as soon as a later write brings the text, and gives up
// when its context ends without it.
func TestWaitFor(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
		found  bool
	}{
		{"already there", nil, "", true},
		{"arrives in pieces", []string{"registration ", "request ", "dropped\n"}, "request dropped", true},
		{"never arrives", []string{"something else\n"}, "dropped", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b syncbuf.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan bool, 1)
			go func() { done <- b.WaitFor(ctx, tc.want) }()
			for _, w := range tc.writes {
				if _, err := b.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.found {
				cancel() // the text never comes: the wait must end with the context
			}
			if got := <-done; got != tc.found {
				t.Errorf("WaitFor = %v, want %v (buffer %q)", got, tc.found, b.String())
			}
			cancel()
		})
	}
}
