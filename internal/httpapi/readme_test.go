package httpapi

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestReadmeErrorStatuses holds the HTTP status README gives each error
// code ("429 `CHECK_TOO_SOON`", "`409 NOT_VERIFIED`",
// "400 `INVALID_GRACE`/`INVALID_TYPE`") to the status the API answers it
// with.
func TestReadmeErrorStatuses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	pair := regexp.MustCompile("`?([1-5][0-9]{2}) `?([A-Z][A-Z_]+[A-Z])`?((?:/`[A-Z_]+`)*)")
	alt := regexp.MustCompile("[A-Z][A-Z_]+[A-Z]")
	n := 0
	for _, m := range pair.FindAllStringSubmatch(string(b), -1) {
		status, _ := strconv.Atoi(m[1])
		for _, code := range append([]string{m[2]}, alt.FindAllString(m[3], -1)...) {
			n++
			if got := statusOf(code); got != status {
				t.Errorf("README: %d %s, but the API answers %s with %d", status, code, code, got)
			}
		}
	}
	if n < 8 {
		t.Fatalf("found %d status and code pairs in README", n)
	}
}
