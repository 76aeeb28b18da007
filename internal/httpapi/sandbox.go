package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// The sandbox control routes exist only in serve mode with the sandbox STS.
// They need no credentials: they change nothing but the sandbox's pretend
// AWS accounts, and serve listens on loopback by default.

func (h *Handler) sandboxInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.cfg.Sandbox.Info())
}

type putRoleRequest struct {
	RoleARN     string          `json:"roleArn"`
	TrustPolicy json.RawMessage `json:"trustPolicy"`
}

type roleResult struct {
	RoleARN string `json:"roleArn"`
}

// sandboxRoleARN is the sandbox role s names, of the deployment's
// partition and of a customer's account. A role of the partner's own
// account (the access role customers' roles trust, the verifier, the
// workloads) is refused: no customer can change it, and replaced or
// deleted, one of them would fail every check until serve restarts.
func (h *Handler) sandboxRoleARN(s string) (string, error) {
	a, err := rolearn.Parse(s, rolearn.Rules{Partition: h.partition()})
	if err != nil {
		return "", err
	}
	if own := cmp.Or(h.cfg.PartnerAccountID, rolearn.Account(h.cfg.TrustedPrincipalARN)); own != "" && a.Account == own {
		return "", refused(CodeForbidden, "account "+own+" is the partner's own: the sandbox control changes customers' roles only (restart serve for a fresh partner account)", "roleArn")
	}
	return a.String(), nil
}

func (h *Handler) sandboxPutRole(w http.ResponseWriter, r *http.Request) {
	var in putRoleRequest
	if err := decodeBody(r, &in, false); err != nil {
		h.fail(w, r, err)
		return
	}
	arn, err := h.sandboxRoleARN(in.RoleARN)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pol := bytes.TrimSpace(in.TrustPolicy)
	if len(pol) == 0 || pol[0] != '{' {
		h.fail(w, r, refused(CodeInvalidType, "trustPolicy must be an IAM policy document (a JSON object)", "trustPolicy"))
		return
	}
	if err := h.cfg.Sandbox.PutRole(arn, pol); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, roleResult{RoleARN: arn})
}

func (h *Handler) sandboxDeleteRole(w http.ResponseWriter, r *http.Request) {
	arn, err := h.sandboxRoleARN(r.URL.Query().Get("roleArn"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Sandbox.DeleteRole(arn); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, roleResult{RoleARN: arn})
}

type faultsRequest struct {
	LatencyMS    int64   `json:"latencyMs"`
	ThrottleRate float64 `json:"throttleRate"`
	ErrorRate    float64 `json:"errorRate"`
}

func (h *Handler) sandboxFaults(w http.ResponseWriter, r *http.Request) {
	var in faultsRequest
	if err := decodeBody(r, &in, false); err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case in.LatencyMS < 0 || in.LatencyMS > 60_000:
		h.fail(w, r, refused(CodeInvalidParameter, "latencyMs must be from 0 to 60000", "latencyMs"))
		return
	case !(in.ThrottleRate >= 0 && in.ThrottleRate <= 1):
		h.fail(w, r, refused(CodeInvalidParameter, "throttleRate must be from 0 to 1", "throttleRate"))
		return
	case !(in.ErrorRate >= 0 && in.ErrorRate <= 1):
		h.fail(w, r, refused(CodeInvalidParameter, "errorRate must be from 0 to 1", "errorRate"))
		return
	}
	f := Faults{Latency: time.Duration(in.LatencyMS) * time.Millisecond, ThrottleRate: in.ThrottleRate, ErrorRate: in.ErrorRate}
	if err := h.cfg.Sandbox.SetFaults(f); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}
