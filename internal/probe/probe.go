package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Step names.
const (
	StepAssume        = "assume role with external ID"
	StepPrevious      = "assume role with the previous external ID"
	StepAccount       = "session is in the role's account"
	StepWithoutExtID  = "assume role without external ID is denied"
	StepDecoyExtID    = "assume role with a decoy external ID is denied"
	maxBackoffDefault = 2 * time.Second
)

// Checker runs checks. The zero value is not usable; set STS.
//
// A check sends three probes at once: sts:AssumeRole with the tenant's
// external ID, without an external ID, and with a fresh random decoy shaped
// like the tenant's external ID (never logged): for an ID RoleCall
// generated, another one ("rc-" and 160 random bits); for any other, the
// same ID with its last run of letters and digits replaced by random ones
// (decoyFor), and then a second decoy of RoleCall's shape besides, which
// costs one more call (decoysFor). Only the first may succeed. When the
// first is denied and the request carries a previous external ID (a
// rotation's grace period), one more probe tries that one. Each probe
// retries transient errors on its own, so a check makes at most
// 4 × Attempts calls (12 by default), 5 × Attempts with an ID RoleCall
// did not generate: Attempts per probe.
type Checker struct {
	STS Assumer
	// Attempts per probe for transient errors (default 3), with jittered
	// exponential backoff from BaseDelay (default 200ms), all within
	// Budget (default 10s) per check.
	Attempts  int
	BaseDelay time.Duration
	Budget    time.Duration
	// Pay, when set, is called before each STS call beyond the three a
	// check pays for before it starts (stsbudget.Pay): each retry of a
	// probe, and the previous external ID's probe. An error ends the
	// probe's retries, its last error standing; before the previous
	// external ID's probe, it leaves the check TRANSIENT.
	Pay func(ctx context.Context) error
	// Scope, when set, gives each check a context of its own before its
	// probes start (stsbudget.Scope): what one probe's call learns of the
	// customer's account, such as a Region whose STS it has disabled,
	// then serves the check's other probes and retries, and only them.
	Scope func(ctx context.Context) context.Context
	Log   *slog.Logger     // default slog.Default()
	Now   func() time.Time // default time.Now
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) log() *slog.Logger {
	return cmp.Or(c.Log, slog.Default())
}

// probe is what one AssumeRole probe found, after its retries.
type probe struct {
	step Step
	sess Session
	err  error // nil, or wrapping one of ErrDenied, ErrRegionDisabled, ErrTransient
}

func (p probe) denied() bool { return errors.Is(p.err, ErrDenied) }

// Check runs one check. It never returns an error: every failure is an
// outcome (transient ones included), so callers have one thing to handle.
//
// The outcome, in order of precedence:
//   - the call with the current external ID (or, when it is denied, with
//     the previous one) denied: ASSUME_DENIED; region not activated:
//     REGION_DISABLED; transient: TRANSIENT — whatever the negative probes
//     found;
//   - the session in another account than the ARN names: ACCOUNT_MISMATCH;
//   - a negative probe that neither succeeded nor was denied: TRANSIENT;
//   - either negative probe succeeding: EXTERNAL_ID_NOT_ENFORCED, its detail
//     naming which (connection.NotEnforcedWithoutExternalID or
//     connection.NotEnforcedAnyExternalID);
//   - else OK.
func (c *Checker) Check(ctx context.Context, req Request) Report {
	budget := c.Budget
	if budget <= 0 {
		budget = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if c.Scope != nil {
		ctx = c.Scope(ctx)
	}

	base := AssumeRequest{
		RoleARN:         req.RoleARN,
		SessionName:     SessionName(req.TenantID, req.AccountID),
		DurationSeconds: SessionDuration,
		Policy:          SessionPolicy,
	}
	with := func(extID string) AssumeRequest { in := base; in.ExternalID = extID; return in }
	decoys := decoysFor(req.ExternalID, req.ExternalID, req.PreviousExternalID)
	decoy := decoys[0]

	// The negative probes run beside the real call. Once the real call has
	// decided the outcome on its own, their answers no longer matter: the
	// calls in flight finish, but no retry is started.
	decided := make(chan struct{})
	var without probe
	decs := make([]probe, len(decoys))
	var wg sync.WaitGroup
	wg.Add(1 + len(decoys))
	go func() { defer wg.Done(); without = c.assume(ctx, decided, StepWithoutExtID, with("")) }()
	for i, d := range decoys {
		run := c.assume
		if i > 0 {
			run = c.assumePaid // a call beyond the three the check paid for
		}
		go func() { defer wg.Done(); decs[i] = run(ctx, decided, StepDecoyExtID, with(d)) }()
	}
	cur := c.assume(ctx, nil, StepAssume, with(req.ExternalID))
	primary, fallback := cur, false
	var prev probe
	if cur.denied() && req.PreviousExternalID != "" && req.PreviousExternalID != req.ExternalID {
		prev = c.assumePaid(ctx, nil, StepPrevious, with(req.PreviousExternalID))
		primary, fallback = prev, true
	}
	if primary.err != nil || primary.sess.AccountID != req.AccountID {
		close(decided)
	}
	wg.Wait()
	dec := worstDecoy(decs)

	out := connection.Outcome{Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, ExternalIDCurrent: cur.err == nil, CheckedAt: c.now()}
	if fallback && prev.err == nil {
		out.ExternalIDVersion = req.PreviousExternalIDVersion
	}
	var rep Report
	decide := func(r connection.Result, detail string, decisive ...*Step) Report {
		for _, s := range decisive {
			s.Decisive = true
		}
		rep.Steps = append(rep.Steps, cur.step)
		if fallback {
			rep.Steps = append(rep.Steps, prev.step)
		}
		if primary.err == nil {
			acct := Step{Name: StepAccount, OK: primary.sess.AccountID == req.AccountID, Detail: primary.sess.AccountID}
			if !acct.OK {
				acct.Code, acct.Decisive = string(connection.ResultAccountMismatch), true
			}
			rep.Steps = append(rep.Steps, acct)
		}
		rep.Steps = append(rep.Steps, without.step, dec.step)
		out.Result, out.Detail = r, detail
		rep.Outcome = out
		c.log().Info("role check",
			"tenantId", req.TenantID, "accountId", req.AccountID, "roleArn", req.RoleARN,
			"externalId", tenant.MaskExternalID(req.ExternalID), "externalIdVersion", req.ExternalIDVersion,
			"previousExternalId", maskedOrEmpty(req.PreviousExternalID), "externalIdCurrent", out.ExternalIDCurrent,
			"decoyExternalId", tenant.MaskExternalID(decoy),
			"version", req.Version, "result", string(r), "detail", detail)
		return rep
	}

	// A negative probe passes when it is denied.
	negative := func(p *probe, what string) {
		switch {
		case p.err == nil:
			p.step.OK, p.step.Code, p.step.Detail = false, string(connection.ResultNotEnforced), what
		case p.denied():
			p.step.OK, p.step.Code = true, ""
		}
	}
	negative(&without, "the role was assumed without an external ID")
	negative(&dec, "the role was assumed with a random external ID that is not the tenant's")

	// The real call decides first: a role that does not work for this
	// tenant fails for that reason, whatever the negatives said.
	primarySteps := []*Step{&cur.step}
	if fallback {
		primarySteps = append(primarySteps, &prev.step)
	}
	switch {
	case errors.Is(primary.err, ErrDenied):
		return decide(connection.ResultDenied, primary.step.Code, primarySteps...)
	case errors.Is(primary.err, ErrRegionDisabled):
		return decide(connection.ResultRegionDisabled, primary.step.Code, primarySteps...)
	case primary.err != nil:
		return decide(connection.ResultTransient, primary.step.Code, primarySteps...)
	case primary.sess.AccountID != req.AccountID:
		return decide(connection.ResultAccountMismatch, primary.sess.AccountID) // the account step is decisive
	}

	// The negatives: each must be denied. A success is a trust-policy hole;
	// anything else leaves the question open.
	for _, p := range []*probe{&without, &dec} {
		if p.err != nil && !p.denied() {
			return decide(connection.ResultTransient, p.step.Code, &p.step)
		}
	}
	switch {
	case without.err == nil:
		// Missing condition or ...IfExists, whatever the decoy did.
		return decide(connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID, &without.step)
	case dec.err == nil:
		return decide(connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID, &dec.step)
	}
	return decide(connection.ResultOK, "")
}

// worstDecoy is what the decoy probes found together, as one probe: the
// first that succeeded (the trust policy's hole), else the first that was
// not denied (the question stays open), else the first.
func worstDecoy(decs []probe) probe {
	for _, p := range decs {
		if p.err == nil {
			return p
		}
	}
	for _, p := range decs {
		if !p.denied() {
			return p
		}
	}
	return decs[0]
}

func maskedOrEmpty(id string) string {
	if id == "" {
		return ""
	}
	return tenant.MaskExternalID(id)
}

// assumePaid runs a probe beyond the three a check paid for before it
// started: it pays for its first call first, as for a retry, so that no
// one-second window holds more calls than the budget admits. Without a
// payment in time the probe is not made and ends transient: the question
// it would answer stays open. stop is assume's.
func (c *Checker) assumePaid(ctx context.Context, stop <-chan struct{}, name string, in AssumeRequest) probe {
	if c.Pay != nil {
		if err := c.Pay(ctx); err != nil {
			err = &STSError{Kind: ErrTransient, Err: fmt.Errorf("no STS budget for the call: %w", err)}
			return probe{step: Step{Name: name, Code: string(connection.ResultTransient)}, err: err}
		}
	}
	return c.assume(ctx, stop, name, in)
}

// assume runs one probe: it calls STS, retrying transient failures with
// jittered backoff, at most Attempts times, until ctx ends or stop is
// closed (nil: never).
func (c *Checker) assume(ctx context.Context, stop <-chan struct{}, name string, in AssumeRequest) probe {
	r := backoff.Retries{Attempts: c.Attempts, Base: c.BaseDelay}.Or(backoff.Retries{Attempts: 3, Base: 200 * time.Millisecond})
	start := time.Now()
	var err error
	var retried []string // the codes of the attempts retried
	for i := 0; ; i++ {
		var sess Session
		sess, err = c.STS.AssumeRole(ctx, in)
		if err == nil {
			return probe{step: Step{Name: name, OK: true, Latency: time.Since(start), Retried: retried}, sess: sess}
		}
		if !errors.Is(err, ErrTransient) || i+1 >= r.Attempts {
			break
		}
		code := string(connection.ResultTransient)
		if se := (*STSError)(nil); errors.As(err, &se) && se.Code != "" {
			code = se.Code
		}
		retried = append(retried, code)
		d := backoff.EqualJitter(retryDelay(r.Base, i))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			err = &STSError{Kind: ErrTransient, Err: ctx.Err()}
		case <-stop:
			t.Stop() // keep the last error: the outcome no longer needs this probe
		case <-t.C:
			if c.Pay == nil {
				continue
			}
			if perr := c.Pay(ctx); perr == nil {
				continue
			}
			// No budget for the retry in time: the last error stands.
		}
		break
	}
	step := Step{Name: name, Latency: time.Since(start), Retried: retried}
	var se *STSError
	if errors.As(err, &se) {
		step.Code = se.Code
	}
	if !errors.Is(err, ErrDenied) && !errors.Is(err, ErrRegionDisabled) && !errors.Is(err, ErrTransient) {
		err = &STSError{Kind: ErrTransient, Err: err} // unclassified: never blame the customer
	}
	if step.Code == "" && errors.Is(err, ErrTransient) {
		step.Code = string(connection.ResultTransient)
	}
	// The error is STS's (code and message), which never carries the
	// external ID that was sent.
	c.log().Debug("sts call failed", "step", name, "roleArn", in.RoleARN, "code", step.Code, "error", err)
	return probe{step: step, err: err}
}

// retryDelay is the delay before retry i+1: base doubled i times, at most
// maxBackoffDefault.
func retryDelay(base time.Duration, i int) time.Duration {
	return backoff.Doubling(base, maxBackoffDefault, i)
}
