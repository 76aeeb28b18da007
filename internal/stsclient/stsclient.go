// Package stsclient builds the STS client and the checker every runner of
// checks uses — the verify Lambda and `rolecall serve` (through
// internal/app), `rolecall verify` and the bench — so that what is
// measured is what is deployed.
//
// Retries are the Checker's alone: the SDK's retryer is off (one HTTP
// attempt per call) and the Checker tries each probe AttemptsPerProbe
// times, with jittered backoff, so a probe costs at most AttemptsPerProbe
// STS calls and a check at most MaxCallsPerCheck. (The SDK's default
// retryer under the Checker's attempts made up to nine calls of one probe.)
// The client talks to the STS endpoint of the deployment's Region, never to
// the global endpoint: the SDK resolves STS regionally, New refuses a
// configuration without a Region, and a test resolves the endpoint.
package stsclient

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
)

// AttemptsPerProbe is how many STS calls one probe (one AssumeRole of a
// check) makes at most: the Checker's attempts, the SDK retrying none.
const AttemptsPerProbe = 3

// MaxCallsPerCheck is the most STS calls one check of a tenant's external
// ID (one RoleCall generated) makes: its probes' attempts, with the fourth
// probe a check makes during a rotation's grace (the previous external ID,
// when the current one is denied). A check of another ID, which only
// `rolecall verify` makes, has a second decoy probe besides.
const MaxCallsPerCheck = AttemptsPerProbe * (stsbudget.CallsPerCheck + 1)

// DefaultIdleConns is how many idle connections to STS a client keeps: one
// for each call a verify instance has in flight at once, its routine
// worker's stsbudget.InFlight checks with their stsbudget.CallsPerCheck
// probes side by side, so one batch's calls reuse the last one's
// connections instead of opening (and TLS-handshaking) new ones; the SDK's
// default keeps 10 per host.
const DefaultIdleConns = stsbudget.InFlight * stsbudget.CallsPerCheck

// ErrNoRegion: the AWS configuration names no Region.
var ErrNoRegion = errors.New("stsclient: no AWS Region: STS is called in the deployment's Region only")

// Options adjust the client and checker to where they run.
type Options struct {
	// Endpoint, when set, is a stand-in STS (the sandbox); otherwise the
	// SDK resolves the Region's regional endpoint.
	Endpoint string
	// IdleConns is how many idle connections to keep (default
	// DefaultIdleConns).
	IdleConns int
	// BaseDelay is the Checker's first retry delay (default the Checker's).
	BaseDelay time.Duration
	Log       *slog.Logger
	Now       func() time.Time
}

// New returns the STS client of cfg's Region, with the SDK's retryer off.
func New(cfg aws.Config, o Options) (*sts.Client, error) {
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	idle := o.IdleConns
	if idle <= 0 {
		idle = DefaultIdleConns
	}
	return sts.NewFromConfig(cfg, func(so *sts.Options) {
		so.Retryer = aws.NopRetryer{}
		so.RetryMaxAttempts = 1
		so.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			// The SDK's transport also caps idle connections in all (100):
			// one client talks to one host, so the cap is the same.
			t.MaxIdleConnsPerHost, t.MaxIdleConns = idle, max(t.MaxIdleConns, idle)
		})
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// Checker returns the checker over an STS port, with AttemptsPerProbe
// attempts per probe.
func Checker(a probe.Assumer, o Options) *probe.Checker {
	return &probe.Checker{STS: a, Attempts: AttemptsPerProbe, BaseDelay: o.BaseDelay, Log: o.Log, Now: o.Now,
		Pay: stsbudget.Pay, Scope: stsbudget.Scope}
}
