package emulator

import (
	"time"

	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/register"
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

func (s *Server) sandboxRegistration(answers store.Registrations) *register.Handler {
	urls := register.URLPolicy{AllowLoopback: true}
	return &register.Handler{
		Registrar:  s.Registrations,
		Onboarding: s.Service,
		Answers:    answers,
		Sender:     &register.Responder{Policy: urls},
		Policy:     urls,
		Wait:       sandboxRegistrationWait,
		Poll:       sandboxRegistrationPoll,
		Log:        s.log,
	}
}

// sandboxRegistrationRoutes enables the sandbox registration topic and the
// form's sandbox stack button on cfg.
func (s *Server) sandboxRegistrationRoutes(cfg *httpapi.Config, answers store.Registrations, region string) error {
	inbox := s.sandboxRegistration(answers)
	cfn, err := startSandboxCloudFormation(cfg.Sandbox, s, inbox, region)
	if err != nil {
		return err
	}
	s.cfn = cfn
	cfg.RegistrationInbox, cfg.SandboxStacks = inbox, cfn
	return nil
}
