package sandbox

import (
	"context"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// Assumer returns the embedded adapter of probe.Assumer: the sandbox called
// in-process, as callerPrincipalARN, in the configured region. It evaluates
// exactly as the HTTP endpoint does (same validation, trust policies and
// faults) and classifies errors with probe.Classify, as the STS adapter does
// for the SDK's errors.
func (s *STS) Assumer(callerPrincipalARN string) probe.Assumer {
	return &embeddedAssumer{sts: s, caller: callerPrincipalARN}
}

type embeddedAssumer struct {
	sts    *STS
	caller string
}

var _ probe.Assumer = (*embeddedAssumer)(nil)

// AssumeRole implements probe.Assumer.
func (a *embeddedAssumer) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	if err := ctx.Err(); err != nil {
		return probe.Session{}, probe.Classify(err)
	}
	// The caller is known before the call counts, as over HTTP: an
	// unknown one draws no fault and spends no quota.
	c, apiErr := a.sts.configuredCaller(a.caller)
	if apiErr == nil {
		apiErr = a.sts.callerRegionRefused(c, a.sts.region)
	}
	if apiErr != nil {
		return probe.Session{}, probe.Classify(apiErr)
	}
	seq, err := a.sts.begin(ctx, c.id.account, a.sts.region)
	if err != nil {
		return probe.Session{}, probe.Classify(err)
	}
	input := assumeInput{
		RoleARN:         in.RoleARN,
		RoleSessionName: in.SessionName,
		ExternalID:      in.ExternalID,
		HasExternalID:   in.ExternalID != "",
		DurationSeconds: in.DurationSeconds,
		// The STS adapter always sends DurationSeconds.
		HasDuration: true,
		Policy:      in.Policy,
		HasPolicy:   in.Policy != "",
	}
	out, apiErr := a.sts.assumeRole(c, a.sts.region, input, seq)
	if apiErr != nil {
		return probe.Session{}, probe.Classify(apiErr)
	}
	// The credentials stay here, as in the STS adapter.
	return probe.Session{AssumedRoleARN: out.AssumedRoleARN, AccountID: rolearn.Account(out.AssumedRoleARN)}, nil
}
