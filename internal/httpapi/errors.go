package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/refusal"
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
	CodeCheckTooSoon     = onboarding.CodeCheckTooSoon
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
	Hint    string `json:"hint,omitempty"`
}

// refused is a refusal of the HTTP layer; its status comes from statusOf
// like every other refusal's.
func refused(code, msg, field string) *refusal.Error {
	return &refusal.Error{Code: code, Message: msg, Field: field}
}

// refuse answers a refusal with the status of its code.
func refuse(w http.ResponseWriter, e *refusal.Error) {
	writeJSON(w, statusOf(e.Code), errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field, Hint: e.Hint}})
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

// statusOf maps a refusal's code to its HTTP status: the one place
// RoleCall's error codes meet HTTP. Codes not listed are 400.
func statusOf(code string) int {
	switch code {
	case onboarding.CodeNotFound:
		return http.StatusNotFound
	case onboarding.CodeTenantExists, onboarding.CodeRoleClaimed, onboarding.CodeConflict, onboarding.CodeConnectionLimit,
		onboarding.CodeDisconnected, CodeNotVerified:
		return http.StatusConflict
	case tenant.CodeInvalidInvite, tenant.CodeInviteExpired, tenant.CodeInviteRevoked, CodeUnauthenticated:
		return http.StatusUnauthorized
	case onboarding.CodeRateLimited, CodeCheckTooSoon:
		return http.StatusTooManyRequests
	case CodeForbidden:
		return http.StatusForbidden
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case CodeMisdirected:
		return http.StatusMisdirectedRequest
	case onboarding.CodeAnswerNotSent:
		return http.StatusBadGateway
	}
	return http.StatusBadRequest
}

// fail answers err: a refusal (of any package) with its code and status,
// anything else as a logged, generic 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := onboarding.AsError(err); e != nil {
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
		refuse(w, e)
		return
	}
	h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "error", err)
	writeError(w, http.StatusInternalServerError, CodeInternal, internalMessage, "")
}

// answer writes v with status, or returns err for the handler's caller to
// refuse or fail with.
func answer[T any](w http.ResponseWriter, status int, v T, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// answerAs writes view(x) with status, or returns err without building the
// view.
func answerAs[T, V any](w http.ResponseWriter, status int, x T, err error, view func(T) V) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, view(x))
	return nil
}
