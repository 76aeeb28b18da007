package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
)

// TestReportPrintsRefusals: an API refusal is printed with its code,
// message, field and hint, and exits 1; a usage error exits 2.
func TestReportPrintsRefusals(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   exitCode
		stderr string // what report prints
	}{
		{"refusal", fmt.Errorf("create: %w", &access.APIError{StatusCode: 409, Code: "TENANT_EXISTS", Message: "tenant exists", Field: "tenantId"}), 1,
			"x: refused (HTTP 409): TENANT_EXISTS: tenant exists (field tenantId)\n"},
		{"refusal with a hint", &access.APIError{StatusCode: 404, Code: "NOT_FOUND", Message: "no connection", Hint: "submit the role in the form"}, 1,
			"x: refused (HTTP 404): NOT_FOUND: no connection\nhint: submit the role in the form\n"},
		{"usage", usageError{msg: "give one tenant ID"}, 2, "x: give one tenant ID\n"},
		{"other", errors.New("dial: refused"), 1, "x: dial: refused\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := &cobra.Command{Use: "x"}
			cmd.SetErr(&stderr)
			err := report(cmd, tc.err)
			var got exitCode
			if !errors.As(err, &got) || got != tc.code {
				t.Errorf("exit %v, want %d", err, tc.code)
			}
			if stderr.String() != tc.stderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
	if err := report(&cobra.Command{}, nil); err != nil {
		t.Errorf("report(nil) = %v", err)
	}
}
