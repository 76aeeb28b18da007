package register

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/rolecall/rolecall/internal/onboarding"
)

// CodeInvalidNotification: a body that is not an SNS Notification
// envelope, or whose request was dropped.
const CodeInvalidNotification = "INVALID_NOTIFICATION"

// snsEnvelope is the JSON an SNS HTTP(S) subscription receives.
type snsEnvelope struct {
	Type      string `json:"Type"`
	MessageID string `json:"MessageId"`
	TopicArn  string `json:"TopicArn"`
	Message   string `json:"Message"`
}

// Notify handles what an SNS HTTP subscription of the registration topic
// receives (the sandbox's stand-in for the topic): the envelope's Message
// goes to HandleMessage. A body that is not a Notification, or a request
// that is dropped, is an *onboarding.Error the caller answers with 400; an
// answer that could not be put to the request's ResponseURL, when nothing
// else failed, is one of CodeAnswerNotSent, naming the URL's host and why,
// never its signature.
func (h *Handler) Notify(ctx context.Context, envelope []byte) error {
	var env snsEnvelope
	if len(envelope) > MaxMessage*2 || json.Unmarshal(envelope, &env) != nil || env.Type != "Notification" || env.Message == "" {
		return &onboarding.Error{Code: CodeInvalidNotification, Message: "send an SNS Notification envelope: {\"Type\":\"Notification\",\"Message\":\"<the custom-resource request as a JSON string>\"}"}
	}
	err := h.HandleMessage(ctx, []byte(env.Message))
	if errors.Is(err, ErrDropped) {
		return &onboarding.Error{Code: CodeInvalidNotification, Message: err.Error(), Err: err}
	}
	if a, ok := answerNotSentOnly(err); ok {
		return &onboarding.Error{Code: onboarding.CodeAnswerNotSent, Err: err,
			Message: "the request was handled, but its answer could not be put to its ResponseURL (" + a.Error() + "); deliver the same notification again to answer it again"}
	}
	return err
}
