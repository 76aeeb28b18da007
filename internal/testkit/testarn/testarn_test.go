package testarn_test

import (
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestMustParse(t *testing.T) {
	a := testarn.MustParse(t, "arn:aws:iam::123456789012:role/team/R")
	if a.Account != "123456789012" || a.String() != "arn:aws:iam::123456789012:role/team/R" {
		t.Fatalf("MustParse = %+v", a)
	}
	r := &recorder{TB: t}
	testarn.MustParse(r, "arn:aws:iam::123456789012:user/alice")
	if r.failed == "" {
		t.Fatal("MustParse of a user ARN did not fail the test")
	}
}
