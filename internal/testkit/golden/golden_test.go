package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckRewritesThenMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "sample.json")
	want := []byte(`{"a":1}`)
	Check(t, path, want, true, "is out of date")
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(want) {
		t.Fatalf("update wrote %q, %v", got, err)
	}
	Check(t, path, want, false, "is out of date")
	if v := Load[map[string]int](t, path); v["a"] != 1 {
		t.Fatalf("Load = %v", v)
	}
}
