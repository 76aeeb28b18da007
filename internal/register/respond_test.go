package register

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestRefusedAnswerIsNotRetried: a forged request may name a response
// bucket URL CloudFormation never presigned; the bucket answers the PUT
// 403, and no retry can change that, so the handler does not return it
// for Lambda to retry twice and dead-letter. A 5xx or a throttled PUT is
// returned, to be retried.
func TestRefusedAnswerIsNotRetried(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
		{http.StatusBadRequest, false},
		{http.StatusTooManyRequests, true},
		{http.StatusRequestTimeout, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
			defer srv.Close()
			e := newEnv(t)
			e.h.Sender = &Responder{Client: tlsTo(srv)}
			noise := msg("Create", "n1", "", props(custRole, "rcr_forged"))
			err := e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(noise)}}}})
			if (err != nil) != tt.retry {
				t.Fatalf("HandleSNS = %v, want an error to retry: %t", err, tt.retry)
			}
		})
	}
}

// failingTransport fails every request, as a reset connection does.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection reset by peer")
}

// TestFailedAnswerKeepsTheURLOutOfErrors: a presigned ResponseURL's query
// is a capability to answer the customer's custom resource. A failed PUT's
// *url.Error spells the whole URL, and the error HandleSNS returns is
// written to the function's log (and its dead-letter record) by the
// Lambda runtime, so it must hold the host only.
func TestFailedAnswerKeepsTheURLOutOfErrors(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	e.h.Sender = &Responder{Client: &http.Client{Transport: failingTransport{}}}
	m := msg("Create", "req-1", "", props(custRole, e.acmeToken()))
	err := e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(m)}}}})
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("HandleSNS = %v, want the PUT's cause", err)
	}
	for _, secret := range []string{"X-Amz-Signature", "X-Amz-Credential", "/prod/"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error holds %q of the presigned URL:\n%v", secret, err)
		}
	}
}
