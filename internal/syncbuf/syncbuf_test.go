package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/syncbuf"
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
