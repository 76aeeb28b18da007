package httpapi

import (
	"encoding/json"
	"fmt"

	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/tenant"
)

// RoleSetup is the Setup of a deployment: rolesetup's renderings of
// infra/customer-role.yaml for a tenant.
type RoleSetup struct {
	TrustedPrincipalARN string
	// TemplateURL is where the partner publishes customer-role.yaml (S3);
	// without it the form has no quick-create link.
	TemplateURL string
	// Region the quick-create link and CLI commands create the stack in
	// (default rolesetup.DefaultRegion).
	Region string
	// RoleNamePrefix starts the name of each tenant's role (default
	// infra.DefaultRoleNamePrefix): see rolesetup.DefaultRoleName.
	RoleNamePrefix string
	// RegistrationTopicARN is the partner's registration topic; with it,
	// new registration tokens come with a quick-create link and StackSet
	// commands whose stacks register themselves.
	RegistrationTopicARN string
}

var _ Setup = RoleSetup{}

// setupFault wraps an error rendering the setup from the partner's own
// configuration. rolesetup returns it as a refusal, but the fault is the
// deployment's, not the client's: it has no Unwrap, so it answers 500 and
// never passes for a refusal of the request.
type setupFault struct{ err error }

func (e setupFault) Error() string { return e.err.Error() }

func (s RoleSetup) params(t tenant.Tenant) rolesetup.Params {
	return rolesetup.Params{ExternalID: t.ExternalID, TrustedPrincipalARN: s.TrustedPrincipalARN, TenantID: t.ID,
		RoleNamePrefix: s.RoleNamePrefix, TemplateURL: s.TemplateURL, Region: s.Region}
}

// Guide implements Setup.
func (s RoleSetup) Guide(t tenant.Tenant) (Guide, error) {
	in, err := rolesetup.Render(s.params(t))
	if err != nil {
		return Guide{}, fmt.Errorf("render setup of %s: %w", t.ID, setupFault{err})
	}
	return Guide{RoleName: in.RoleName, QuickCreateURL: in.QuickCreateURL, Terraform: in.Terraform, CLI: in.CLI}, nil
}

// Template implements Setup.
func (s RoleSetup) Template(t tenant.Tenant) ([]byte, error) {
	b, err := rolesetup.Template(s.params(t))
	if err != nil {
		return nil, fmt.Errorf("render template of %s: %w", t.ID, setupFault{err})
	}
	return b, nil
}

// TrustPolicy implements Setup.
func (s RoleSetup) TrustPolicy(t tenant.Tenant) (json.RawMessage, error) {
	b, err := rolesetup.TrustPolicy(t.ExternalID, s.TrustedPrincipalARN)
	if err != nil {
		return nil, fmt.Errorf("render trust policy of %s: %w", t.ID, setupFault{err})
	}
	return json.RawMessage(b), nil
}
