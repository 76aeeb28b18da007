package app

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/stsclient"
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

// TestVerifyAndSweepStartForEveryBudgetTheTemplateAllows: template.yaml's
// StsRequestsPerSecond (20-10000), StsPriorityPercent (1-50) and
// VerifyConcurrency (2-100) vary independently; for every combination the
// verify and sweep functions start, and when a per-instance share is
// below one check (raised to one) they warn at start that the instances
// may exceed the budget.
func TestVerifyAndSweepStartForEveryBudgetTheTemplateAllows(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		budget, percent, routine string
		warned                   bool
	}{
		{"the least budget", "20", "3", "2", true},
		{"a cautious budget at the default priority", "150", "3", "2", true},
		{"a budget of 250 over the most instances", "250", "3", "100", true},
		{"the least priority of the most budget", "10000", "1", "100", false},
		{"the defaults", "400", "3", "2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := maps.Clone(deployed)
			maps.Copy(vars, map[string]string{"STS_REQUESTS_PER_SECOND": tc.budget, "STS_PRIORITY_PERCENT": tc.percent,
				"VERIFY_MAX_CONCURRENCY": tc.routine, "PRIORITY_MAX_CONCURRENCY": "2"})
			env := envOf(vars)
			v, sw := ReadVerify(env), ReadSweep(env)
			if err := env.Err(); err != nil {
				t.Fatalf("settings refused: %v", err)
			}
			var logs bytes.Buffer
			c := embedded()
			c.STS = &stsclient.Regional{}
			c.Log = slog.New(slog.NewTextHandler(&logs, nil))
			if _, err := NewVerify(v, c); err != nil {
				t.Errorf("verify cannot start: %v", err)
			}
			if _, err := NewSweep(sw, c); err != nil {
				t.Errorf("sweep cannot start: %v", err)
			}
			warned := strings.Count(logs.String(), "level=WARN msg=\"an instance's share of the STS budget is below one check")
			if want := map[bool]int{true: 2, false: 0}[tc.warned]; warned != want {
				t.Errorf("%d warnings of a share raised to one check, want %d:\n%s", warned, want, logs.String())
			}
		})
	}
}

// TestReadRegionsDropsRepeats: template.yaml's StsRegions pattern accepts
// a Region listed twice; the functions start with it counted once.
func TestReadRegionsDropsRepeats(t *testing.T) {
	vars := maps.Clone(deployed)
	vars["STS_REGIONS"] = "eu-west-1,eu-west-1"
	env := envOf(vars)
	v, sw := ReadVerify(env), ReadSweep(env)
	if err := env.Err(); err != nil {
		t.Fatalf("StsRegions=%q refused: %v", vars["STS_REGIONS"], err)
	}
	for name, got := range map[string][]string{"verify": v.STSRegions, "sweep": sw.STSRegions} {
		if !slices.Equal(got, []string{"eu-west-1"}) {
			t.Errorf("%s STS Regions = %v, want [eu-west-1]", name, got)
		}
	}
}

// TestReadAPIRefusesATemplateURLQuickCreateCannotUse: the API function
// refuses to start with a CUSTOMER_ROLE_TEMPLATE_URL that is not an S3
// object URL, naming the variable, instead of answering 500 to every
// invite's GET /v1/invite; an S3 object URL or none starts it.
func TestReadAPIRefusesATemplateURLQuickCreateCannotUse(t *testing.T) {
	tests := []struct {
		url     string
		refused bool
	}{
		{"", false},
		{"https://partner-templates.s3.us-east-1.amazonaws.com/customer-role.yaml", false},
		{"https://d111111abcdef8.cloudfront.net/customer-role.yaml", true},
		{"https://templates.example.com/customer-role.yaml", true},
		{"https://partner-templates.s3.us-east-1.amazonaws.com/", true},
	}
	for _, tt := range tests {
		vars := maps.Clone(deployed)
		vars["CUSTOMER_ROLE_TEMPLATE_URL"] = tt.url
		env := envOf(vars)
		s := ReadAPI(env)
		err := env.Err()
		if (err != nil) != tt.refused {
			t.Errorf("CUSTOMER_ROLE_TEMPLATE_URL=%q: err = %v, want refused %v", tt.url, err, tt.refused)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "CUSTOMER_ROLE_TEMPLATE_URL") {
			t.Errorf("error %q does not name CUSTOMER_ROLE_TEMPLATE_URL", err)
		}
		if !tt.refused && s.TemplateURL != tt.url {
			t.Errorf("TemplateURL = %q, want %q", s.TemplateURL, tt.url)
		}
	}
}

// A registration topic that is no SNS topic ARN of the partner's partition
// (TRUSTED_PRINCIPAL_ARN's: aws-cn in deployed) is refused at start: every
// registration guide would fail to render, after its token was minted.
func TestReadAPIRefusesARegistrationTopicOfNoUse(t *testing.T) {
	tests := []struct {
		arn     string
		refused bool
	}{
		{"", false},
		{"arn:aws-cn:sns:cn-north-1:111122223333:rolecall-prod-registration", false},
		{"arn:aws:sns:eu-west-1:111122223333:rolecall-prod-registration", true},
		{"arn:aws-cn:sqs:cn-north-1:111122223333:rolecall-prod-registration", true},
		{"rolecall-prod-registration", true},
	}
	for _, tt := range tests {
		vars := maps.Clone(deployed)
		vars["REGISTRATION_TOPIC_ARN"] = tt.arn
		env := envOf(vars)
		s := ReadAPI(env)
		err := env.Err()
		if (err != nil) != tt.refused || err != nil && !strings.Contains(err.Error(), "REGISTRATION_TOPIC_ARN") {
			t.Errorf("REGISTRATION_TOPIC_ARN=%q: err = %v, want refused %v, naming the variable", tt.arn, err, tt.refused)
			continue
		}
		if !tt.refused && s.RegistrationTopicARN != tt.arn {
			t.Errorf("RegistrationTopicARN = %q, want %q", s.RegistrationTopicARN, tt.arn)
		}
	}
}
