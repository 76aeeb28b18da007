package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Error codes of the HTTP layer, beyond those of onboarding, tenant and
// rolearn. They are part of the API contract.
const (
	CodeNotFound         = onboarding.CodeNotFound
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	CodeMalformedJSON    = "MALFORMED_JSON"
	CodeUnknownField     = "UNKNOWN_FIELD"
	CodeDuplicateField   = "DUPLICATE_FIELD"
	CodeInvalidType      = "INVALID_TYPE"
	CodeMissingField     = "MISSING_FIELD"
	CodeInvalidParameter = "INVALID_PARAMETER"
	CodeUnauthenticated  = "UNAUTHENTICATED"
	CodeForbidden        = "FORBIDDEN"
	CodeUnknownEvent     = "UNKNOWN_EVENT"
	CodeInternal         = "INTERNAL"
)

const internalMessage = "something went wrong on our side; try again later"

// errorBody is the JSON shape of every error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiError is a refusal with its HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, msg, field string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg, Field: field}
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own response types are marshalled; they always marshal
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"INTERNAL","message":"` + internalMessage + `"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// statusOf maps a client-fixable error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case onboarding.CodeNotFound:
		return http.StatusNotFound
	case onboarding.CodeTenantExists, onboarding.CodeRoleClaimed, onboarding.CodeConflict, onboarding.CodeConnectionLimit:
		return http.StatusConflict
	case tenant.CodeInvalidInvite, tenant.CodeInviteExpired, tenant.CodeInviteRevoked, CodeUnauthenticated:
		return http.StatusUnauthorized
	case onboarding.CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeForbidden:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// fail answers err: an *apiError or a client-fixable onboarding error with
// its code, anything else as a logged, generic 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := err.(*apiError); ok {
		writeError(w, ae.Status, ae.Code, ae.Message, ae.Field)
		return
	}
	if oe := onboarding.AsError(err); oe != nil {
		if oe.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((oe.RetryAfter+time.Second-1)/time.Second)))
		}
		writeError(w, statusOf(oe.Code), oe.Code, oe.Message, oe.Field)
		return
	}
	h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "error", err)
	writeError(w, http.StatusInternalServerError, CodeInternal, internalMessage, "")
}
