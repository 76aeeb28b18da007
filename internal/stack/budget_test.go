package stack_test

import (
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// TestBudgetSharesMatchTheMappings: each verify instance's STS share is the
// budget divided by the concurrency the function is told, so what it is
// told must be what its event source mappings allow; the sweep is told the
// same budget.
func TestBudgetSharesMatchTheMappings(t *testing.T) {
	res := template(t).Resources("AWS::Serverless::Function")
	vfn := m(res["VerifyFunction"]["Properties"])
	vars := m(m(vfn["Environment"])["Variables"])
	events := m(vfn["Events"])
	for env, ev := range map[string]string{"VERIFY_MAX_CONCURRENCY": "Jobs", "PRIORITY_MAX_CONCURRENCY": "PriorityJobs"} {
		mc := m(m(m(events[ev])["Properties"])["ScalingConfig"])["MaximumConcurrency"]
		if got, want := sprint(vars[env]), sprint(mc); got != want {
			t.Errorf("%s = %s, but the %s mapping's MaximumConcurrency is %s", env, got, ev, want)
		}
	}
	if got := iamcalls.Canon(m(m(m(events["PriorityJobs"])["Properties"]))["Queue"]); got != "GetAtt:PriorityQueue.Arn" {
		t.Errorf("PriorityJobs consumes %s, want the priority queue", got)
	}
	svars := m(m(m(res["SweepFunction"]["Properties"])["Environment"])["Variables"])
	for _, k := range []string{"STS_REQUESTS_PER_SECOND", "STS_PRIORITY_PERCENT", "STS_REGIONS", "VERIFY_MAX_CONCURRENCY", "PRIORITY_MAX_CONCURRENCY", "CHECK_INTERVAL"} {
		if sprint(svars[k]) != sprint(vars[k]) {
			t.Errorf("sweep %s = %s, verify's is %s: the sweep would pace to another budget", k, sprint(svars[k]), sprint(vars[k]))
		}
	}
}
