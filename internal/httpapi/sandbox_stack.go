package httpapi

import (
	"context"
	"net/http"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// StackAnswer is what the sandbox's CloudFormation got back from the
// registration: the stack's custom-resource answer.
type StackAnswer struct {
	StackID            string            `json:"stackId"`
	Status             string            `json:"status"` // SUCCESS or FAILED
	Reason             string            `json:"reason,omitempty"`
	PhysicalResourceID string            `json:"physicalResourceId"`
	Data               map[string]string `json:"data,omitempty"`
}

// SandboxStacks plays CloudFormation in the sandbox (serve mode): it
// creates the stack's role and sends its registration resource's Create
// as CloudFormation would, and returns the answer.
type SandboxStacks interface {
	LaunchStack(ctx context.Context, t tenant.Tenant, accountID, roleARN string, trustPolicy []byte) (StackAnswer, error)
}

type stackLaunched struct {
	Stack      StackAnswer            `json:"stack"`
	Connection *connection.Connection `json:"connection,omitempty"`
}

// sandboxLaunchStack is POST /_sandbox/stacks (invite-authorized): the
// form's "Launch the stack in a sandbox account".
func (h *Handler) sandboxLaunchStack(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	if err := decodeBody(r, &struct{}{}, true); err != nil {
		return err
	}
	v, err := h.inviteView(r, t)
	if err != nil {
		return err
	}
	if v.Sandbox == nil {
		return refused(CodeNotFound, "the sandbox has no role to offer", "")
	}
	a, err := h.cfg.SandboxStacks.LaunchStack(r.Context(), t, v.Sandbox.AccountID, v.Sandbox.RoleARN, v.Sandbox.TrustPolicy)
	if err != nil {
		return err
	}
	out := stackLaunched{Stack: a}
	if c, err := h.cfg.Service.Connection(r.Context(), t.ID, v.Sandbox.AccountID); err == nil {
		out.Connection = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
