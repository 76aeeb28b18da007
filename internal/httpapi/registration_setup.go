package httpapi

import (
	"context"
	"fmt"

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
}

var _ RegistrationSetup = RoleSetup{}

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
			return RegistrationGuide{}, false, fmt.Errorf("render registration link of %s: %w", t.ID, err)
		}
	}
	if g.StackSet, err = rolesetup.StackSetCommands(p, r); err != nil {
		return RegistrationGuide{}, false, fmt.Errorf("render StackSet commands of %s: %w", t.ID, err)
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
