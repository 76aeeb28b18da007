// Package testarn gives tests role ARNs: the ARN of a string the test
// knows to be valid, parsed with the default rules, or the test fails.
// Only tests import it.
package testarn

import (
	"testing"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// MustParse parses s as a role ARN with the default rules (any known
// partition, no own account to refuse), failing t when it is not one.
func MustParse(t testing.TB, s string) rolearn.ARN {
	t.Helper()
	a, err := rolearn.Parse(s, rolearn.Rules{})
	if err != nil {
		t.Fatalf("role ARN %q: %v", s, err)
	}
	return a
}
