// Package config reads the settings a function needs from its
// environment, collecting every problem so a misconfigured function fails
// at start with one clear message instead of at its first request, and
// gives each function its JSON logger (Logger, at the level of
// AWS_LAMBDA_LOG_LEVEL) and its AWS configuration (Env.AWS).
//
// The settings readers in internal/app name each variable literally
// (env.String("TABLE_NAME")); a test records the names each function's
// reader looks up and checks that template.yaml sets exactly those.
package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Env reads variables through a lookup function such as os.LookupEnv.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// New returns an Env over lookup.
func New(lookup func(string) (string, bool)) *Env { return &Env{lookup: lookup} }

// String returns a required, non-empty variable.
func (e *Env) String(name string) string {
	v, ok := e.lookup(name)
	if !ok || v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set", name))
	}
	return v
}

// StringOr returns an optional variable, or def when unset or empty.
func (e *Env) StringOr(name, def string) string {
	if v, ok := e.lookup(name); ok && v != "" {
		return v
	}
	return def
}

// DurationOr returns an optional duration ("90s", "1h"), or def.
func (e *Env) DurationOr(name string, def time.Duration) time.Duration {
	return positiveOr(e, name, def, time.ParseDuration, "duration")
}

// IntOr returns an optional positive integer, or def.
func (e *Env) IntOr(name string, def int) int {
	return positiveOr(e, name, def, strconv.Atoi, "integer")
}

// IntIn returns an optional integer from lo to hi, or def; a value out of
// that range is recorded as a problem and def returned.
func (e *Env) IntIn(name string, def, lo, hi int) int {
	return within(e, name, e.IntOr(name, def), def, lo, hi, strconv.Itoa)
}

// DurationIn returns an optional duration from lo to hi, or def; a value
// out of that range is recorded as a problem and def returned.
func (e *Env) DurationIn(name string, def, lo, hi time.Duration) time.Duration {
	return within(e, name, e.DurationOr(name, def), def, lo, hi, time.Duration.String)
}

// within is v when it lies in [lo, hi]; otherwise it records the problem
// and returns def.
func within[T ~int | ~int64](e *Env, name string, v, def, lo, hi T, show func(T) string) T {
	if v < lo || v > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%s is out of range: from %s to %s", name, show(v), show(lo), show(hi)))
		return def
	}
	return v
}

// positiveOr parses an optional variable that must be above zero, or
// returns def when it is unset or empty; a value that does not parse or is
// not positive is recorded as a problem (named by what) and def returned.
func positiveOr[T ~int | ~int64](e *Env, name string, def T, parse func(string) (T, error), what string) T {
	v, ok := e.lookup(name)
	if !ok || v == "" {
		return def
	}
	n, err := parse(v)
	if err != nil || n <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a positive %s", name, v, what))
		return def
	}
	return n
}

// Fail records a problem found while interpreting a variable that was
// read (a list with a bad element), to be reported with the others.
func (e *Env) Fail(err error) {
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

// Err returns every problem found so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(e.errs...))
}

// AWS returns the problems found so far, if any, and otherwise the AWS
// configuration from the default credential chain: the last step of every
// function's start.
func (e *Env) AWS(ctx context.Context) (aws.Config, error) {
	if err := e.Err(); err != nil {
		return aws.Config{}, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}
