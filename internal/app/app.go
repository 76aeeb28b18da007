// Package app is RoleCall's composition root: the one place that builds
// every handler RoleCall runs — the HTTP API (httpapi), the publish
// handler, the verify handler with its workers, budgets and checker, the
// sweeper and the registration handler — from settings and components.
//
// Settings are read from the environment once, by one Read function per
// Lambda (every variable name a function reads is written here, and
// template.yaml sets exactly those). Components are the adapters the
// handlers run on: store, verify and priority queues, event bus, STS port,
// clock and logger. AWSComponents builds the AWS ones from an aws.Config,
// each from the Part of its service: the Lambdas build the parts their
// Settings name, `rolecall serve` (internal/emulator) the parts for the
// deployed queue, bus and access role it is given, its checker's STS port
// over a configuration naming the sandbox STS, and its DynamoDB store
// (DynamoDBTable; it reads the table's stream itself). serve starts from
// the Lambdas' settings (DefaultVerify, DefaultSweep); serve and the bench
// build embedded or sandbox components for the rest and call the same
// handler constructors, so what runs on a laptop and what the bench
// measures is what is deployed. `rolecall verify` needs no handler: it
// runs the checker Checker builds, over the STS port of CallerSTS.
//
// The request path is: functions/<name>/main.go → app.New<Name> → the
// package that does the work (httpapi, publish, verify, sweep, register).
// serve builds the API and registration handlers from the same parts
// (APIConfig, Onboarding, RegisterFor) to add its own routes and share one
// onboarding service between them.
package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/verify"
)

// Queue is a verify queue as the handlers use it: the API, the sweeps and
// the submission rule send jobs to it (queue.SQS, queue.Memory). The
// verify workers also delay redeliveries on a queue that implements
// verify.Visibility, as both adapters do.
type Queue interface {
	Send(ctx context.Context, jobs []probe.Job) error
}

// Components are the adapters the handlers run on. A handler uses the ones
// it needs and ignores the rest; each constructor says which it needs.
type Components struct {
	// Region is the deployment's AWS Region.
	Region string
	// Store holds tenants, connections and the outbox.
	Store store.Store
	// Registrations holds registration tokens and the answers given to
	// stacks (the DynamoDB adapter itself, or an embedded one).
	Registrations store.Registrations
	// Queue is the verify queue the function sends to: the priority queue
	// for the API, the routine queue for the sweep and the verify
	// handler's routine worker.
	Queue Queue
	// PriorityQueue is the verify handler's priority queue (nil: none).
	PriorityQueue Queue
	// Bus is the event bus the publish handler puts events on.
	Bus publish.Bus
	// STS is the checker's STS port.
	STS probe.Assumer
	// Checker, when set, replaces the checker NewChecker builds over STS
	// (a test observing every check sets it).
	Checker verify.Checker
	// Clock paces the STS budgets and times the registration handler's
	// wait for a first check (default the wall clock).
	Clock stsbudget.Clock
	// Log receives the handlers' logs (default slog.Default()).
	Log *slog.Logger
}

func (c Components) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

func (c Components) clock() stsbudget.Clock {
	if c.Clock == nil {
		return stsbudget.RealClock{}
	}
	return c.Clock
}

// Settings are what a function's Read returns: they build the AWS
// components the function uses, and only those (AWSComponents with the
// function's parts).
type Settings interface {
	AWSComponents(cfg aws.Config, log *slog.Logger) (Components, error)
}

// Lambda is a function's start: it reads the settings from the
// environment with read, builds the AWS components they name and the
// handler with build, and returns the handler. On a bad setting or a
// failed build it logs the error as JSON and exits non-zero, so a
// misconfigured function fails at start, not at its first request.
func Lambda[S Settings, H any](read func(*config.Env) S, build func(S, Components) (H, error)) H {
	log := config.Logger(os.Stdout, os.LookupEnv)
	env := config.New(os.LookupEnv)
	s := read(env)
	c, err := newAWS(context.Background(), env, s, log)
	var h H
	if err == nil {
		h, err = build(s, c)
	}
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	return h
}
