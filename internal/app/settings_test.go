package app

import (
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/register"
)

// TestReadRegisterWait: REGISTRATION_WAIT is accepted up to what a
// function of Lambda's longest timeout leaves once the handler keeps its
// reserve to answer; a longer one is refused naming the variable and the
// limit.
func TestReadRegisterWait(t *testing.T) {
	most := 15*time.Minute - register.AnswerReserve(register.DefaultAnswerTimeout)
	tests := []struct {
		name    string
		wait    string
		want    time.Duration
		refused bool
	}{
		{"unset: the default", "", register.DefaultWait, false},
		{"the deployed wait", "60s", time.Minute, false},
		{"the longest that fits", most.String(), most, false},
		{"a second too long", (most + time.Second).String(), register.DefaultWait, true},
		{"an hour", "1h", register.DefaultWait, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"TABLE_NAME": "t", "PARTNER_ACCOUNT_ID": "111122223333", "TRUSTED_PRINCIPAL_ARN": deployed["TRUSTED_PRINCIPAL_ARN"]}
			if tc.wait != "" {
				vars["REGISTRATION_WAIT"] = tc.wait
			}
			env := envOf(vars)
			s := ReadRegister(env)
			err := env.Err()
			if tc.refused != (err != nil) {
				t.Fatalf("err = %v, want refused %v", err, tc.refused)
			}
			if err != nil && (!strings.Contains(err.Error(), "REGISTRATION_WAIT") || !strings.Contains(err.Error(), most.String())) {
				t.Errorf("error %q does not name REGISTRATION_WAIT and its limit %v", err, most)
			}
			if s.Wait != tc.want {
				t.Errorf("Wait = %v, want %v", s.Wait, tc.want)
			}
		})
	}
}
