// Package golden keeps sample files in step with the code that produces
// them: a test renders what the code writes today, and golden compares it
// with the committed file, or rewrites the file when the test runs with
// its -update flag. Tests only: production code never imports it.
package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Check rewrites the file at path with want when update is set, then fails
// t unless the file holds exactly want. stale completes the failure
// message "<path> <stale>": what differs and how to regenerate the file.
func Check(t testing.TB, path string, want []byte, update bool, stale string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s %s", path, stale)
	}
}

// Load decodes the JSON file at path into a T, failing t if the file
// cannot be read or decoded.
func Load[T any](t testing.TB, path string) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return v
}
