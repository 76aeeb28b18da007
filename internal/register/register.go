// Package register is the registration handler: it takes the CloudFormation
// custom-resource requests a customer's stack publishes to the partner's
// registration SNS topic (Custom::RoleCallRegistration), authenticates the
// stack's registration token, binds the stack's account to the role's,
// submits the connection exactly as the web form does, and answers the
// request at its ResponseURL (allowlisted S3 hosts only). Deleting the stack
// undoes what it registered (STACK_DELETED), also once its registration
// token has expired (never once it is revoked): the connection is disconnected
// when the stack registered the role in use, only the candidate is dropped
// when the stack's role is a candidate still being verified beside another
// stack's or the form's role. A Delete is
// always answered SUCCESS, so a customer can always delete their stack; a
// store error while undoing is retried (Lambda's retry of the event), not
// taken as the answer.
//
// SNS delivers at least once. The answer to each request is recorded under
// a key of (StackId, RequestId, LogicalResourceId) before it is sent, so a
// redelivery gets the same answer and changes nothing; submitting the same
// role again is a no-op in onboarding besides.
//
// Create and Update wait, bounded by Handler.Wait, for the first check of
// the submitted role, also when it is a VERIFIED connection's candidate
// (the verified role stays in use until the candidate verifies): a role
// that works answers SUCCESS once VERIFIED; a role RoleCall cannot use
// answers FAILED with the hint, so the customer's stack fails (and rolls
// back: a Create's rollback disconnects, an Update's keeps the verified
// role) with the reason on the stack's events page. A check that has not finished by then answers
// SUCCESS with Status PENDING; the form and the events report the rest.
// The wait also ends early enough before the context's deadline (the
// Lambda's remaining time) to record the answer and PUT it: an answer
// that never reaches CloudFormation leaves the customer's stack waiting
// for its custom resource's hour.
package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/redact"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/truncate"
)

// Registrar authenticates tokens, submits roles as the stack that
// registers them (the same operation POST /v1/connections calls, with the
// stack recorded) and undoes what deleted stacks registered
// (*onboarding.Registrations implements it).
type Registrar interface {
	Authenticate(ctx context.Context, secret string) (tenant.Tenant, registration.Token, error)
	AuthenticateDeletion(ctx context.Context, secret string) (tenant.Tenant, registration.Token, error)
	SubmitFromStack(ctx context.Context, t tenant.Tenant, roleARN, stackID, resource string) (connection.Connection, error)
	StackRoleDeleted(ctx context.Context, t tenant.Tenant, accountID, roleARN, stackID, resource string) (connection.Connection, onboarding.StackDeletion, error)
}

// Onboarding reads connections (*onboarding.Service implements it).
type Onboarding interface {
	Connection(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
}

// Answers records the answer given to each request (store.Registrations
// implements it).
type Answers interface {
	GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error)
	PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error)
}

// Sender sends an answer to a ResponseURL (*Responder implements it).
type Sender interface {
	// Accept returns why the sender would refuse to answer to responseURL
	// (nil: it would answer): the handler asks first, so a request it
	// could never answer is dropped before anything else.
	Accept(responseURL string) error
	// Respond sends body; an error wrapping ErrAnswerRefused is a refusal
	// no retry can change.
	Respond(ctx context.Context, responseURL string, body []byte) error
	// AnswerTimeout is the longest one Respond takes: the handler keeps
	// that long, and recordMargin more, before its context's deadline.
	AnswerTimeout() time.Duration
}

// ResourceType is the custom resource's type in the customer template.
const ResourceType = "Custom::RoleCallRegistration"

// MaxMessage bounds a request; a genuine one is well under 4 KiB.
const MaxMessage = 32 << 10

// Handler handles custom-resource requests.
type Handler struct {
	Registrar  Registrar
	Onboarding Onboarding
	Answers    Answers
	// Sender answers the requests; a request with a ResponseURL it does
	// not accept is dropped before anything else.
	Sender Sender
	// Wait bounds the wait for the first check after a submission (0:
	// DefaultWait; negative: do not wait); the wait also ends
	// AnswerReserve before the context's deadline. Poll is the interval
	// between reads of the connection (0: DefaultPoll).
	Wait, Poll time.Duration
	// Clock times the answers and the wait for the first check (nil: the
	// wall clock).
	Clock Clock
	Log   *slog.Logger
}

// ErrDropped: a message that cannot be answered (malformed, oversized, or
// with a refused ResponseURL). It is logged and not retried.
var ErrDropped = errors.New("registration request dropped")

// HandleSNS is the Lambda entry point: each record's Message is one
// custom-resource request. Dropped messages are logged; an internal error
// (store, or the answer's PUT) is returned so Lambda retries the event,
// which the recorded answers make safe. That error leaves out an AWS
// service's signing diagnostics (redact.Error): the Lambda runtime library
// prints it to the function's log as it is.
func (h *Handler) HandleSNS(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, rec := range ev.Records {
		err := h.handle(ctx, []byte(rec.SNS.Message), rec.SNS.Timestamp)
		if err != nil && !errors.Is(err, ErrDropped) {
			errs = append(errs, fmt.Errorf("message %s: %w", rec.SNS.MessageID, err))
		}
	}
	return redact.Error(errors.Join(errs...))
}

// HandleMessage handles one custom-resource request, published now.
func (h *Handler) HandleMessage(ctx context.Context, msg []byte) error {
	return h.handle(ctx, msg, time.Time{})
}

// handle handles one custom-resource request, which SNS says was published
// at published (zero: now). CloudFormation waits for the answer to a
// Create or Update for the resource's ServiceTimeout after it published
// the request; one that can no longer be answered in time is dropped, not
// registered (its stack has rolled back, and its Delete found nothing to
// undo), and the wait for the first check ends in time to answer.
func (h *Handler) handle(ctx context.Context, msg []byte, published time.Time) error {
	log := h.log()
	if len(msg) > MaxMessage {
		log.WarnContext(ctx, "registration request dropped", "why", "oversized", "bytes", len(msg))
		return fmt.Errorf("%w: %d bytes is more than %d", ErrDropped, len(msg), MaxMessage)
	}
	var ev cfn.Event
	if err := json.Unmarshal(msg, &ev); err != nil {
		log.WarnContext(ctx, "registration request dropped", "why", "not a custom-resource request")
		return fmt.Errorf("%w: not a custom-resource request", ErrDropped)
	}
	if err := h.Sender.Accept(ev.ResponseURL); err != nil {
		log.WarnContext(ctx, "registration request dropped", "why", err.Error(), "responseUrlHost", urlHost(ev.ResponseURL), "stackId", truncate.String(ev.StackID, 256))
		return fmt.Errorf("%w: %w", ErrDropped, err)
	}
	if ev.RequestID == "" || len(ev.RequestID) > 256 || ev.LogicalResourceID == "" || len(ev.LogicalResourceID) > 256 || len(ev.StackID) > 1024 || !answerable(ev) {
		log.WarnContext(ctx, "registration request dropped", "why", "RequestId, LogicalResourceId, StackId or PhysicalResourceId missing or too long")
		return fmt.Errorf("%w: RequestId, LogicalResourceId, StackId or PhysicalResourceId missing or too long", ErrDropped)
	}
	key := answerKey(ev)
	// A Delete is answered SUCCESS even when the answers cannot be read or
	// recorded: deleting a stack must never wait on RoleCall's table.
	isDelete := ev.RequestType == cfn.RequestDelete
	a, err := h.Answers.GetRegistrationAnswer(ctx, key)
	switch {
	case err == nil:
		log.InfoContext(ctx, "registration request redelivered", "requestType", string(ev.RequestType), "status", a.Status)
		return h.send(ctx, ev, a)
	case errors.Is(err, onboarding.ErrNotFound):
	case isDelete:
		log.ErrorContext(ctx, "recorded answer not read; answering the Delete anyway", "error", err)
	default:
		return fmt.Errorf("read recorded answer: %w", err)
	}
	if !isDelete && !published.IsZero() {
		left := published.Add(serviceTimeout(ev)).Sub(h.now())
		if left <= AnswerReserve(h.Sender.AnswerTimeout()) {
			log.WarnContext(ctx, "registration request dropped", "why", "CloudFormation has stopped waiting for its answer",
				"requestType", string(ev.RequestType), "publishedAt", published.UTC().Format(time.RFC3339))
			return fmt.Errorf("%w: published at %s, CloudFormation has stopped waiting for its answer", ErrDropped, published.UTC().Format(time.RFC3339))
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	a, record, err := h.decide(ctx, ev)
	if err != nil && isDelete {
		// Deleting the stack must not wait on RoleCall: the Delete is
		// answered SUCCESS now, but nothing is recorded and the error is
		// returned, so Lambda retries the undo (which is idempotent)
		// instead of a redelivery replaying an answer for an undo that
		// never happened.
		log.ErrorContext(ctx, "stack deleted; connection not updated yet, the request is retried", "physicalResourceId", ev.PhysicalResourceID, "error", err)
		return errors.Join(err, h.send(ctx, ev, a))
	}
	if err != nil {
		return err
	}
	if !record {
		// Answered before any token authenticated (a refusal, or a Delete
		// that undoes nothing): the same request always gets the same
		// answer, so noise anyone can publish writes nothing.
		log.InfoContext(ctx, "registration request answered unauthenticated", "requestType", string(ev.RequestType), "status", a.Status, "reason", a.Reason)
		return h.send(ctx, ev, a)
	}
	a.AnsweredAt = h.now()
	recorded, err := h.Answers.PutRegistrationAnswer(ctx, key, a)
	switch {
	case err == nil:
		a = recorded
	case isDelete:
		log.ErrorContext(ctx, "answer not recorded; answering the Delete anyway", "error", err)
	default:
		return fmt.Errorf("record answer: %w", err)
	}
	log.InfoContext(ctx, "registration request answered", "requestType", string(ev.RequestType), "status", a.Status,
		"physicalResourceId", a.PhysicalResourceID, "reason", a.Reason)
	return h.send(ctx, ev, a)
}

// decide computes the answer to a request, and whether it is to be
// recorded: every answer is but one given before any token authenticated
// (a refusal, or a Delete that undoes nothing), which the same request
// always gets again. It returns an
// error only for an internal failure worth a retry.
func (h *Handler) decide(ctx context.Context, ev cfn.Event) (a registration.Answer, record bool, err error) {
	switch ev.RequestType {
	case cfn.RequestDelete:
		return h.delete(ctx, ev)
	case cfn.RequestCreate, cfn.RequestUpdate:
		return h.register(ctx, ev)
	}
	return failed(ev, "INVALID_REQUEST", "RequestType must be Create, Update or Delete"), false, nil
}

// register handles Create and Update.
func (h *Handler) register(ctx context.Context, ev cfn.Event) (registration.Answer, bool, error) {
	r, bad := parse(ev)
	if bad != nil {
		return failed(ev, bad.Code, bad.Message), false, nil
	}
	t, _, err := h.Registrar.Authenticate(ctx, r.token)
	if err != nil {
		if oe := onboarding.AsError(err); oe != nil {
			if a, ok, err := h.unchangedUpdate(ctx, ev, r); err != nil || ok {
				return a, true, err
			}
			return failed(ev, oe.Code, oe.Message), false, nil
		}
		return registration.Answer{}, false, err
	}
	submitted, perr := rolearn.Parse(r.roleARN, rolearn.Rules{})
	if perr == nil && (submitted.Account != r.stack.Account || submitted.Partition != r.stack.Partition) {
		return failed(ev, CodeStackAccountMismatch, fmt.Sprintf("the role is in account %s of partition %s but the stack runs in account %s of partition %s; a stack registers only a role of its own account",
			submitted.Account, submitted.Partition, r.stack.Account, r.stack.Partition)), true, nil
	}
	c, err := h.Registrar.SubmitFromStack(ctx, t, r.roleARN, ev.StackID, ev.LogicalResourceID)
	if err != nil {
		if oe := onboarding.AsError(err); oe != nil {
			return failed(ev, oe.Code, oe.Message), true, nil
		}
		return registration.Answer{}, false, err
	}
	// A role submitted to a VERIFIED connection is its candidate: the
	// verified role stays in use until the candidate verifies. The answer
	// is about the role this stack submitted (Submit accepted it, so it
	// parsed), so it waits for the candidate's check and reports the
	// candidate's outcome.
	role := submitted.String()
	c, err = h.awaitCheck(ctx, c, role)
	if err != nil {
		return registration.Answer{}, false, err
	}
	id := PhysicalID(t.ID, c.AccountID)
	status, reason := c.Status, c.Reason
	switch {
	case c.RoleARN == role:
	case c.Candidate.RoleARN == role:
		status, reason = c.Candidate.Status, c.Candidate.Reason
	default:
		// Another submission (the form, another stack) replaced the role
		// while it was checked: the connection will not use this stack's.
		return failed(ev, CodeRoleSuperseded, "another submission replaced the stack's role before RoleCall verified it; the connection uses "+c.RoleARN), true, nil
	}
	switch status {
	case connection.Failed, connection.Disconnected:
		if ev.RequestType == cfn.RequestUpdate && ev.PhysicalResourceID != "" && len(ev.PhysicalResourceID) <= 1024 {
			// A failed Update keeps the resource's physical ID, also one
			// that moved to another tenant: CloudFormation rolls back to
			// the old properties under that ID, and a new ID in the answer
			// would name a resource it never deletes.
			id = ev.PhysicalResourceID
		}
		return failedHint(ev, id, reason), true, nil
	}
	return registration.Answer{Status: string(cfn.StatusSuccess), PhysicalResourceID: id,
		Data: map[string]string{"TenantId": t.ID, "AccountId": c.AccountID, "Status": string(status)}}, true, nil
}

// unchangedUpdate answers SUCCESS to an Update whose registration token
// is refused but that changes nothing: the token of the properties it
// replaces (OldResourceProperties) authenticates the tenant the resource's
// physical ID names, and its role is that connection's role already. That
// is the rollback of a failed Update, which, answered FAILED, would leave
// the stack UPDATE_ROLLBACK_FAILED: one that replaced a revoked or expired
// token, or one refused because the stack's token had expired. Like a
// Delete, such an undo is authenticated also by an expired token (never a
// revoked one: AuthenticateDeletion), since a stack outlives its token. ok
// is false when the Update is not such a one.
func (h *Handler) unchangedUpdate(ctx context.Context, ev cfn.Event, r request) (a registration.Answer, ok bool, err error) {
	tenantID, account, isConn := ParsePhysicalID(ev.PhysicalResourceID)
	prev, isStr := ev.OldResourceProperties["RegistrationToken"].(string)
	if ev.RequestType != cfn.RequestUpdate || !isConn || !isStr || prev == "" || len(prev) > 2048 {
		return registration.Answer{}, false, nil
	}
	t, _, err := h.Registrar.AuthenticateDeletion(ctx, prev)
	switch {
	case err != nil && onboarding.AsError(err) == nil:
		return registration.Answer{}, false, err
	case err != nil || t.ID != tenantID:
		return registration.Answer{}, false, nil
	}
	c, err := h.Onboarding.Connection(ctx, tenantID, account)
	switch {
	case err != nil && onboarding.AsError(err) == nil:
		return registration.Answer{}, false, fmt.Errorf("read connection %s/%s: %w", tenantID, account, err)
	case err != nil:
		return registration.Answer{}, false, nil
	}
	role, perr := rolearn.Parse(r.roleARN, rolearn.Rules{})
	if perr != nil || c.RoleARN != role.String() {
		return registration.Answer{}, false, nil
	}
	return registration.Answer{Status: string(cfn.StatusSuccess), PhysicalResourceID: ev.PhysicalResourceID,
		Data: map[string]string{"TenantId": t.ID, "AccountId": c.AccountID, "Status": string(c.Status)}}, true, nil
}

// delete handles Delete: always SUCCESS. It changes only a connection this
// stack can prove is its own: a physical ID naming a tenant and account, a
// registration token that authenticates that tenant (also one that has
// expired since: AuthenticateDeletion; never a revoked one), and a stack in that
// account that is the one the connection records as having registered the
// role (Connection.Stack: a request's StackId is whatever its publisher
// writes, so only the stored one binds). Then what the stack's role is to the connection decides
// (onboarding.Registrations.StackRoleDeleted): the role in use, or the
// pending candidate of the stack that registered it, is disconnected, with
// any candidate pending beside it; a pending candidate of another stack's
// or the form's role is dropped and that role kept; another role changes
// nothing. An
// internal error (the store) is returned beside the SUCCESS answer, to be
// retried. authenticated says whether the token authenticated the tenant:
// a Delete that did not is noise anyone can publish, and is not recorded.
func (h *Handler) delete(ctx context.Context, ev cfn.Event) (_ registration.Answer, authenticated bool, _ error) {
	log := h.log()
	ok := registration.Answer{Status: string(cfn.StatusSuccess), PhysicalResourceID: ev.PhysicalResourceID}
	if ok.PhysicalResourceID == "" || len(ok.PhysicalResourceID) > 1024 {
		ok.PhysicalResourceID = placeholderID(ev)
	}
	tenantID, account, isConn := ParsePhysicalID(ev.PhysicalResourceID)
	if !isConn {
		return ok, false, nil // a resource whose Create failed, or not ours: nothing to undo
	}
	r, bad := parse(ev)
	if bad != nil || r.stack.Account != account {
		log.InfoContext(ctx, "stack deleted; connection kept", "why", "request does not match the connection", "physicalResourceId", ev.PhysicalResourceID)
		return ok, false, nil
	}
	t, _, err := h.Registrar.AuthenticateDeletion(ctx, r.token)
	if err != nil && onboarding.AsError(err) == nil {
		return ok, false, fmt.Errorf("authenticate the registration token: %w", err)
	}
	if err != nil || t.ID != tenantID {
		log.InfoContext(ctx, "stack deleted; connection kept", "why", "registration token does not authenticate the tenant", "physicalResourceId", ev.PhysicalResourceID)
		return ok, false, nil
	}
	role, err := rolearn.Parse(r.roleARN, rolearn.Rules{})
	if err != nil {
		log.InfoContext(ctx, "stack deleted; connection kept", "why", "the stack's RoleArn is not a role ARN", "physicalResourceId", ev.PhysicalResourceID)
		return ok, true, nil
	}
	_, did, err := h.Registrar.StackRoleDeleted(ctx, t, account, role.String(), ev.StackID, ev.LogicalResourceID)
	switch {
	case onboarding.AsError(err) != nil:
		// Unknown connection: nothing to undo.
	case err != nil:
		return ok, true, fmt.Errorf("undo the registration: %w", err)
	case did == onboarding.StackRoleUnused:
		log.InfoContext(ctx, "stack deleted; connection kept", "why", "the connection uses another role now", "physicalResourceId", ev.PhysicalResourceID)
	case did == onboarding.StackResourceReplaced:
		log.InfoContext(ctx, "stack resource deleted; its stack's newer resource takes the connection over", "physicalResourceId", ev.PhysicalResourceID)
	case did == onboarding.StackCandidateDropped:
		log.InfoContext(ctx, "stack deleted; its candidate role dropped, the verified role kept", "physicalResourceId", ev.PhysicalResourceID)
	}
	return ok, true, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// urlHost is the host of a URL for logs (never its query: presigned URLs
// carry a signature).
func urlHost(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	return truncate.String(s, 128)
}
