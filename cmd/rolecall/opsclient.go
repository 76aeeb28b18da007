package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/loopback"
	"github.com/rolecall/rolecall/internal/opsapi"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// opsOptions are the flags every ops command shares: where the API is, how
// to authenticate, and how to print.
type opsOptions struct {
	api    string
	stack  string
	region string
	auth   string
	json   bool

	// resolved by connect
	awsCfg   *aws.Config
	logGroup string // the stack's events log group (--stack)
}

// Stack outputs the CLI reads (template.yaml's Outputs).
const (
	outputAPIURL   = "ApiUrl"
	outputEventLog = "EventLogGroupName"
)

// addOpsFlags adds the shared flags to a command group.
func addOpsFlags(cmd *cobra.Command, o *opsOptions) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.api, "api", "", "base URL of the API (rolecall serve's, or a stack's ApiUrl); default $ROLECALL_API unless --stack is given")
	f.StringVar(&o.stack, "stack", "", "read the API URL from this CloudFormation stack's ApiUrl output instead of --api")
	f.StringVar(&o.region, "region", "", "AWS region of --stack and of the SigV4 signature (default: the SDK's, or the API URL's)")
	f.StringVar(&o.auth, "auth", "auto", "ops credentials: token (ROLECALL_OPS_TOKEN as a bearer token, for serve), sigv4 (the AWS credential chain, for a deployed API) or auto: sigv4 for an execute-api URL, else token when ROLECALL_OPS_TOKEN is set, else sigv4 for a non-loopback URL")
	f.BoolVar(&o.json, "json", false, "print JSON (the API's answers) instead of tables")
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// connect resolves the API URL and the credentials and returns the client.
func (o *opsOptions) connect(ctx context.Context) (*opsapi.Client, error) {
	if o.api != "" && o.stack != "" {
		return nil, usagef("give --api or --stack, not both")
	}
	if o.api == "" && o.stack == "" {
		o.api = os.Getenv("ROLECALL_API") // --stack is a deployed stack's, whatever the shell set for serve
	}
	if o.stack != "" {
		if err := o.readStack(ctx); err != nil {
			return nil, err
		}
	}
	if o.api == "" {
		return nil, usagef("say where the API is: --api URL (or ROLECALL_API), or --stack NAME")
	}
	u, err := apiURL(o.api)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("ROLECALL_OPS_TOKEN")
	mode, err := authMode(o.auth, token, u.Hostname())
	if err != nil {
		return nil, err
	}
	var auth access.Authorizer = access.BearerToken(token)
	if mode == "sigv4" {
		cfg, err := o.aws(ctx)
		if err != nil {
			return nil, err
		}
		region := signingRegion(o.region, u.Hostname(), cfg.Region)
		if region == "" {
			return nil, usagef("give --region: the SigV4 signature names the API's region")
		}
		auth = access.SigV4{Credentials: cfg.Credentials, Region: region}
	}
	return opsapi.New(o.api, auth, nil)
}

// apiURL parses --api: an http(s) URL with a host, and no query, fragment
// or user (the API takes none). A bad one is a usage error, which never
// repeats a password the URL carried.
func apiURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		shown := "the value"
		if err == nil {
			shown = fmt.Sprintf("%q", u.Redacted())
		}
		return nil, usagef("--api %s is not an http(s) URL", shown)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, usagef("--api %q: the API URL carries no query, fragment or user", u.Redacted())
	}
	return u, nil
}

// authMode decides how to authenticate: "token" (a bearer token, serve)
// or "sigv4" (a deployed API). auto takes SigV4 for an API Gateway host,
// else the token when there is one, SigV4 for any other host than
// loopback, and refuses a loopback API without a token (serve always has
// one). The workload commands, which have no --auth, take auto.
func authMode(flag, token, host string) (string, error) {
	host = dnsName(host)
	switch flag {
	case "token":
		if token == "" {
			return "", usagef("--auth token needs ROLECALL_OPS_TOKEN")
		}
		return "token", nil
	case "sigv4":
		return "sigv4", nil
	case "auto":
		switch {
		case rolearn.ExecuteAPIRegion(host) != "":
			// A deployed API takes SigV4 only: serve's token would be
			// refused, and would have left the machine for nothing.
			return "sigv4", nil
		case token != "":
			return "token", nil
		case loopback.Host(host):
			return "", usagef("set ROLECALL_OPS_TOKEN to the ops token rolecall serve printed (or give an ops command --auth sigv4)")
		}
		return "sigv4", nil
	}
	return "", usagef("--auth %q: want auto, token or sigv4", flag)
}

// dnsName is host as loopback.Host compares it: DNS names are
// case-insensitive, and may end in the root's dot.
func dnsName(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// signingRegion is the region SigV4 signs for: --region, else the region
// of an execute-api host, else the SDK's.
func signingRegion(flag, host, sdk string) string {
	if flag != "" {
		return flag
	}
	if r := rolearn.ExecuteAPIRegion(host); r != "" {
		return r
	}
	return sdk
}

// aws loads the AWS configuration once (default credential chain).
func (o *opsOptions) aws(ctx context.Context) (aws.Config, error) {
	if o.awsCfg != nil {
		return *o.awsCfg, nil
	}
	var opts []func(*config.LoadOptions) error
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	o.awsCfg = &cfg
	return cfg, nil
}

// readStack reads the API URL and the events log group from the stack.
func (o *opsOptions) readStack(ctx context.Context) error {
	cfg, err := o.aws(ctx)
	if err != nil {
		return err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(o.stack)})
	if err != nil {
		return fmt.Errorf("describe stack %s: %w", o.stack, err)
	}
	if len(out.Stacks) != 1 {
		return fmt.Errorf("describe stack %s: %d stacks answered", o.stack, len(out.Stacks))
	}
	st := out.Stacks[0]
	for _, op := range st.Outputs {
		switch aws.ToString(op.OutputKey) {
		case outputAPIURL:
			o.api = aws.ToString(op.OutputValue)
		case outputEventLog:
			o.logGroup = aws.ToString(op.OutputValue)
		}
	}
	if o.logGroup == "" { // stacks deployed before the output existed
		for _, p := range st.Parameters {
			if aws.ToString(p.ParameterKey) == "Stage" {
				o.logGroup = "/aws/events/rolecall-" + aws.ToString(p.ParameterValue)
			}
		}
	}
	if o.api == "" {
		return fmt.Errorf("stack %s has no %s output; is it a RoleCall stack?", o.stack, outputAPIURL)
	}
	return nil
}

// opsRun wraps an ops command's body: it connects, runs, and turns what
// went wrong into the exit status: 2 for usage errors, 1 for refusals and
// failures (with the API's code and message on stderr).
func opsRun(o *opsOptions, run func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := o.connect(cmd.Context())
		if err == nil {
			err = run(cmd.Context(), c, cmd, args)
		}
		return report(cmd, err)
	}
}

// report prints err and returns the exit status for it.
func report(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return ec
	}
	stderr := cmd.ErrOrStderr()
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), ue.msg)
		return exitCode(2)
	}
	var ae *access.APIError
	if errors.As(err, &ae) {
		field := ""
		if ae.Field != "" {
			field = " (field " + ae.Field + ")"
		}
		fmt.Fprintf(stderr, "%s: refused (HTTP %d): %s: %s%s\n", cmd.CommandPath(), ae.StatusCode, ae.Code, ae.Message, field)
		if ae.Hint != "" {
			fmt.Fprintf(stderr, "hint: %s\n", ae.Hint)
		}
		return exitCode(1)
	}
	// The first line only, as the workload commands print: an AWS
	// service's refusal of a signature goes on with the canonical request
	// it computed, whose signed headers hold the session token.
	fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), errorLine(err))
	return exitCode(1)
}
