// Package probe checks that a customer's role is safe to use with three
// STS probes: RoleCall can
// assume it with the tenant's external ID, the session lands in the account
// the ARN names, and the role can NOT be assumed without an external ID nor
// with any other one (a fresh random decoy shaped like the tenant's external
// ID, so that a wildcard written for the ID's form accepts it too).
// The three STS calls run concurrently, so a check costs one STS round trip.
//
// A check is what every verification runs: the verify worker (package
// verify, behind the verify Lambda and `rolecall serve`) records its
// outcome on the connection, `rolecall verify` prints it for one role.
// This package only probes and judges; it records nothing.
//
// It talks to STS through the small Assumer port. The AWS adapter (STS, in
// this package) wraps aws-sdk-go-v2's sts client; the embedded adapter is the
// sandbox STS. Adapters return the assumed identity only: credentials are
// dropped inside the adapter and never reach this package's callers or logs.
package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
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
// It always satisfies STS's [\w+=,.@-]{2,64}. Characters of the tenant ID
// outside that set are dropped, not replaced as access.SessionName replaces
// them in a workload's name: the hash already tells connections apart, and
// the names customers see in CloudTrail stay as they have always been.
func SessionName(tenantID, accountID string) string {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + accountID))
	t := strings.Map(func(r rune) rune {
		if r < 0x80 && rolearn.IsNameChar(byte(r)) {
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
	TenantID          string
	AccountID         string
	RoleARN           string
	ExternalID        string // the tenant's current external ID
	ExternalIDVersion int
	// PreviousExternalID is the tenant's previous external ID while a
	// rotation's grace period lasts, else empty (and its version 0). It is
	// tried only when the current one is denied.
	PreviousExternalID        string
	PreviousExternalIDVersion int
	Version                   int64 // the connection version the check is for
}

// Step is one step of a check, for reports.
type Step struct {
	Name    string        `json:"name"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latencyNs"`
	Code    string        `json:"code,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	// Decisive marks the steps whose result decided a failed or transient
	// outcome, so a report can put the reason's hint next to them.
	Decisive bool `json:"decisive,omitempty"`
	// Retried are the codes of the probe's attempts that failed
	// transiently and were tried again, in order (throttling among them
	// slows the STS budget down even when a retry then succeeded).
	Retried []string `json:"retried,omitempty"`
}

// Report is a check's outcome and the steps that led to it.
type Report struct {
	Outcome connection.Outcome
	Steps   []Step
}

// Job is one queued check: the connection as it was when the job was made
// (so a routine check needs no read), the tenant's external ID, and why it
// was queued. Its JSON form is the verify queue's message body.
type Job struct {
	Connection        connection.Connection `json:"connection"`
	ExternalID        string                `json:"externalId"`
	ExternalIDVersion int                   `json:"externalIdVersion"`
	// The tenant's previous external ID during a rotation's grace period
	// (see Request); absent otherwise.
	PreviousExternalID        string `json:"previousExternalId,omitempty"`
	PreviousExternalIDVersion int    `json:"previousExternalIdVersion,omitempty"`
	Why                       string `json:"why"`
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

		PreviousExternalID:        j.PreviousExternalID,
		PreviousExternalIDVersion: j.PreviousExternalIDVersion,
		Version:                   j.Connection.Version,
	}
}
