package emulator

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestBannerShowsOnlyAGeneratedOpsToken: the banner prints the ops token
// only when serve generated it; a token the operator supplied (environment,
// file, or a caller's Options) is named by where it came from, never shown.
func TestBannerShowsOnlyAGeneratedOpsToken(t *testing.T) {
	const supplied = "supplied-ops-token-0123456789abcdefghij"
	tests := []struct {
		name, token, source string
		shown               bool   // the stack's token is in the banner
		says                string // the banner's ops token row says this
	}{
		{name: "generated", shown: true},
		{name: "from the environment", token: supplied, source: "from ROLECALL_OPS_TOKEN", says: "from ROLECALL_OPS_TOKEN (not shown)"},
		{name: "from a file", token: supplied, source: "from /run/secrets/ops-token", says: "from /run/secrets/ops-token (not shown)"},
		{name: "supplied without a source", token: supplied, says: "supplied (not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t, io.Discard)
			o.OpsToken, o.OpsTokenSource = tt.token, tt.source
			st, err := New(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.close)
			b := st.Banner()
			var row string
			for _, l := range strings.Split(b, "\n") {
				if strings.Contains(l, "Ops token:") {
					row = l
				}
			}
			if row == "" {
				t.Fatalf("banner has no ops token row:\n%s", b)
			}
			if got := strings.Contains(b, st.OpsToken); got != tt.shown {
				t.Errorf("token shown %v, want %v:\n%s", got, tt.shown, b)
			}
			if tt.says != "" && !strings.HasSuffix(row, " "+tt.says) {
				t.Errorf("ops token row %q, want it to say %q", row, tt.says)
			}
			if tt.token != "" && st.OpsToken != tt.token {
				t.Errorf("the stack's token is %q, want the supplied one", st.OpsToken)
			}
		})
	}
}
