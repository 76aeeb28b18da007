package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/truncate"
)

// answerAllowance is what an answer holds besides the fields it repeats
// from the request and its Reason (which is shortened to fit): Status,
// a PhysicalID or placeholder ID in place of an empty one, and Data.
const answerAllowance = 512

// answerable reports whether every answer to ev fits CloudFormation's
// limit on a response body. The fields an answer repeats (RequestId,
// LogicalResourceId, StackId, PhysicalResourceId) are bounded in length,
// but JSON escapes some characters six-fold ('<' is \u003c), so it is
// their encoded size that must leave room for the rest.
func answerable(ev cfn.Event) bool {
	id := ev.PhysicalResourceID
	if len(id) > 1024 {
		id = "" // answered with a placeholder ID instead
	}
	b, err := json.Marshal(cfn.Response{RequestID: ev.RequestID, LogicalResourceID: ev.LogicalResourceID, StackID: ev.StackID, PhysicalResourceID: id})
	return err == nil && len(b)+answerAllowance <= MaxResponseBody
}

// answerKey identifies a request across deliveries.
func answerKey(ev cfn.Event) string {
	s := sha256.Sum256([]byte(ev.StackID + "\x00" + ev.RequestID + "\x00" + ev.LogicalResourceID))
	return hex.EncodeToString(s[:])
}

// PhysicalID names a registered connection: "<tenantId>/<accountId>".
func PhysicalID(tenantID, accountID string) string { return tenantID + "/" + accountID }

// ParsePhysicalID reads a PhysicalID; ok is false for anything else.
func ParsePhysicalID(id string) (tenantID, accountID string, ok bool) {
	t, a, found := strings.Cut(id, "/")
	if !found || tenant.ValidateID(t) != nil || !rolearn.IsAccountID(a) {
		return "", "", false
	}
	return t, a, true
}

// placeholderID is the physical ID of a resource whose Create registered
// nothing: stable per request, and never a PhysicalID.
func placeholderID(ev cfn.Event) string { return "rolecall-unregistered-" + answerKey(ev)[:20] }

// failed answers FAILED for a request that registered nothing: a failed
// Create gets a placeholder ID (its rollback's Delete then undoes nothing),
// a failed Update keeps the resource's ID.
func failed(ev cfn.Event, code, msg string) registration.Answer {
	id := ev.PhysicalResourceID
	if ev.RequestType == cfn.RequestCreate || id == "" || len(id) > 1024 {
		id = placeholderID(ev)
	}
	return registration.Answer{Status: string(cfn.StatusFailed), PhysicalResourceID: id, Reason: code + ": " + msg}
}

// failedHint answers FAILED for a connection that was submitted but whose
// check failed: the physical ID names it, so the rollback's Delete
// disconnects it.
func failedHint(ev cfn.Event, id string, reason connection.Reason) registration.Answer {
	msg := reason.Code + ": " + reason.Message
	if reason.Hint != "" {
		msg += " " + reason.Hint
	}
	return registration.Answer{Status: string(cfn.StatusFailed), PhysicalResourceID: id, Reason: msg}
}

// send answers ev with a at its ResponseURL. An answer the bucket refused
// for good (ErrAnswerRefused: a URL never presigned, as anyone publishing
// to the topic can send, or expired) is logged, not returned: a retry
// could only be refused again, and would be dead-lettered after two.
func (h *Handler) send(ctx context.Context, ev cfn.Event, a registration.Answer) error {
	body, err := responseBody(ev, a)
	if err != nil {
		return err
	}
	err = h.Sender.Respond(ctx, ev.ResponseURL, body)
	switch {
	case errors.Is(err, ErrAnswerRefused):
		h.log().WarnContext(ctx, "answer refused by the response bucket; not retried", "requestType", string(ev.RequestType), "error", err.Error())
		return nil
	case err != nil:
		return &AnswerNotSentError{RequestType: string(ev.RequestType), Err: err}
	}
	return nil
}

// ErrAnswerNotSent: an answer could not be put to its ResponseURL (the
// bucket unreachable, slow, or answering 5xx); delivering the request
// again sends it again. *AnswerNotSentError matches it.
var ErrAnswerNotSent = errors.New("the answer was not sent to the ResponseURL")

// AnswerNotSentError is the failure to put a request's answer to its
// ResponseURL. Err names the URL's host and why, never its query (the
// presigned signature).
type AnswerNotSentError struct {
	RequestType string
	Err         error
}

func (e *AnswerNotSentError) Error() string {
	return fmt.Sprintf("answer %s request: %v", e.RequestType, e.Err)
}

func (e *AnswerNotSentError) Unwrap() error { return e.Err }

// Is matches ErrAnswerNotSent.
func (e *AnswerNotSentError) Is(target error) bool { return target == ErrAnswerNotSent }

// answerNotSentOnly is the *AnswerNotSentError err is, or wraps, when that
// is all err says: an error joined with it (a Delete whose undo failed as
// well) is another failure, which the caller must not take for a request
// handled.
func answerNotSentOnly(err error) (*AnswerNotSentError, bool) {
	for err != nil {
		if a, ok := err.(*AnswerNotSentError); ok {
			return a, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil, false // a join, or the end of the chain
		}
		err = u.Unwrap()
	}
	return nil, false
}

// responseBody is the documented response object, at most MaxResponseBody
// bytes: the Reason is shortened to fit.
func responseBody(ev cfn.Event, a registration.Answer) ([]byte, error) {
	resp := cfn.Response{
		Status: cfn.StatusType(a.Status), RequestID: ev.RequestID, LogicalResourceID: ev.LogicalResourceID,
		StackID: ev.StackID, PhysicalResourceID: a.PhysicalResourceID, Reason: a.Reason,
	}
	if len(a.Data) > 0 {
		resp.Data = map[string]any{}
		for k, v := range a.Data {
			resp.Data[k] = v
		}
	}
	for {
		b, err := json.Marshal(resp)
		if err != nil {
			return nil, fmt.Errorf("encode answer: %w", err)
		}
		if len(b) <= MaxResponseBody {
			return b, nil
		}
		if resp.Reason == "" {
			return nil, fmt.Errorf("answer of %d bytes exceeds %d", len(b), MaxResponseBody)
		}
		resp.Reason = truncate.String(resp.Reason, max(0, len(resp.Reason)-(len(b)-MaxResponseBody)-8))
	}
}
