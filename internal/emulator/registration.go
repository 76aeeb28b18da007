package emulator

import (
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/store"
)

// registrationsOf is the registration store beside st: the DynamoDB table
// itself when st is the DynamoDB adapter, else an embedded one.
func registrationsOf(st store.Store) store.Registrations {
	if r, ok := st.(store.Registrations); ok {
		return r
	}
	return store.NewMemoryRegistrations()
}

// Sandbox registration: POST /_sandbox/sns/registration hands SNS
// Notification envelopes to the register Lambda's handler. Only here may a
// ResponseURL be a loopback http://127.0.0.1:PORT/ one (the sandbox plays
// CloudFormation's response bucket); the wait for the first check is
// shorter than the HTTP server's write timeout.
const (
	sandboxRegistrationWait = 20 * time.Second
	sandboxRegistrationPoll = 100 * time.Millisecond
)

// sandboxRegistrationRoutes enables the sandbox registration topic and the
// form's sandbox stack button on cfg: the registration function's handler
// (app.RegisterFor), over the API's onboarding service.
func (st *Stack) sandboxRegistrationRoutes(cfg *httpapi.Config) error {
	s := app.Register{Partner: st.partner(), Policy: st.Settings.Verify.Policy, Wait: sandboxRegistrationWait, Poll: sandboxRegistrationPoll, AllowLoopback: true}
	st.Handlers.Register = app.RegisterFor(s, st.Service, st.Registrations, st.Components)
	cfn, err := startSandboxCloudFormation(cfg.Sandbox, st, st.Handlers.Register, st.opts.Region)
	if err != nil {
		return err
	}
	st.cfn = cfn
	cfg.RegistrationInbox, cfg.SandboxStacks = st.Handlers.Register, cfn
	return nil
}
