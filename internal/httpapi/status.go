package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/tenant"
)

// connectionStatus is the customer's view of one connection (GET and the
// check route of /v1/connections/{accountId}): the connection as stored,
// plus what the form needs to explain it. The extra fields are derived,
// never stored, so a routine check stays one small conditional write.
type connectionStatus struct {
	connection.Connection
	// PropagationWindowEndsAt is, while the connection is PENDING, when
	// RoleCall stops retrying an AccessDenied and marks it FAILED.
	PropagationWindowEndsAt time.Time `json:"propagationWindowEndsAt,omitzero"`
	// Attempts is how many checks of the current submission were denied
	// so far (while PENDING or failing).
	Attempts int `json:"attempts"`
	// Steps are the check's steps as the last outcome implies them; empty
	// before the first check.
	Steps []statusStep `json:"steps,omitempty"`
}

// statusStep is one step of a check, as `rolecall verify` names them.
type statusStep struct {
	Name string `json:"name"`
	// Result is "ok", "failed" or "not run".
	Result string `json:"result"`
	// Meaning says what the step proves, for a customer.
	Meaning string `json:"meaning"`
}

const (
	stepOK      = "ok"
	stepFailed  = "failed"
	stepNotRun  = "not run"
	stepUnknown = "unknown"
)

// stepMeanings are the four steps every check runs, in order.
var stepMeanings = []struct{ name, meaning string }{
	{probe.StepAssume, "RoleCall's principal called sts:AssumeRole on your role with your external ID."},
	{probe.StepAccount, "The session it got belongs to the account in the ARN."},
	{probe.StepWithoutExtID, "The same call without any external ID is refused, so nobody else can use the role."},
	{probe.StepDecoyExtID, "The same call with a random external ID that is not yours is refused."},
}

// checkSteps are the steps of the last check, inferred from its reason:
// each outcome follows from exactly one pattern of step results, so the
// steps need not be stored with every check. Transitions that are not a
// check's (a submission, a disconnect) have no steps.
func checkSteps(c connection.Connection) []statusStep {
	var results [4]string
	switch c.Reason.Code {
	case connection.CodeVerified, connection.CodeAccessRestored:
		results = [4]string{stepOK, stepOK, stepOK, stepOK}
	case string(connection.ResultDenied), string(connection.ResultRegionDisabled):
		results = [4]string{stepFailed, stepNotRun, stepNotRun, stepNotRun}
	case string(connection.ResultAccountMismatch):
		results = [4]string{stepOK, stepFailed, stepNotRun, stepNotRun}
	case string(connection.ResultNotEnforced):
		results = [4]string{stepOK, stepOK, stepUnknown, stepUnknown}
		switch c.Reason.Message {
		case connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID).Message:
			results[2], results[3] = stepFailed, stepUnknown
		case connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID).Message:
			results[2], results[3] = stepOK, stepFailed
		}
	case connection.CodeSubmitted:
		if c.Status != connection.Pending || c.ConsecutiveFailures == 0 {
			return nil
		}
		// Still inside the propagation window: the denied attempts so far.
		results = [4]string{stepFailed, stepNotRun, stepNotRun, stepNotRun}
	default:
		return nil
	}
	out := make([]statusStep, 0, len(stepMeanings))
	for i, s := range stepMeanings {
		out = append(out, statusStep{Name: s.name, Result: results[i], Meaning: s.meaning})
	}
	return out
}

func (h *Handler) connectionStatus(c connection.Connection) connectionStatus {
	v := connectionStatus{Connection: c, Steps: checkSteps(c)}
	if c.Status != connection.Verified {
		v.Attempts = c.ConsecutiveFailures
	}
	if c.Status == connection.Pending && h.cfg.PropagationWindow > 0 && !c.SubmittedAt.IsZero() {
		v.PropagationWindowEndsAt = c.SubmittedAt.Add(h.cfg.PropagationWindow).UTC()
	}
	return v
}

// checkAgainAfter is how soon after a check a customer may ask for another
// (and, counted in the store, how often one may be queued at all).
const checkAgainAfter = onboarding.CustomerCheckWindow

// customerCheck is POST /v1/connections/{accountId}/check: the customer
// asks for a check now, e.g. right after fixing the role.
func (h *Handler) customerCheck(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	if err := decodeBody(r, &struct{}{}, true); err != nil {
		return err
	}
	c, err := h.cfg.Service.Connection(r.Context(), t.ID, r.PathValue("accountId"))
	if err != nil {
		return err
	}
	if c.Status == connection.Disconnected {
		return refused(onboarding.CodeDisconnected, "the connection is disconnected; submit the role ARN again", "accountId")
	}
	if since := h.cfg.Now().Sub(c.LastCheckedAt); !c.LastCheckedAt.IsZero() && since < checkAgainAfter {
		wait := int((checkAgainAfter - since + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
		return refused(CodeCheckTooSoon, "the role was checked a moment ago; try again in "+strconv.Itoa(max(wait, 1))+" s", "accountId")
	}
	code, _ := credential(r, "Invite") // the customer wrapper resolved it
	err = h.cfg.Service.CheckInvited(r.Context(), t, code, c)
	return answerAs(w, http.StatusAccepted, c, err, h.connectionStatus)
}
