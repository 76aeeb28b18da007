package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/truncate"
)

// RegistrationTokens issues, lists and revokes the registration tokens a
// customer's stack registers its role with (*onboarding.Registrations
// implements it). Errors the client can fix are *onboarding.Error.
type RegistrationTokens interface {
	CreateToken(ctx context.Context, tenantID string, ttl time.Duration) (string, registration.Token, error)
	ListTokens(ctx context.Context, tenantID string) ([]registration.Token, error)
	RevokeToken(ctx context.Context, tenantID, tokenID string) (registration.Token, error)
}

// RegistrationInbox takes what an SNS HTTP subscription of the registration
// topic receives (serve mode's stand-in for the topic).
type RegistrationInbox interface {
	// Notify handles one SNS Notification envelope. Errors the client can
	// fix are *onboarding.Error.
	Notify(ctx context.Context, envelope []byte) error
}

// MaxBatch is the most role ARNs one batch submission may carry.
const MaxBatch = 100

// Error codes of the registration routes.
const (
	CodeBatchTooLarge    = "BATCH_TOO_LARGE"
	CodeDuplicateAccount = "DUPLICATE_ACCOUNT"
)

// registrationRoutes adds the routes of registration tokens, batch
// submission and the sandbox registration topic.
func (h *Handler) registrationRoutes() {
	m := h.mux
	m.Handle("POST /v1/connections:batch", h.customer(h.submitBatch))
	m.Handle("POST /v1/invite/registration", h.customer(h.inviteRegistration))
	if h.cfg.Registrations != nil {
		m.Handle("POST /v1/tenants/{tenantId}/registration-tokens", h.ops(h.createRegistrationToken))
		m.Handle("GET /v1/tenants/{tenantId}/registration-tokens", h.ops(h.listRegistrationTokens))
		m.Handle("DELETE /v1/tenants/{tenantId}/registration-tokens/{tokenId}", h.ops(h.revokeRegistrationToken))
	}
	if h.cfg.Sandbox != nil && h.cfg.RegistrationInbox != nil {
		m.HandleFunc("POST /_sandbox/sns/registration", h.sandboxRegistration)
	}
	if h.cfg.Sandbox != nil && h.cfg.SandboxStacks != nil {
		m.Handle("POST /_sandbox/stacks", h.customer(h.sandboxLaunchStack))
	}
}

type createTokenRequest struct {
	TTLSeconds *int64 `json:"ttlSeconds"`
}

// tokenCreated is the only response that carries a token's secret.
type tokenCreated struct {
	registration.Token
	Secret string `json:"token"`
	// Setup is the quick-create link and StackSet commands carrying the
	// token, when a registration topic is configured.
	Setup *RegistrationGuide `json:"setup,omitempty"`
}

type tokenList struct {
	Tokens []registration.Token `json:"tokens"`
}

func (h *Handler) createRegistrationToken(w http.ResponseWriter, r *http.Request) error {
	var in createTokenRequest
	if err := decodeBody(r, &in, true); err != nil {
		return err
	}
	var ttl time.Duration
	if in.TTLSeconds != nil {
		n := *in.TTLSeconds
		lo, hi := int64(registration.MinTTL/time.Second), int64(registration.MaxTTL/time.Second)
		if n < lo || n > hi {
			return refused(onboarding.CodeInvalidTTL, fmt.Sprintf("ttlSeconds must be from %d to %d", lo, hi), "ttlSeconds")
		}
		ttl = time.Duration(n) * time.Second
	}
	secret, tok, err := h.cfg.Registrations.CreateToken(r.Context(), r.PathValue("tenantId"), ttl)
	if err != nil {
		return err
	}
	guide, err := h.registrationGuide(r.Context(), tok.TenantID, secret)
	if err != nil {
		// The token exists: return it (shown only now) without the guide.
		h.log.ErrorContext(r.Context(), "registration guide not rendered", "tenantId", tok.TenantID, "tokenId", tok.ID, "error", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, tokenCreated{Token: tok, Secret: secret, Setup: guide})
	return nil
}

func (h *Handler) listRegistrationTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := h.cfg.Registrations.ListTokens(r.Context(), r.PathValue("tenantId"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []registration.Token{}
	}
	writeJSON(w, http.StatusOK, tokenList{Tokens: list})
	return nil
}

func (h *Handler) revokeRegistrationToken(w http.ResponseWriter, r *http.Request) error {
	tok, err := h.cfg.Registrations.RevokeToken(r.Context(), r.PathValue("tenantId"), r.PathValue("tokenId"))
	return answer(w, http.StatusOK, tok, err)
}

type batchRequest struct {
	RoleARNs []string `json:"roleArns"`
}

// batchResult is the outcome of one ARN of a batch: the connection as
// stored, or the refusal a single submission would have answered.
type batchResult struct {
	RoleARN    string                 `json:"roleArn"`
	Connection *connection.Connection `json:"connection,omitempty"`
	Error      *errorDetail           `json:"error,omitempty"`
}

type batchResponse struct {
	Results []batchResult `json:"results"`
}

// submitBatch submits up to MaxBatch role ARNs for the invite's tenant, each
// exactly as POST /v1/connections would, and answers one result per ARN in
// request order. A second ARN for an account earlier in the same batch is
// refused (DUPLICATE_ACCOUNT) rather than silently replacing the first.
func (h *Handler) submitBatch(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	var in batchRequest
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	if in.RoleARNs == nil {
		return refused(CodeMissingField, "roleArns is required: an array of role ARNs", "roleArns")
	}
	if len(in.RoleARNs) == 0 || len(in.RoleARNs) > MaxBatch {
		return refused(CodeBatchTooLarge, fmt.Sprintf("roleArns must hold 1 to %d role ARNs", MaxBatch), "roleArns")
	}
	code, _ := credential(r, "Invite") // the customer wrapper resolved it
	out := batchResponse{Results: make([]batchResult, 0, len(in.RoleARNs))}
	seen := map[string]bool{}
	for i, arn := range in.RoleARNs {
		res := batchResult{RoleARN: truncate.String(arn, 2048)}
		field := fmt.Sprintf("roleArns[%d]", i)
		// An account is taken by the first entry for it that is a valid
		// role ARN of this deployment: one refused as an ARN (wrong
		// partition, the partner's own account) takes nothing, so a
		// corrected ARN after it still counts; any other entry does,
		// whatever became of it, so a second role never replaces the
		// connection in the same batch.
		a, perr := rolearn.Parse(arn, rolearn.Rules{})
		if perr == nil && seen[a.Account] {
			res.Error = &errorDetail{Code: CodeDuplicateAccount, Field: field,
				Message: "another role ARN of this batch names the same account; submit one role per account"}
			out.Results = append(out.Results, res)
			continue
		}
		// Each entry is a submission of the invite: it counts against the
		// invite's rate limit as a single submission does.
		c, err := h.cfg.Service.SubmitInvited(r.Context(), t, code, arn)
		oe := onboarding.AsError(err)
		if perr == nil && (oe == nil || oe.Field != rolearn.Field) {
			seen[a.Account] = true
		}
		switch {
		case err == nil:
			res.Connection = &c
		case oe != nil:
			res.Error = &errorDetail{Code: oe.Code, Message: oe.Message, Field: field}
		default:
			h.log.ErrorContext(r.Context(), "batch submission failed", "tenantId", t.ID, "index", i, "error", err)
			res.Error = &errorDetail{Code: CodeInternal, Message: internalMessage, Field: field}
		}
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// sandboxRegistration is the sandbox's registration topic: it takes the
// body an SNS HTTP subscription receives and hands it to the same handler
// the register Lambda runs.
func (h *Handler) sandboxRegistration(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Sns-Message-Type") != "Notification" {
		refuse(w, refused(CodeInvalidParameter, "only SNS Notification messages are accepted (header x-amz-sns-message-type: Notification)", "x-amz-sns-message-type"))
		return
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		refuse(w, refused(CodeTooLarge, "the request body is larger than 16 KiB", ""))
		return
	}
	if err := h.cfg.RegistrationInbox.Notify(r.Context(), body); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Delivered bool `json:"delivered"`
	}{true})
}
