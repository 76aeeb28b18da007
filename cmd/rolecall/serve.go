package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/emulator"
)

type serveOptions struct {
	emulator.Options
	logLevel string
	// opsTokenFile is --ops-token-file; opsTokenArg is the refused
	// --ops-token, kept as a flag so that its use gets an explanation
	// rather than "unknown flag".
	opsTokenFile, opsTokenArg string
}

// opsTokenEnv is the environment variable that carries the ops token.
const opsTokenEnv = "ROLECALL_OPS_TOKEN"

func newServeCmd() *cobra.Command { return newServeCmdWith(new(serveOptions)) }

// newServeCmdWith is the serve command writing its flags into o.
func newServeCmdWith(o *serveOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--dynamodb-endpoint URL] [--aws [--table T] [--event-bus B] [--queue-url U] [--public --public-host NAME]] [--ops-token-file FILE] [--sweep-every 1m] [--check-interval 1h] [--lost-after 2] [--propagation-window 2m] [--sandbox-latency 0ms]",
		Short: "Run the whole pipeline on this machine: web form, API, events, checks, sweeps",
		Long: `serve runs RoleCall's functions in one process, their handlers built by the same
constructors as in Lambda (internal/app), and emulates their event sources: the HTTP API
and customer web form; the store's change feed -> publish -> an in-process event bus; a
"Role Submitted" rule -> an in-process verify queue -> the verify handler; a ticker ->
the sweeper; and the registration topic -> the register handler (sandbox).

By default everything is embedded: an in-memory store and a sandbox STS (an
STS-compatible endpoint that evaluates real trust policies), so no AWS account is
needed. --dynamodb-endpoint uses the DynamoDB adapter against DynamoDB Local (the
table is created if missing). --aws uses the default AWS credential chain and real
STS; with --table (or TABLE_NAME) it uses that real DynamoDB table and its stream,
with --event-bus (or EVENT_BUS_NAME) it also puts every event on that
EventBridge bus, and with --queue-url (or VERIFY_QUEUE_URL) the verify queue is
that SQS queue: sweeps and re-checks send to it and the verify worker here receives
from it (a deployed verify function reading the same queue shares its messages).
Submissions go to it too, unless --event-bus is given as well: serve then takes
the bus and queue to be a deployed stack's, whose own "Role Submitted" rule sends
submissions to its priority queue for the deployed verify function, and adds no
rule of its own (each would be checked twice). With --aws, the account of the credentials
(sts:GetCallerIdentity at start) is the partner's own: submissions naming it are
refused, and the trusted principal must be in it.

It listens on a loopback address and answers only requests addressed to a loopback
name or address (others get 421: a DNS-rebinding page cannot drive it). --public
allows another --addr and requests naming --public-host; only with --aws, never
with the sandbox, whose control routes are unauthenticated.

The ops token comes from the environment variable ROLECALL_OPS_TOKEN or from
--ops-token-file FILE (at least 32 characters, a trailing newline is dropped); when
neither is set one is generated. It is never taken from the command line, which
every local user can read.

At start it creates the tenant "demo" with an invite and prints the customer form's
URL, the ops page's URL, the ops token (only when generated: a token from
ROLECALL_OPS_TOKEN or a file is named by its source, never printed) and the
partner principal. Events are written to
stdout, one JSON line per event (the EventBridge event); logs and the start banner go
to stderr. SIGINT or SIGTERM stops it gracefully: in-flight requests and checks
finish and their events are published.`,
		Example: `  rolecall serve
  rolecall serve --addr 127.0.0.1:9000 --propagation-window 30s | jq .
  rolecall serve --dynamodb-endpoint http://127.0.0.1:8000
  AWS_PROFILE=partner rolecall serve --aws --table rolecall-prod
  AWS_PROFILE=partner rolecall serve --aws --queue-url https://sqs.us-east-1.amazonaws.com/111122223333/rolecall-verify`,
		DisableFlagsInUseLine: true,
		Args:                  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.resolveOpsToken(cmd.Flags().Changed, cmd.ErrOrStderr()); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "rolecall serve:", err)
				return exitCode(2)
			}
			return runServe(cmd.Context(), *o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on: a loopback address unless --public")
	f.BoolVar(&o.Public, "public", false, "with --aws, allow a non-loopback --addr and requests naming --public-host (never with the sandbox)")
	f.StringVar(&o.PublicHost, "public-host", "", "with --public, the host `NAME` (or IP address) clients reach this server by; requests naming another non-loopback host get 421")
	f.StringVar(&o.DynamoDBEndpoint, "dynamodb-endpoint", "", "use DynamoDB (e.g. DynamoDB Local) at this endpoint instead of the embedded store")
	f.StringVar(&o.TableName, "table", os.Getenv("TABLE_NAME"), "DynamoDB table name (default \"rolecall\" with --dynamodb-endpoint; with --aws, a real table)")
	f.BoolVar(&o.AWS, "aws", false, "use the default AWS credential chain and real STS instead of the sandbox")
	f.StringVar(&o.EventBusName, "event-bus", os.Getenv("EVENT_BUS_NAME"), "with --aws, also put events on this EventBridge bus")
	f.StringVar(&o.QueueURL, "queue-url", os.Getenv("VERIFY_QUEUE_URL"), "with --aws, use this SQS queue as the verify queue instead of the in-process one")
	f.StringVar(&o.Region, "region", "", "AWS region (default: the SDK's with --aws, else the partner principal's partition's, us-east-1 in aws; a Region of that partition)")
	f.StringVar(&o.TrustedPrincipalARN, "trusted-principal-arn", "", "principal customer roles trust, a role or account root (default: the sandbox's access role; with --aws, --access-role-arn, else the credentials' role, "+
		"its path taken from the profile's role_arn or AWS_ROLE_ARN, so required when those do not name it)")
	f.StringVar(&o.AccessRoleARN, "access-role-arn", "", "with --aws, the stack's partner access role (output TrustedPrincipalArn): checks chain through it")
	f.StringVar(&o.TemplateURL, "template-url", os.Getenv("CUSTOMER_ROLE_TEMPLATE_URL"), "S3 URL of customer-role.yaml, for quick-create links")
	f.StringVar(&o.opsTokenFile, "ops-token-file", "", "read the token of the ops routes and page from `FILE` (at least 32 characters); default $"+opsTokenEnv+", or generated")
	f.StringVar(&o.opsTokenArg, "ops-token", "", "refused: use $"+opsTokenEnv+" or --ops-token-file")
	_ = f.MarkHidden("ops-token")
	f.DurationVar(&o.SweepEvery, "sweep-every", time.Minute, "interval of the sweep of due connections (0 to disable)")
	f.DurationVar(&o.CheckInterval, "check-interval", time.Hour, "interval between routine checks of verified roles")
	f.IntVar(&o.LostAfter, "lost-after", 2, "consecutive failed checks that make a verified role ACCESS_LOST")
	f.DurationVar(&o.PropagationWindow, "propagation-window", 2*time.Minute, "how long a new role that is denied is retried before it is FAILED, and how soon a role just VERIFIED is checked again")
	f.DurationVar(&o.SandboxLatency, "sandbox-latency", 0, "latency added to every sandbox STS call")
	f.StringVar(&o.EventSource, "event-source", "rolecall", "source of the events: letters, digits, '.', '_' and '-', not starting with \"aws.\" (reserved by EventBridge)")
	f.StringVar(&o.PartnerName, "partner-name", os.Getenv("PARTNER_NAME"), "your company's name as customers see it on the form (default \""+emulator.DefaultPartnerName+"\")")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// resolveOpsToken sets OpsToken from --ops-token-file or the environment,
// and refuses --ops-token: a command line is readable by every local user
// (ps, /proc/PID/cmdline). changed tells whether a flag was given. A file
// that other users can read is used, with a warning on stderr.
func (o *serveOptions) resolveOpsToken(changed func(flag string) bool, stderr io.Writer) error {
	if changed("ops-token") {
		return errors.New("--ops-token is refused: a command line is visible to every local user (ps, /proc/<pid>/cmdline); " +
			"put the token in the environment variable " + opsTokenEnv + ", or in a file only you can read and pass --ops-token-file FILE")
	}
	env := os.Getenv(opsTokenEnv)
	switch {
	case o.opsTokenFile != "" && env != "":
		return errors.New("the ops token is in both " + opsTokenEnv + " and --ops-token-file; set one, not both")
	case o.opsTokenFile != "":
		b, err := os.ReadFile(o.opsTokenFile)
		if err != nil {
			return fmt.Errorf("--ops-token-file: %w", err)
		}
		tok := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if err := emulator.ValidateOpsToken(tok); err != nil {
			return fmt.Errorf("--ops-token-file %s: %w", o.opsTokenFile, err)
		}
		if fi, err := os.Stat(o.opsTokenFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(stderr, "rolecall serve: warning: %s is readable by other users (mode %04o); chmod 600 it\n", o.opsTokenFile, fi.Mode().Perm())
		}
		o.OpsToken, o.OpsTokenSource = tok, "from "+o.opsTokenFile
	case env != "":
		if err := emulator.ValidateOpsToken(env); err != nil {
			return fmt.Errorf("%s: %w", opsTokenEnv, err)
		}
		o.OpsToken, o.OpsTokenSource = env, "from "+opsTokenEnv
	}
	return nil
}

// validate refuses flag values serve cannot run with.
func (o *serveOptions) validate() error {
	var errs []error
	if o.SweepEvery < 0 {
		errs = append(errs, errors.New("--sweep-every must not be negative"))
	}
	if o.CheckInterval < time.Second {
		errs = append(errs, errors.New("--check-interval must be at least 1s"))
	}
	if o.LostAfter < 1 {
		errs = append(errs, errors.New("--lost-after must be at least 1"))
	}
	if o.PropagationWindow < time.Second {
		errs = append(errs, errors.New("--propagation-window must be at least 1s"))
	}
	if o.SandboxLatency < 0 || o.SandboxLatency > time.Minute {
		errs = append(errs, errors.New("--sandbox-latency must be from 0 to 1m"))
	}
	if o.AWS && o.SandboxLatency > 0 {
		errs = append(errs, errors.New("--sandbox-latency needs the sandbox; drop --aws"))
	}
	if o.QueueURL != "" && !o.AWS {
		errs = append(errs, errors.New("--queue-url (or VERIFY_QUEUE_URL) needs --aws; without it the verify queue is in-process"))
	}
	if o.AccessRoleARN != "" && !o.AWS {
		errs = append(errs, errors.New("--access-role-arn needs --aws; the sandbox has its own access role"))
	}
	if o.TableName != "" && !o.AWS && o.DynamoDBEndpoint == "" {
		errs = append(errs, errors.New("--table (or TABLE_NAME) needs --aws or --dynamodb-endpoint; without them the store is in memory"))
	}
	if o.EventBusName != "" && !o.AWS {
		errs = append(errs, errors.New("--event-bus (or EVENT_BUS_NAME) needs --aws; without it events go to the in-process bus only"))
	}
	if err := validateEventSource(o.EventSource); err != nil {
		errs = append(errs, err)
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = -1 // emulator.Options: negative disables the ticker
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel))
	}
	if err := o.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// The events' source, as template.yaml's EventSource parameter allows it
// (AllowedPattern "^(?!aws\.)" + eventSourceChars): EventBridge reserves
// sources starting with "aws." for AWS services.
const (
	eventSourceChars    = `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`
	reservedEventSource = "aws."
)

var eventSourcePattern = regexp.MustCompile(`^` + eventSourceChars + `$`)

// validateEventSource refuses a source the template would refuse.
func validateEventSource(source string) error {
	switch {
	case strings.HasPrefix(source, reservedEventSource):
		return fmt.Errorf("--event-source %q: sources starting with %q are reserved for AWS services by EventBridge", source, reservedEventSource)
	case !eventSourcePattern.MatchString(source):
		return fmt.Errorf("--event-source %q: want 1-128 letters, digits, '.', '_' and '-', starting with a letter or digit", source)
	}
	return nil
}

// serveLogger is serve's log to w at level (validated): text records
// that, as the functions' logs, leave out an AWS service's signing
// diagnostics, whose canonical request holds the session token.
func serveLogger(w io.Writer, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: config.RedactAttr}))
}

func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "rolecall serve:", err)
		return exitCode(2)
	}
	log := serveLogger(stderr, o.logLevel)
	o.Events = stdout
	o.Log = log

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := emulator.Start(startCtx, o.Options)
	cancel()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprint(stderr, s.Banner())

	var serveErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "rolecall: stopping; finishing in-flight work (Ctrl+C again to force)…")
		force := make(chan os.Signal, 1)
		signal.Notify(force, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(force)
		go func() {
			if _, ok := <-force; ok {
				os.Exit(130)
			}
		}()
	case serveErr = <-s.Err():
		log.Error("the HTTP server stopped", "error", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", errors.Join(serveErr, err))
	}
	if serveErr != nil {
		return fmt.Errorf("serve: %w", serveErr)
	}
	fmt.Fprintln(stderr, "rolecall: stopped.")
	return nil
}
