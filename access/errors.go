package access

import (
	"fmt"

	"github.com/rolecall/rolecall/internal/redact"
)

// Reason is RoleCall's explanation of a connection's status.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// NotVerifiedError refuses a connection that is not VERIFIED (PENDING,
// FAILED, ACCESS_LOST or DISCONNECTED): its role must not be used.
type NotVerifiedError struct {
	TenantID  string
	AccountID string
	// Status is the connection's status as RoleCall reports it.
	Status string
	Reason Reason
}

func (e *NotVerifiedError) Error() string {
	msg := fmt.Sprintf("connection %s/%s is not verified", e.TenantID, e.AccountID)
	if e.Status != "" {
		msg += " (" + e.Status + ")"
	}
	if e.Reason.Code != "" {
		msg += ": " + e.Reason.Code
	}
	if e.Reason.Message != "" {
		msg += ": " + e.Reason.Message
	}
	return msg
}

// APIError is an error answer of the RoleCall API: its HTTP status and
// RoleCall's error code, message, (for bad input) the field at fault and,
// where RoleCall knows one, a hint on how to fix it.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	Field      string
	Hint       string
}

func (e *APIError) Error() string {
	field := ""
	if e.Field != "" {
		field = " (field " + e.Field + ")"
	}
	return fmt.Sprintf("rolecall API: %d %s: %s%s", e.StatusCode, e.Code, e.Message, field)
}

// AccessDeniedError is the customer's role refusing the session: the role
// was deleted, or its trust policy no longer trusts the access role with
// the tenant's external ID. RecheckRequested tells whether this refusal
// asked RoleCall to re-check the connection (at most once per
// RecheckEvery).
type AccessDeniedError struct {
	TenantID         string
	AccountID        string
	RoleARN          string
	RecheckRequested bool
	// RecheckErr is why the re-check could not be requested, if it could not.
	RecheckErr error
	Err        error
}

func (e *AccessDeniedError) Error() string {
	msg := fmt.Sprintf("the role of connection %s/%s (%s) denied access", e.TenantID, e.AccountID, e.RoleARN)
	switch {
	case e.RecheckRequested:
		msg += "; RoleCall was asked to re-check it"
	case e.RecheckErr != nil:
		msg += "; asking RoleCall to re-check it failed: " + e.RecheckErr.Error()
	}
	return msg + ": " + redact.Signing(e.Err.Error())
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }
