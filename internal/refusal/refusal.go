// Package refusal defines the one error type RoleCall answers input it
// refuses with: a stable code a program can switch on, a message a person
// can act on, the field at fault and an optional hint. Every package that
// validates client input (rolearn, tenant, rolesetup, onboarding, register,
// httpapi) returns it, so the HTTP layer maps a refusal to a status in one
// place and anything else is an internal error.
package refusal

import (
	"errors"
	"fmt"
	"time"
)

// Error is input refused: the client can fix it, and nothing was changed.
type Error struct {
	Code    string // stable, part of the API contract
	Message string // what is wrong and what to do, never a secret
	Field   string // the request field at fault, "" when none
	Hint    string // optional further advice
	// RetryAfter, when positive, is how long the client should wait before
	// trying again (rate limits).
	RetryAfter time.Duration
	// Err is the underlying cause, if any; it is not shown to the client.
	Err error
}

// New returns a refusal of field with a formatted message.
func New(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches on the code, so errors.Is(err, &refusal.Error{Code: c}) and
// code sentinels work whatever the message.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// As returns the refusal in err's chain, or nil when err is not one.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
