package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// inCredentialProcess is set in the environment while a workload command
// runs: if the SDK resolves its base credentials through a profile whose
// credential_process is `rolecall credentials` again, the nested command
// sees it and stops instead of recursing forever.
const inCredentialProcess = "ROLECALL_IN_CREDENTIAL_PROCESS"

// guardRecursion marks this process as resolving RoleCall credentials
// (inherited by the credential processes the SDK starts) until restore.
func guardRecursion() (restore func(), err error) {
	if os.Getenv(inCredentialProcess) != "" {
		return nil, errors.New("the base credentials resolve to rolecall credentials again; pass --base-profile with the partner workload's own credentials")
	}
	os.Setenv(inCredentialProcess, "1")
	return func() { os.Unsetenv(inCredentialProcess) }, nil
}

// apiOptions are the flags every workload command shares.
type apiOptions struct {
	api         string
	workload    string
	baseProfile string
}

func (o *apiOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.api, "api", os.Getenv("ROLECALL_API"), "RoleCall API base URL (default $ROLECALL_API), e.g. the stack's ApiUrl or http://127.0.0.1:8080 for serve")
	f.StringVar(&o.baseProfile, "base-profile", "", "AWS profile of the base credentials (default: the default credential chain; a rolecall-* AWS_PROFILE is ignored)")
}

// awsConfig loads the base credentials: the default credential chain, but
// never through one of the profiles `rolecall profiles` writes (their
// credential_process is this command).
func (o *apiOptions) awsConfig(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if o.baseProfile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.baseProfile))
	} else {
		// A rolecall profile named by the environment is the one whose
		// credential_process this is: it is unset, so the chain goes on
		// as without it (another profile the environment names, keys in
		// the environment, the container's or the instance's role), not
		// pinned to a [default] profile that may not exist.
		for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
			if strings.HasPrefix(os.Getenv(v), profilePrefix) {
				_ = os.Unsetenv(v)
			}
		}
	}
	// No Region is made up here: without one configured, each
	// connection's calls go to the default Region of its partition, which
	// only RoleCall's answer tells (connRegion; access does the same).
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	return cfg, nil
}

// client is the RoleCall API, authorized as the ops commands' --auth auto
// decides (authMode): SigV4 with the base credentials for a deployed
// API's execute-api host, whose AWS_IAM routes would refuse serve's token
// (so it never leaves the machine), else the ops token of serve from
// ROLECALL_OPS_TOKEN when set, else SigV4.
func (o *apiOptions) client(cfg aws.Config) (*access.API, error) {
	if o.api == "" {
		return nil, errors.New("no RoleCall API: pass --api URL or set ROLECALL_API")
	}
	u, err := apiURL(o.api)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("ROLECALL_OPS_TOKEN")
	mode, err := authMode("auto", token, u.Hostname())
	if err != nil {
		return nil, err
	}
	api := &access.API{BaseURL: o.api, Auth: access.BearerToken(token)}
	if mode == "sigv4" {
		// An execute-api host names its Region. Any other (a custom
		// domain) is signed for the configured Region, else for
		// us-east-1: nothing tells the API's partition before it
		// answers.
		api.Auth = access.SigV4{Credentials: cfg.Credentials, Region: cmp.Or(signingRegion("", u.Hostname(), cfg.Region), rolearn.DefaultRegion("aws"))}
	}
	return api, nil
}

// workloadBody is what a workload command does with the base AWS
// configuration and the RoleCall API client.
type workloadBody func(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API) error

// run is the RunE of a workload command: inside the credential_process
// recursion guard it loads the base credentials and the RoleCall API
// client and runs body. An error is printed to stderr as
// "rolecall <name>: " and its first line, and the process exits 1.
func (o *apiOptions) run(name string, body workloadBody) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := o.runGuarded(cmd, body); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "rolecall "+name+":", errorLine(err))
			return exitCode(1)
		}
		return nil
	}
}

func (o *apiOptions) runGuarded(cmd *cobra.Command, body workloadBody) error {
	restore, err := guardRecursion()
	if err != nil {
		return err
	}
	defer restore()
	cfg, err := o.awsConfig(cmd.Context())
	if err != nil {
		return err
	}
	api, err := o.client(cfg)
	if err != nil {
		return err
	}
	return body(cmd.Context(), cmd, cfg, api)
}

// verifiedOptions are the flags of the workload commands that cover the
// VERIFIED connections of one tenant or of all (profiles, terraform).
type verifiedOptions struct {
	apiOptions
	tenant string
	region string
}

func (o *verifiedOptions) flags(cmd *cobra.Command, regionUsage string) {
	o.apiOptions.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "only this tenant's connections (default: every tenant's)")
	f.StringVar(&o.region, "region", "", regionUsage)
}

// regionalConnection is a VERIFIED connection and the Region its
// profile or provider names.
type regionalConnection struct {
	access.Connection
	Region string
}

// verified lists the VERIFIED connections of --tenant (or of every
// tenant), in the order of verifiedConnections, each with its Region
// (connRegion), which the listing's partition fields settle.
func (o verifiedOptions) verified(ctx context.Context, cfg aws.Config, api *access.API) ([]regionalConnection, error) {
	conns, err := verifiedConnections(ctx, api, o.tenant)
	if err != nil {
		return nil, err
	}
	out := make([]regionalConnection, 0, len(conns))
	for _, c := range conns {
		region, err := connRegion(o.region, cfg.Region, c)
		if err != nil {
			return nil, err
		}
		out = append(out, regionalConnection{Connection: c, Region: region})
	}
	return out, nil
}

// connRegion is the Region of a connection's profile or provider: flag
// (--region), else the AWS configuration's, else the default Region of
// the access role's partition (else of the connection's partition), as
// access settles it for `rolecall credentials`: the partition whose STS
// issues the sessions and holds the customer's role. A Region of another
// partition is refused: every call there would be.
func connRegion(flag, configured string, c access.Connection) (string, error) {
	partition := rolearn.PartitionOr(c.AccessRoleARN, cmp.Or(c.Partition, "aws"))
	region, from := flag, "--region"
	if region == "" {
		region, from = configured, "the AWS configuration's Region"
	}
	if region == "" {
		return rolearn.DefaultRegion(partition), nil
	}
	if !rolearn.IsRegionOf(region, partition) {
		return "", fmt.Errorf("%s %q is not a Region of the partition %s of %s/%s (its access role is %s): pass --region with one of %s, such as %s",
			from, region, partition, c.TenantID, c.AccountID, c.AccessRoleARN, partition, rolearn.DefaultRegion(partition))
	}
	return region, nil
}

// credentialProcessOutput is the AWS credential_process format.
type credentialProcessOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// The customer sessions `rolecall credentials` prints last from
// minCredentialsDuration to maxCredentialsDuration. The longest is STS's
// limit under role chaining (the base credentials' session of the access
// role assumes the customer's role). The shortest leaves a session in use
// for at least 10 minutes: the printed Expiration is up to 5 minutes
// early (access.ExpiryWindow), and the AWS CLI and boto3 run the process
// again from 15 minutes before it, on every call; STS's own minimum,
// 15 minutes, would run it, and assume two roles, on every call.
const (
	minCredentialsDuration = 30 * time.Minute
	maxCredentialsDuration = access.DefaultDuration
)

type credentialsOptions struct {
	apiOptions
	tenant, account string
	duration        time.Duration
}

func newCredentialsCmd() *cobra.Command {
	var o credentialsOptions
	cmd := &cobra.Command{
		Use:   "credentials --tenant T --account A [--api URL]",
		Short: "Print credentials of a VERIFIED connection in the AWS credential_process format",
		Long: `credentials prints temporary credentials of one customer connection, as the JSON the AWS
credential_process setting reads (Version 1, AccessKeyId, SecretAccessKey, SessionToken,
Expiration). The base credentials (the default AWS credential chain) assume the partner
access role, whose session assumes the customer's role with the tenant's external ID.

Only VERIFIED connections are handed out: otherwise it prints a one-line reason to
stderr and exits 1. When the customer's role denies access, RoleCall is asked to
re-check the connection. The RoleCall API comes from --api or ROLECALL_API, authorized
with SigV4 for an execute-api URL (the deployed API), else with ROLECALL_OPS_TOKEN
(serve) when it is set, else with SigV4. The credentials are
printed to stdout only; nothing is logged.`,
		Example: `  rolecall credentials --tenant acme --account 111111111111 --api https://abc123.execute-api.eu-west-1.amazonaws.com
  # in ~/.aws/config (rolecall profiles writes this):
  [profile rolecall-acme-111111111111]
  credential_process = rolecall credentials --tenant acme --api https://… --account 111111111111`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.tenant == "" || o.account == "" {
				return usageExit(cmd, errors.New("--tenant and --account are required"))
			}
			if o.duration < minCredentialsDuration || o.duration > maxCredentialsDuration {
				return usageExit(cmd, fmt.Errorf("--duration %v: want from %v to %v (the AWS CLI and boto3 run credential_process again from 15 minutes before the credentials expire, and a session assumed through the access role lasts at most one hour)",
					o.duration, minCredentialsDuration, maxCredentialsDuration))
			}
			return o.run("credentials", func(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API) error {
				return printCredentials(ctx, cmd, cfg, api, o)
			})(cmd, args)
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "tenant ID")
	f.StringVar(&o.account, "account", "", "the customer's AWS account ID")
	f.StringVar(&o.workload, "workload", "rolecall-cli", "names the session in the customer's CloudTrail: <workload>-<tenant>")
	f.DurationVar(&o.duration, "duration", access.DefaultDuration, "session duration, from 30m (the AWS CLI and boto3 refresh from 15 minutes before expiry) to 1h (role chaining's maximum)")
	return cmd
}

func printCredentials(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API, o credentialsOptions) error {
	c := access.New(cfg, api, access.Options{Workload: o.workload, Duration: o.duration})
	creds, err := c.Credentials(o.tenant, o.account).Retrieve(ctx)
	if err != nil {
		return err
	}
	out := credentialProcessOutput{Version: 1, AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
	if creds.CanExpire {
		out.Expiration = creds.Expires.UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

// errorLine keeps the first line of an error's text, shown (shown): it
// may quote a service's answer.
func errorLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return shown(s)
}
