package probe_test

import (
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/tenant"
)

// TestJobsFor: one job for the role in use, one more for a pending
// candidate; both carry the current external ID and, only while the
// rotation's grace lasts, the previous one.
func TestJobsFor(t *testing.T) {
	now := checkedAt
	conn := connection.Connection{TenantID: "acme-prod", AccountID: acct, RoleARN: roleARN, Status: connection.Verified, Version: 5}
	withCandidate := conn
	withCandidate.Candidate = connection.Candidate{RoleARN: "arn:aws:iam::123456789012:role/Next", Status: connection.Pending, SubmittedAt: now}
	droppedCandidate := conn
	droppedCandidate.Candidate = connection.Candidate{RoleARN: "arn:aws:iam::123456789012:role/Next", Status: connection.Failed}
	ten := tenant.Tenant{ID: "acme-prod", ExternalID: externalID, ExternalIDVersion: 4}
	inGrace := ten
	inGrace.PreviousExternalID, inGrace.PreviousExternalIDVersion, inGrace.GraceEndsAt = previousID, 3, now.Add(time.Hour)
	graceOver := inGrace
	graceOver.GraceEndsAt = now

	current := probe.Job{Connection: conn, ExternalID: externalID, ExternalIDVersion: 4, Why: probe.WhyScheduled}
	withPrev := current
	withPrev.PreviousExternalID, withPrev.PreviousExternalIDVersion = previousID, 3
	cand := probe.Job{Connection: withCandidate, ExternalID: externalID, ExternalIDVersion: 4, Why: probe.WhyScheduled}
	candJob := cand
	candJob.Why = probe.WhyCandidate

	tests := []struct {
		name string
		c    connection.Connection
		t    tenant.Tenant
		want []probe.Job
	}{
		{"role only", conn, ten, []probe.Job{current}},
		{"previous ID in grace", conn, inGrace, []probe.Job{withPrev}},
		{"grace ended", conn, graceOver, []probe.Job{current}},
		{"pending candidate", withCandidate, ten, []probe.Job{cand, candJob}},
		{"dropped candidate", droppedCandidate, ten, []probe.Job{{Connection: droppedCandidate, ExternalID: externalID, ExternalIDVersion: 4, Why: probe.WhyScheduled}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probe.JobsFor(tt.c, tt.t, probe.WhyScheduled, now)
			if len(got) != len(tt.want) {
				t.Fatalf("%d jobs, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.ExternalID != w.ExternalID || g.ExternalIDVersion != w.ExternalIDVersion ||
					g.PreviousExternalID != w.PreviousExternalID || g.PreviousExternalIDVersion != w.PreviousExternalIDVersion ||
					g.Why != w.Why || g.Connection.RoleARN != w.Connection.RoleARN || g.Connection.Candidate != w.Connection.Candidate {
					t.Errorf("job %d = %+v, want %+v", i, g, w)
				}
				if g.IsCandidate() != (w.Why == probe.WhyCandidate) {
					t.Errorf("job %d IsCandidate() = %v with why %q", i, g.IsCandidate(), g.Why)
				}
			}
		})
	}
}
