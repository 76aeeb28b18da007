package probe

import (
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// WhyCandidate marks the job that checks a connection's candidate role
// (Connection.Candidate) instead of its role in use; the verify worker
// checks Candidate.RoleARN and applies the outcome to the candidate only.
const WhyCandidate = "candidate"

// JobsFor returns the jobs one check of c needs with tenant t at now: one
// for its role and, while c has a pending candidate, one for the candidate.
// Each carries the tenant's current external ID and, while a rotation's
// grace lasts, the previous one.
func JobsFor(c connection.Connection, t tenant.Tenant, why string, now time.Time) []Job {
	j := Job{Connection: c, ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion, Why: why}
	if t.PreviousAccepted(now) {
		j.PreviousExternalID, j.PreviousExternalIDVersion = t.PreviousExternalID, t.PreviousExternalIDVersion
	}
	jobs := []Job{j}
	if c.Candidate.Pending() {
		j.Why = WhyCandidate
		jobs = append(jobs, j)
	}
	return jobs
}

// IsCandidate reports whether the job checks the connection's candidate.
func (j Job) IsCandidate() bool { return j.Why == WhyCandidate }
