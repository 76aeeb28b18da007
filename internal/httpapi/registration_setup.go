package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/internal/registration"

	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/tenant"
)

// RegistrationGuide is how a customer deploys a stack that registers its
// role by itself with one registration token.
type RegistrationGuide struct {
	QuickCreateURL string `json:"quickCreateUrl,omitempty"`
	StackSet       string `json:"stackSet"`
}

// RegistrationSetup renders a RegistrationGuide; a Setup that implements it
// (RoleSetup with a registration topic) adds one to every new token.
type RegistrationSetup interface {
	// RegistrationGuide returns ok false when no registration topic is
	// configured.
	RegistrationGuide(t tenant.Tenant, token string) (g RegistrationGuide, ok bool, err error)
	// SelfRegistration reports whether a registration topic is configured.
	SelfRegistration() bool
}

var _ RegistrationSetup = RoleSetup{}

// SelfRegistration implements RegistrationSetup.
func (s RoleSetup) SelfRegistration() bool { return s.RegistrationTopicARN != "" }

// RegistrationGuide implements RegistrationSetup.
func (s RoleSetup) RegistrationGuide(t tenant.Tenant, token string) (RegistrationGuide, bool, error) {
	if s.RegistrationTopicARN == "" {
		return RegistrationGuide{}, false, nil
	}
	p, r := s.params(t), rolesetup.Registration{TopicARN: s.RegistrationTopicARN, Token: token}
	var g RegistrationGuide
	var err error
	if p.TemplateURL != "" {
		if g.QuickCreateURL, err = rolesetup.RegistrationQuickCreateURL(p, r); err != nil {
			return RegistrationGuide{}, false, fmt.Errorf("render registration link of %s: %w", t.ID, setupFault{err})
		}
	}
	if g.StackSet, err = rolesetup.StackSetCommands(p, r); err != nil {
		return RegistrationGuide{}, false, fmt.Errorf("render StackSet commands of %s: %w", t.ID, setupFault{err})
	}
	return g, true, nil
}

// registrationGuide renders the guide of a new token, when the Setup can.
func (h *Handler) registrationGuide(ctx context.Context, tenantID, token string) (*RegistrationGuide, error) {
	rs, ok := h.cfg.Setup.(RegistrationSetup)
	if !ok {
		return nil, nil
	}
	t, err := h.cfg.Service.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	g, ok, err := rs.RegistrationGuide(t, token)
	if err != nil || !ok {
		return nil, err
	}
	return &g, nil
}

// selfRegistration reports whether the form may offer a stack that
// registers itself: tokens can be minted and a topic is configured.
func (h *Handler) selfRegistration() bool {
	rs, ok := h.cfg.Setup.(RegistrationSetup)
	_, mints := h.cfg.Registrations.(InviteTokens)
	return ok && mints && rs.SelfRegistration()
}

// InviteTokens mints registration tokens on the form
// (*onboarding.Registrations implements it).
type InviteTokens interface {
	CreateTokenForInvite(ctx context.Context, tenantID, inviteHash string) (string, registration.Token, error)
}

type selfRegistration struct {
	TokenID   string    `json:"tokenId"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	RegistrationGuide
}

// inviteRegistration is POST /v1/invite/registration: a registration token
// for the invite's tenant, with the quick-create link and StackSet commands
// that carry it (shown once).
func (h *Handler) inviteRegistration(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	if err := decodeBody(r, &struct{}{}, true); err != nil {
		return err
	}
	if !h.selfRegistration() {
		return refused(CodeNotFound, "this partner does not offer self-registering stacks", "")
	}
	// The guide is rendered with a placeholder first: one that cannot be
	// rendered refuses the request before it spends one of the invite's
	// few tokens.
	rs := h.cfg.Setup.(RegistrationSetup)
	if _, _, err := rs.RegistrationGuide(t, registration.Placeholder); err != nil {
		return err
	}
	code, _ := credential(r, "Invite") // the customer middleware checked it
	secret, tok, err := h.cfg.Registrations.(InviteTokens).CreateTokenForInvite(r.Context(), t.ID, tenant.HashCode(code))
	if err != nil {
		return err
	}
	g, _, err := rs.RegistrationGuide(t, secret)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, selfRegistration{TokenID: tok.ID, Token: secret, ExpiresAt: tok.ExpiresAt, RegistrationGuide: g})
	return nil
}
