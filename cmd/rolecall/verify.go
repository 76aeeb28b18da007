package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

// verifyTenant is the tenant the verify command's session names carry, so
// the customer sees "rolecall-verify-…" in CloudTrail.
const verifyTenant = "verify"

// verifyStepSyntax is the first step of a verification: the ARN is a role ARN.
const verifyStepSyntax = "role ARN syntax"

type verifyOptions struct {
	roleARN        string
	externalID     string
	externalIDFile string
	previousID     string
	previousIDFile string
	region         string
	sandboxFile    string
	partnerAccount string
	accessRoleARN  string
	json           bool
	timeout        time.Duration
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:                   "verify --role-arn ARN (--external-id-file FILE|- | --external-id ID) [--access-role-arn ARN] [--previous-external-id-file FILE|- | --previous-external-id ID] [--region R] [--sandbox-file roles.json] [--json] [--partner-account ID]",
		Short:                 "Check one customer role now, exactly as the pipeline does",
		DisableFlagsInUseLine: true,
		Long: `verify runs RoleCall's check on one role: the ARN's syntax, then three sts:AssumeRole
calls at once: with the external ID, WITHOUT an external ID, and with a random decoy
of the external ID's shape (both of which must be denied), and the session's account.
An external ID RoleCall did not generate gets a decoy that keeps all of it but its last
run of letters and digits (acme- and three random digits for acme-123), so that a
wildcard such as StringLike "acme-*" is caught, and a second decoy of RoleCall's own
shape besides (one more call), so that StringLike "rc-*" is still caught. With
--previous-external-id (a rotation's grace period), the previous ID is tried when the
current one is denied, as the pipeline does. It prints each step with its latency,
code and the hint for the customer. Exit status: 0 when the role would be VERIFIED, 1
when not, 2 for usage errors.

The external ID is a secret, and a flag's value shows in the process list (ps) to
every user of the machine: give it with --external-id-file FILE (the file's one line;
- reads a line from stdin) or in the environment as ROLECALL_EXTERNAL_ID, used when
neither flag is given. The previous one likewise: --previous-external-id-file or
ROLECALL_PREVIOUS_EXTERNAL_ID.

Credentials come from the default AWS credential chain (environment, shared config
and profiles, SSO, container and instance roles). Customer roles trust only the
partner access role (rolecall-<stage>-access, the stack output TrustedPrincipalArn),
so pass it with --access-role-arn: verify then assumes the access role with those
credentials and checks the customer role from that session, exactly as the verify
function does (the credentials must be a principal the access role trusts: one of the
stack's WorkloadPrincipalArns). Without --access-role-arn the credentials themselves
assume the customer role, which a deployment's customer roles refuse.

With --sandbox-file it runs against an in-process sandbox STS instead, with no AWS at
all; the file's callerPrincipalArn is the principal that assumes the customer roles
(the access role, as in a deployment). The file is JSON:

  {
    "callerPrincipalArn": "arn:aws:iam::111122223333:role/rolecall-prod-access",
    "roles": {
      "arn:aws:iam::210987654321:role/RoleCallAccess": { <trust policy document> }
    }
  }

See infra/sandbox-roles.example.json.`,
		Example: `  rolecall verify --access-role-arn arn:aws:iam::111122223333:role/rolecall-prod-access \
    --role-arn arn:aws:iam::210987654321:role/RoleCallAccess --external-id-file - < external-id.txt
  rolecall verify --sandbox-file infra/sandbox-roles.example.json \
    --role-arn arn:aws:iam::210987654321:role/RoleCallAccess \
    --external-id rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageExit(cmd, fmt.Errorf("unexpected argument %q; pass the role with --role-arn", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.roleARN, "role-arn", "", "the customer role's ARN (required)")
	f.StringVar(&o.externalID, "external-id", "", "the tenant's external ID (required, or --external-id-file, or $"+externalIDEnv+"; a flag's value shows in ps)")
	f.StringVar(&o.externalIDFile, "external-id-file", "", "read the tenant's external ID from this file's one line (- for stdin)")
	f.StringVar(&o.previousID, "previous-external-id", "", "the tenant's previous external ID, during a rotation's grace period (or --previous-external-id-file, or $"+previousExternalIDEnv+")")
	f.StringVar(&o.previousIDFile, "previous-external-id-file", "", "read the tenant's previous external ID from this file's one line (- for stdin)")
	f.StringVar(&o.region, "region", "", "STS region (default: from the AWS config, else the default Region of the partition of --access-role-arn, else of --role-arn, or with --sandbox-file of the caller: us-east-1 in aws)")
	f.StringVar(&o.sandboxFile, "sandbox-file", "", "run against a sandbox STS loaded from this JSON file instead of AWS")
	f.StringVar(&o.accessRoleARN, "access-role-arn", "", "the partner access role (stack output TrustedPrincipalArn): check through a session of it, as the verify function does")
	f.StringVar(&o.partnerAccount, "partner-account", "", "the partner's own account ID, refused as a customer account (default: the access role's, or with --sandbox-file the caller's)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "time budget for the whole check")
	cmd.SetFlagErrorFunc(usageExit)
	return cmd
}

// verifyStep is one line of the report.
type verifyStep struct {
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	Skipped   bool    `json:"skipped,omitempty"`
	LatencyMs float64 `json:"latencyMs"`
	Code      string  `json:"code,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	// Hint is the reason's hint, on the steps that decided a failure.
	Hint string `json:"hint,omitempty"`
}

// verifyReport is what verify prints; its JSON form is the --json output.
type verifyReport struct {
	RoleARN            string `json:"roleArn"`
	ExternalID         string `json:"externalId"`                   // masked
	PreviousExternalID string `json:"previousExternalId,omitempty"` // masked
	Mode               string `json:"mode"`                         // "aws" or "sandbox"
	// AccessRoleARN: the access role whose session assumed the role.
	AccessRoleARN string `json:"accessRoleArn,omitempty"`
	Region        string `json:"region"`
	Verified      bool   `json:"verified"`
	// ExternalIDCurrent: the current external ID assumed the role (false
	// when only the previous one did, or none).
	ExternalIDCurrent bool              `json:"externalIdCurrent"`
	Result            string            `json:"result"`
	Reason            connection.Reason `json:"reason"`
	Steps             []verifyStep      `json:"steps"`
}

// verifyCheckSteps are the check's steps that every report lists (the
// previous external ID's step only when it was tried).
var verifyCheckSteps = []string{probe.StepAssume, probe.StepAccount, probe.StepWithoutExtID, probe.StepDecoyExtID}

func runVerify(cmd *cobra.Command, o verifyOptions) error {
	switch {
	case o.roleARN == "":
		return usageExit(cmd, errors.New("--role-arn is required"))
	case o.timeout <= 0:
		return usageExit(cmd, errors.New("--timeout must be positive"))
	}
	if err := o.takeExternalIDs(cmd.InOrStdin()); err != nil {
		var usage *externalIDUsageError
		if errors.As(err, &usage) {
			return usageExit(cmd, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
		return exitCode(2)
	}
	if o.partnerAccount != "" && !rolearn.IsAccountID(o.partnerAccount) {
		return usageExit(cmd, errors.New("--partner-account must be a 12-digit account ID"))
	}
	if o.accessRoleARN != "" {
		if o.sandboxFile != "" {
			return usageExit(cmd, errors.New("--access-role-arn is for AWS; with --sandbox-file, the file's callerPrincipalArn is the principal that checks"))
		}
		p, err := rolearn.ParsePrincipal(o.accessRoleARN)
		if err != nil || p.Kind != rolearn.KindRole {
			return usageExit(cmd, fmt.Errorf("--access-role-arn %q is not a role ARN (arn:aws:iam::<account-id>:role/rolecall-<stage>-access)", o.accessRoleARN))
		}
		if o.region != "" && !rolearn.IsRegionOf(o.region, p.Partition) {
			// STS there would refuse the access role's session.
			return usageExit(cmd, fmt.Errorf("--region %q is not a Region of the access role's partition %s", o.region, p.Partition))
		}
		if o.partnerAccount == "" {
			o.partnerAccount = rolearn.Account(o.accessRoleARN)
		}
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}

	rep := verifyReport{RoleARN: o.roleARN, ExternalID: tenant.MaskExternalID(o.externalID)}
	if o.previousID != "" {
		rep.PreviousExternalID = tenant.MaskExternalID(o.previousID)
	}
	var (
		assumer   probe.Assumer
		partition string
	)
	if o.sandboxFile != "" {
		rep.Mode = "sandbox"
		// No --region: the caller's partition's default Region.
		sb, caller, err := verifyLoadSandbox(o.sandboxFile, o.region)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Error: --sandbox-file: %v\n", err)
			return exitCode(2)
		}
		rep.Region = sb.Region()
		assumer, partition = sb.Assumer(caller), sb.Partition()
		if o.partnerAccount == "" {
			o.partnerAccount = rolearn.Account(caller)
		}
	} else {
		rep.Mode, rep.AccessRoleARN = "aws", o.accessRoleARN
		var opts []func(*config.LoadOptions) error
		if o.region != "" {
			opts = append(opts, config.WithRegion(o.region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		// No Region configured: the default Region of the access role's
		// partition (else the customer role's): another partition's STS
		// would take no credentials of it, and the role would be
		// WRONG_PARTITION.
		if err == nil && cfg.Region == "" {
			cfg.Region = rolearn.DefaultRegion(rolearn.PartitionOr(cmp.Or(o.accessRoleARN, o.roleARN), "aws"))
		}
		if accessPartition := rolearn.Partition(o.accessRoleARN); err == nil && o.accessRoleARN != "" && !rolearn.IsRegionOf(cfg.Region, accessPartition) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Error: the AWS config's Region %q is not a Region of the access role's partition %s; set --region\n", cfg.Region, accessPartition)
			return exitCode(2)
		}
		if err == nil {
			_, err = cfg.Credentials.Retrieve(ctx)
		}
		// The STS port app builds for the verify Lambda's checker (the
		// Region's endpoint, retries the checker's alone): through a
		// session of the access role, as the Lambda's, or signed with the
		// caller's own credentials without one. It fails only without a
		// Region, set above.
		var c app.Components
		if err == nil {
			c, err = verifySTS(ctx, cfg, o.accessRoleARN, o.timeout)
		}
		var refused *verifyAccessRoleError
		switch {
		case errors.As(err, &refused):
			// The first line of an error only (as report prints): STS's
			// refusal of a signature goes on with the canonical request,
			// whose signed headers hold the caller's session token.
			fmt.Fprintf(cmd.ErrOrStderr(), "rolecall verify: %s\n"+
				"Run verify as a principal the access role trusts (one of the stack's WorkloadPrincipalArns), or check --access-role-arn (the stack output TrustedPrincipalArn).\n", errorLine(err))
			return exitCode(1)
		case err != nil:
			fmt.Fprintf(cmd.ErrOrStderr(), "rolecall verify: no usable AWS credentials: %s\n"+
				"Configure the default credential chain (AWS_PROFILE, environment variables, `aws sso login`, or an instance/container role), or use --sandbox-file.\n", errorLine(err))
			return exitCode(1)
		}
		rep.Region = cfg.Region
		assumer = c.STS
		partition = rolearn.PartitionOfRegion(cfg.Region)
	}

	arn, err := rolearn.Parse(o.roleARN, app.Rules(partition, o.partnerAccount))
	if err != nil {
		var re *rolearn.Error
		errors.As(err, &re)
		rep.Result = re.Code
		rep.Reason = connection.Reason{Code: re.Code, Message: re.Message,
			Hint: "Paste the ARN of the role itself, as shown in the stack's RoleArn output or in the IAM console (arn:" + verifyOrDefault(partition, "aws") + ":iam::<account-id>:role/<name>)."}
		rep.Steps = append(rep.Steps, verifyStep{Name: verifyStepSyntax, Code: re.Code, Detail: re.Message})
		rep.Steps[0].Hint = rep.Reason.Hint
		rep.Steps = append(rep.Steps, verifySkipped(verifyCheckSteps...)...)
		return verifyPrint(cmd, o, rep)
	}
	rep.RoleARN = arn.String()
	rep.Steps = append(rep.Steps, verifyStep{Name: verifyStepSyntax, OK: true})

	// The verify Lambda's checker (app.Checker, as app.NewChecker builds
	// it), within the command's time budget.
	checker := app.Checker(app.Components{STS: assumer, Log: slog.New(slog.DiscardHandler)}, app.Verify{})
	checker.Budget = o.timeout
	res := checker.Check(ctx, probe.Request{
		TenantID:           verifyTenant,
		AccountID:          arn.Account,
		RoleARN:            arn.String(),
		ExternalID:         o.externalID,
		PreviousExternalID: o.previousID,
	})
	rep.Result = string(res.Outcome.Result)
	rep.Verified = res.Outcome.Result == connection.ResultOK
	rep.ExternalIDCurrent = res.Outcome.ExternalIDCurrent
	switch res.Outcome.Result {
	case connection.ResultOK:
		rep.Reason = connection.Reason{Code: connection.CodeVerified,
			Message: "RoleCall assumed the role with your external ID, and the role refuses to be assumed without an external ID or with another one."}
		if !res.Outcome.ExternalIDCurrent {
			rep.Reason.Message = "RoleCall assumed the role only with the previous external ID, and the role refuses to be assumed without an external ID or with another one."
			rep.Reason.Hint = "The external ID was rotated: add the new one to the role's trust policy (StringEquals can list both until the grace period ends), then remove the previous one."
		}
	case connection.ResultTransient:
		rep.Reason = verifyTransientReason(res.Outcome.Detail)
	default:
		rep.Reason = connection.ReasonFor(res.Outcome.Result, res.Outcome.Detail)
	}
	ran := map[string]verifyStep{}
	var previous *verifyStep
	for _, s := range res.Steps {
		st := verifyStep{Name: s.Name, OK: s.OK, LatencyMs: verifyMs(s.Latency), Code: s.Code, Detail: s.Detail}
		if s.Decisive {
			st.Hint = rep.Reason.Hint
		}
		if s.Name == probe.StepPrevious {
			previous = &st
		}
		ran[s.Name] = st
	}
	for _, name := range verifyCheckSteps {
		st, ok := ran[name]
		if !ok {
			st = verifySkipped(name)[0]
		}
		rep.Steps = append(rep.Steps, st)
		if name == probe.StepAssume && previous != nil {
			rep.Steps = append(rep.Steps, *previous)
		}
	}
	return verifyPrint(cmd, o, rep)
}

// verifySTS is the checker's STS port over cfg: through a session of
// accessRole (app.AccessRoleSTS, the verify Lambda's) when one is given,
// else signed with cfg's credentials (app.CallerSTS). The access role is
// assumed once first, within timeout, so that credentials it refuses are
// reported as the partner's problem (a *verifyAccessRoleError), never as a
// customer role that denies.
func verifySTS(ctx context.Context, cfg aws.Config, accessRole string, timeout time.Duration) (app.Components, error) {
	log := slog.New(slog.DiscardHandler)
	if accessRole == "" {
		return app.AWSComponents(cfg, app.Resources{}, log, app.CallerSTS)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := access.ThroughAccessRole(cfg, accessRole, app.VerifierSession).Credentials.Retrieve(ctx); err != nil {
		return app.Components{}, &verifyAccessRoleError{role: accessRole, err: err}
	}
	return app.AWSComponents(cfg, app.Resources{AccessRoleARN: accessRole}, log, app.AccessRoleSTS)
}

// verifyAccessRoleError: the caller's credentials could not assume the
// access role.
type verifyAccessRoleError struct {
	role string
	err  error
}

func (e *verifyAccessRoleError) Error() string {
	return "cannot assume the access role " + e.role + ": " + e.err.Error()
}

func (e *verifyAccessRoleError) Unwrap() error { return e.err }

// verifyTransientReason explains a check that ended on a transient error: not the
// customer's fault, and the pipeline would retry it.
func verifyTransientReason(code string) connection.Reason {
	r := connection.Reason{Code: string(connection.ResultTransient),
		Message: "The check did not complete: STS answered " + verifyOrDefault(code, "with an error") + ". The pipeline would retry; this says nothing about the role yet."}
	switch code {
	case "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "UnrecognizedClientException", "MissingAuthenticationToken":
		r.Hint = "The partner's AWS credentials were refused: refresh them (e.g. `aws sso login`) and run verify again."
	default:
		r.Hint = "Run verify again in a moment."
	}
	return r
}

func verifySkipped(names ...string) []verifyStep {
	out := make([]verifyStep, 0, len(names))
	for _, n := range names {
		out = append(out, verifyStep{Name: n, Skipped: true})
	}
	return out
}

func verifyMs(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// verifyPrint prints the report and returns the exit status: nil (0) when
// verified, exitCode(1) otherwise.
func verifyPrint(cmd *cobra.Command, o verifyOptions, rep verifyReport) error {
	w := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		previous := ""
		if rep.PreviousExternalID != "" {
			previous = ", previous " + rep.PreviousExternalID
		}
		through := ""
		if rep.AccessRoleARN != "" {
			through = ", through " + rep.AccessRoleARN
		}
		fmt.Fprintf(w, "Verifying %s with external ID %s%s (%s, %s%s)\n\n", rep.RoleARN, rep.ExternalID, previous, rep.Mode, rep.Region, through)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range rep.Steps {
			mark, latency := "✓", ""
			switch {
			case s.Skipped:
				mark = "-"
			case !s.OK:
				mark = "✗"
			}
			switch {
			case s.LatencyMs >= 1:
				latency = fmt.Sprintf("%.1fms", s.LatencyMs)
			case s.LatencyMs > 0:
				latency = fmt.Sprintf("%.2fms", s.LatencyMs)
			}
			note := s.Code
			switch {
			case s.Skipped:
				note = "not run"
			case s.Detail != "" && s.Name == probe.StepAccount:
				note = strings.TrimSpace(s.Detail + " " + s.Code)
			case s.Detail != "":
				note = s.Code + ": " + s.Detail
			}
			fmt.Fprintf(tw, "  %s %s\t%s\t%s\n", mark, s.Name, latency, shown(note))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Fprintln(w)
		if rep.Verified {
			fmt.Fprintf(w, "VERIFIED: %s\n", shown(rep.Reason.Message))
		} else {
			fmt.Fprintf(w, "NOT VERIFIED (%s): %s\n", shown(rep.Reason.Code), shown(rep.Reason.Message))
		}
		if rep.Reason.Hint != "" {
			fmt.Fprintf(w, "Hint: %s\n", shown(rep.Reason.Hint))
		}
	}
	if !rep.Verified {
		return exitCode(1)
	}
	return nil
}

func verifyOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
