// Package awsfake serves small, scriptable stand-ins for the AWS APIs that
// RoleCall's adapters call, so tests drive the real aws-sdk-go-v2 clients
// over HTTP on 127.0.0.1: EventBridge PutEvents (AWS JSON 1.1), SQS
// SendMessageBatch, ReceiveMessage (with long polling), DeleteMessage and
// ChangeMessageVisibility (AWS JSON 1.0, query compatible), the sandbox
// STS with a record of who assumed which role (ChainSTS, for the workload
// credential tests of access and cmd/rolecall), and, for the
// Lambda smoke tests, just enough of DynamoDB and STS to let a function
// answer.
//
// Each fake records what it was sent and lets a test script failures: a
// whole-call HTTP error or per-entry partial failures.
package awsfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// ClientConfig returns an aws.Config for SDK clients that talk to url with
// static test credentials, at most maxAttempts attempts per call and no
// backoff delay, so retry tests stay fast.
func ClientConfig(url string, maxAttempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test", Source: "awsfake"}, nil
		}),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

// Fault is a scripted whole-call failure: the HTTP status and AWS error code
// returned instead of a result.
type Fault struct {
	Status int
	Code   string
}

// jsonAPI dispatches AWS JSON protocol requests by X-Amz-Target.
type jsonAPI struct {
	prefix      string // e.g. "AWSEvents."
	contentType string // application/x-amz-json-1.x
	queryCompat bool
	ops         map[string]func(ctx context.Context, body []byte) (any, *Fault) // ctx: the request's

	mu     sync.Mutex
	calls  map[string]int
	faults map[string][]Fault // per operation, consumed one per call
}

func newJSONAPI(prefix, contentType string, queryCompat bool) *jsonAPI {
	return &jsonAPI{prefix: prefix, contentType: contentType, queryCompat: queryCompat,
		ops: map[string]func(context.Context, []byte) (any, *Fault){}, calls: map[string]int{}, faults: map[string][]Fault{}}
}

// failNext scripts the next calls of op to fail, one fault per call.
func (a *jsonAPI) failNext(op string, faults ...Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults[op] = append(a.faults[op], faults...)
}

func (a *jsonAPI) callCount(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[op]
}

func (a *jsonAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, a.prefix)
	h := a.ops[op]
	if r.Method != http.MethodPost || !ok || h == nil {
		a.writeError(w, Fault{Status: http.StatusBadRequest, Code: "UnknownOperationException"}, "unknown operation "+target)
		return
	}
	if a.queryCompat && r.Header.Get("X-Amzn-Query-Mode") != "true" {
		a.writeError(w, Fault{Status: http.StatusBadRequest, Code: "MissingQueryMode"}, "X-Amzn-Query-Mode header missing")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != a.contentType {
		a.writeError(w, Fault{Status: http.StatusBadRequest, Code: "SerializationException"}, "unexpected content type "+ct)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.writeError(w, Fault{Status: http.StatusBadRequest, Code: "SerializationException"}, err.Error())
		return
	}
	a.mu.Lock()
	a.calls[op]++
	var fault *Fault
	if q := a.faults[op]; len(q) > 0 {
		f := q[0]
		a.faults[op] = q[1:]
		fault = &f
	}
	a.mu.Unlock()
	if fault != nil {
		a.writeError(w, *fault, "scripted failure")
		return
	}
	out, fault := h(r.Context(), body)
	if fault != nil {
		a.writeError(w, *fault, "rejected by fake")
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("X-Amzn-RequestId", "req-fake")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *jsonAPI) writeError(w http.ResponseWriter, f Fault, msg string) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("X-Amzn-RequestId", "req-fake")
	if a.queryCompat {
		side := "Sender"
		if f.Status >= 500 {
			side = "Receiver"
		}
		w.Header().Set("X-Amzn-Query-Error", f.Code+";"+side)
	}
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": msg})
}

func decode(body []byte, v any) *Fault {
	if err := json.Unmarshal(body, v); err != nil {
		return &Fault{Status: http.StatusBadRequest, Code: "SerializationException"}
	}
	return nil
}

// epochTime decodes the AWS JSON timestamp form (epoch seconds, possibly
// fractional).
type epochTime struct{ time.Time }

func (t *epochTime) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("timestamp %s: %w", b, err)
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC().Round(time.Millisecond)
	return nil
}
