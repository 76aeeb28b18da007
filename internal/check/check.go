// Package check proves that a customer's role is safe to use: RoleCall can
// assume it with the tenant's external ID, the session lands in the account
// the ARN names, and the role can NOT be assumed without the external ID.
//
// It talks to STS through the small Assumer port. The AWS adapter (STS, in
// this package) wraps aws-sdk-go-v2's sts client; the embedded adapter is the
// sandbox STS. Adapters return the assumed identity only: credentials are
// dropped inside the adapter and never reach this package's callers or logs.
package check

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// AssumeRequest is one sts:AssumeRole call.
type AssumeRequest struct {
	RoleARN         string
	ExternalID      string // empty: call without an external ID
	SessionName     string
	DurationSeconds int32
	Policy          string // inline session policy
}

// Session is what RoleCall keeps of a successful AssumeRole: the identity,
// never the credentials.
type Session struct {
	AssumedRoleARN string // arn:<p>:sts::<account>:assumed-role/<role>/<session>
	AccountID      string
}

// Assumer is the STS port.
type Assumer interface {
	AssumeRole(ctx context.Context, in AssumeRequest) (Session, error)
}

// Error kinds an Assumer classifies its failures into; test with errors.Is.
var (
	ErrDenied         = errors.New("assume role denied")
	ErrRegionDisabled = errors.New("sts region disabled")
	ErrTransient      = errors.New("transient sts failure")
)

// STSError is a classified STS failure: the kind (one of the Err* values),
// the API error code when there is one, and the underlying error.
type STSError struct {
	Kind error
	Code string
	Err  error
}

func (e *STSError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%v (%s): %v", e.Kind, e.Code, e.Err)
	}
	return fmt.Sprintf("%v: %v", e.Kind, e.Err)
}

// Unwrap exposes both the kind and the cause.
func (e *STSError) Unwrap() []error { return []error{e.Kind, e.Err} }

// SessionPolicy is the inline policy every check session carries: it denies
// everything, so the credentials could do nothing if they ever leaked.
const SessionPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"RoleCallVerificationOnly","Effect":"Deny","Action":"*","Resource":"*"}]}`

// SessionDuration is the shortest STS allows.
const SessionDuration = 900

// SessionName names RoleCall and the connection, as the customer sees it in
// CloudTrail: "rolecall-<tenant, at most 32 chars>-<12 hex of tenant/account>".
// It always satisfies STS's [\w+=,.@-]{2,64}.
func SessionName(tenantID, accountID string) string {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + accountID))
	t := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)) {
			return r
		}
		return -1
	}, tenantID)
	if len(t) > 32 {
		t = t[:32]
	}
	if t == "" {
		return "rolecall-" + hex.EncodeToString(sum[:6])
	}
	return "rolecall-" + t + "-" + hex.EncodeToString(sum[:6])
}

// Request is what one check needs.
type Request struct {
	TenantID                  string
	AccountID                 string
	RoleARN                   string
	ExternalID                string
	ExternalIDVersion         int
	Version                   int64 // the connection version the check is for
	PreviousExternalID        string
	PreviousExternalIDVersion int
}

// Step is one step of a check, for reports.
type Step struct {
	Name    string        `json:"name"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latencyNs"`
	Code    string        `json:"code,omitempty"`
	Detail  string        `json:"detail,omitempty"`
}

// Report is a check's outcome and the steps that led to it.
type Report struct {
	Outcome connection.Outcome
	Steps   []Step
}

// Step names.
const (
	StepAssume        = "assume role with external ID"
	StepAccount       = "session is in the role's account"
	StepWithoutExtID  = "assume role without external ID is denied"
	maxBackoffDefault = 2 * time.Second
)

// Checker runs checks. The zero value is not usable; set STS.
type Checker struct {
	STS Assumer
	// Attempts per STS call for transient errors (default 3), with
	// jittered exponential backoff from BaseDelay (default 200ms), all
	// within Budget (default 10s) per check.
	Attempts  int
	BaseDelay time.Duration
	Budget    time.Duration
	Log       *slog.Logger     // default slog.Default()
	Now       func() time.Time // default time.Now
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Check runs one check. It never returns an error: every failure is an
// outcome (transient ones included), so callers have one thing to handle.
func (c *Checker) Check(ctx context.Context, req Request) Report {
	budget := c.Budget
	if budget <= 0 {
		budget = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	var rep Report
	finish := func(r connection.Result, detail string) Report {
		rep.Outcome = connection.Outcome{Result: r, Detail: detail, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: c.now()}
		c.log().Info("role check",
			"tenantId", req.TenantID, "accountId", req.AccountID, "roleArn", req.RoleARN,
			"externalId", tenant.MaskExternalID(req.ExternalID), "externalIdVersion", req.ExternalIDVersion,
			"version", req.Version, "result", string(r), "detail", detail)
		return rep
	}
	in := AssumeRequest{
		RoleARN:         req.RoleARN,
		ExternalID:      req.ExternalID,
		SessionName:     SessionName(req.TenantID, req.AccountID),
		DurationSeconds: SessionDuration,
		Policy:          SessionPolicy,
	}

	sess, step, err := c.assume(ctx, StepAssume, in)
	rep.Steps = append(rep.Steps, step)
	switch {
	case errors.Is(err, ErrDenied):
		return finish(connection.ResultDenied, step.Code)
	case errors.Is(err, ErrRegionDisabled):
		return finish(connection.ResultRegionDisabled, step.Code)
	case err != nil:
		return finish(connection.ResultTransient, step.Code)
	}

	acct := Step{Name: StepAccount, OK: sess.AccountID == req.AccountID, Detail: sess.AccountID}
	rep.Steps = append(rep.Steps, acct)
	if !acct.OK {
		acct.Code = string(connection.ResultAccountMismatch)
		rep.Steps[len(rep.Steps)-1] = acct
		return finish(connection.ResultAccountMismatch, sess.AccountID)
	}

	without := in
	without.ExternalID = ""
	_, step, err = c.assume(ctx, StepWithoutExtID, without)
	switch {
	case err == nil:
		step.OK, step.Code = false, string(connection.ResultNotEnforced)
		rep.Steps = append(rep.Steps, step)
		return finish(connection.ResultNotEnforced, "")
	case errors.Is(err, ErrDenied):
		step.OK, step.Code = true, ""
		rep.Steps = append(rep.Steps, step)
		return finish(connection.ResultOK, "")
	default:
		rep.Steps = append(rep.Steps, step)
		return finish(connection.ResultTransient, step.Code)
	}
}

// assume calls STS, retrying transient failures with jittered backoff.
func (c *Checker) assume(ctx context.Context, name string, in AssumeRequest) (Session, Step, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	base := c.BaseDelay
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	start := time.Now()
	var err error
	for i := 0; ; i++ {
		var sess Session
		sess, err = c.STS.AssumeRole(ctx, in)
		if err == nil {
			return sess, Step{Name: name, OK: true, Latency: time.Since(start)}, nil
		}
		if !errors.Is(err, ErrTransient) || i+1 >= attempts {
			break
		}
		d := backoff(base, i)
		d = d/2 + rand.N(d/2+1) // jitter in [d/2, d]
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			err = &STSError{Kind: ErrTransient, Err: ctx.Err()}
		case <-t.C:
			continue
		}
		break
	}
	step := Step{Name: name, Latency: time.Since(start)}
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
	c.log().Debug("sts call failed", "step", name, "roleArn", in.RoleARN, "code", step.Code, "error", err)
	return Session{}, step, err
}

// backoff is the delay before retry i+1: base doubled i times, at most
// maxBackoffDefault. It doubles step by step (never base<<i, which overflows
// into a negative delay for large i or base).
func backoff(base time.Duration, i int) time.Duration {
	d := min(base, maxBackoffDefault)
	for ; i > 0 && d < maxBackoffDefault; i-- {
		d *= 2
	}
	return min(d, maxBackoffDefault)
}

// Job is one queued check: the connection as it was when the job was made
// (so a routine check needs no read), the tenant's external ID, and why it
// was queued. Its JSON form is the verify queue's message body.
type Job struct {
	Connection                connection.Connection `json:"connection"`
	ExternalID                string                `json:"externalId"`
	ExternalIDVersion         int                   `json:"externalIdVersion"`
	Why                       string                `json:"why"`
	PreviousExternalID        string                `json:"previousExternalId,omitempty"`
	PreviousExternalIDVersion int                   `json:"previousExternalIdVersion,omitempty"`
}

// Why values.
const (
	WhySubmitted = "submitted"
	WhyScheduled = "scheduled"
	WhyRequested = "requested"
)

// Request returns the check request for the job.
func (j Job) Request() Request {
	return Request{
		TenantID:          j.Connection.TenantID,
		AccountID:         j.Connection.AccountID,
		RoleARN:           j.Connection.RoleARN,
		ExternalID:        j.ExternalID,
		ExternalIDVersion: j.ExternalIDVersion,
		Version:           j.Connection.Version,
	}
}
