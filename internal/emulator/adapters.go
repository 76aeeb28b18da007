package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/sweep"
)

// busEvents is the httpapi.EventLog of the in-process bus's record.
type busEvents struct{ b *bus.Memory }

var _ httpapi.EventLog = busEvents{}

func (e busEvents) EventsAfter(after string, limit int) ([]json.RawMessage, bool) {
	envs, err := e.b.Since(after, limit)
	if err != nil {
		return nil, false
	}
	out := make([]json.RawMessage, 0, len(envs))
	for _, env := range envs {
		b, err := json.Marshal(env)
		if err != nil {
			continue // an envelope always marshals; its detail is JSON
		}
		out = append(out, b)
	}
	return out, true
}

// sweepNow is the httpapi.Sweeper of POST /v1/sweeps.
type sweepNow struct{ s *sweep.Sweeper }

var _ httpapi.Sweeper = sweepNow{}

func (a sweepNow) Sweep(ctx context.Context, all bool) (int, error) {
	run := a.s.Due
	if all {
		run = a.s.All
	}
	res, err := run(ctx)
	if err != nil {
		return res.Enqueued, err
	}
	return res.Enqueued, nil
}

// sandboxControl is the httpapi.Sandbox of the sandbox STS.
type sandboxControl struct {
	sts         *sandbox.STS
	endpoint    string
	principal   string
	workloadKey string
}

var _ httpapi.Sandbox = (*sandboxControl)(nil)

func (c *sandboxControl) Info() httpapi.SandboxInfo {
	secret, _ := c.sts.CallerSecret(c.workloadKey) // "" without a workload key
	return httpapi.SandboxInfo{PartnerPrincipalARN: c.principal, TrustedPrincipalARN: c.principal, STSEndpoint: c.endpoint,
		WorkloadAccessKeyID: c.workloadKey, WorkloadSecretAccessKey: secret}
}

func (c *sandboxControl) PutRole(roleARN string, trustPolicy []byte) error {
	err := c.sts.PutRole(roleARN, trustPolicy)
	var pe *sandbox.PolicyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return &onboarding.Error{Code: "INVALID_TRUST_POLICY", Field: "trustPolicy", Message: pe.Error(), Err: err}
	case errors.Is(err, sandbox.ErrInvalidPolicy), errors.Is(err, sandbox.ErrUnsupported):
		return &onboarding.Error{Code: "INVALID_TRUST_POLICY", Field: "trustPolicy", Message: "the sandbox cannot use this trust policy", Err: err}
	}
	if e := onboarding.AsError(err); e != nil { // the role ARN
		return e
	}
	return fmt.Errorf("put sandbox role: %w", err)
}

func (c *sandboxControl) DeleteRole(roleARN string) error {
	if _, ok := c.sts.TrustPolicy(roleARN); !ok {
		return &onboarding.Error{Code: onboarding.CodeNotFound, Field: "roleArn", Message: "there is no sandbox role " + roleARN}
	}
	c.sts.DeleteRole(roleARN)
	return nil
}

func (c *sandboxControl) SetFaults(f httpapi.Faults) error {
	cur := c.sts.Faults()
	c.sts.SetFaults(sandbox.Faults{Latency: f.Latency, Jitter: cur.Jitter, ThrottleRate: f.ThrottleRate, ErrorRate: f.ErrorRate})
	return nil
}
