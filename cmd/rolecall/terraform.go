package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/rolesetup"
)

func newTerraformCmd() *cobra.Command {
	var o verifiedOptions
	cmd := &cobra.Command{
		Use:   "terraform [--tenant T] [--api URL]",
		Short: "Print an aliased Terraform provider \"aws\" block per VERIFIED connection",
		Long: `terraform prints one aliased provider "aws" block per VERIFIED connection (of one tenant,
or of all): the form partners' Terraform runbooks use to provision into customer
accounts. Each block chains two assume_role blocks (hashicorp/aws 5.68 and later assume
them in order): the partner access role first, then the customer's role with the
tenant's external ID and a session name naming Terraform and the tenant.

Each alias is <tenant>_<account>, distinct for every connection: the tenant ID keeps
its letters, digits and '-', writes '_' as "__" and '.' as "_d", and gets the prefix
"_t" when it starts with a digit or '-' (a.b -> a_db_<account>, 9lives -> _t9lives_<account>).

Terraform's own credentials must be a principal the access role trusts (the stack's
WorkloadPrincipalArns). The output carries external IDs: keep it out of logs.`,
		Example: `  rolecall terraform --tenant acme > providers.tf
  # then: resource "aws_s3_bucket" "x" { provider = aws.acme_111111111111 … }`,
		Args: cobra.NoArgs,
		RunE: o.run("terraform", func(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API) error {
			return printProviders(ctx, cmd, cfg, api, o)
		}),
	}
	o.flags(cmd, "region of each provider (default: the base configuration's region, else the default Region of the connection's partition: us-east-1 in aws, cn-north-1 in aws-cn, ...)")
	cmd.Flags().StringVar(&o.workload, "workload", "terraform", "names the sessions in the customer's CloudTrail: <workload>-<tenant>")
	return cmd
}

func printProviders(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API, o verifiedOptions) error {
	conns, err := o.verified(ctx, cfg, api)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	for i, c := range conns {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, providerBlock(c.Connection, c.Region, o.workload))
	}
	return nil
}

// providerBlock renders one aliased provider for a connection.
func providerBlock(c access.Connection, region, workload string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: tenant %s, account %s (verified %s)\n", profileName(c.TenantID, c.AccountID), c.TenantID, c.AccountID, c.VerifiedAt.UTC().Format("2006-01-02"))
	b.WriteString("provider \"aws\" {\n")
	b.WriteString("  alias  = " + rolesetup.HCLString(terraformAlias(c.TenantID, c.AccountID)) + "\n")
	if region != "" {
		b.WriteString("  region = " + rolesetup.HCLString(region) + "\n")
	}
	b.WriteString("\n  # Role chaining: the partner access role, then the customer's role.\n")
	b.WriteString("  assume_role {\n")
	b.WriteString("    role_arn     = " + rolesetup.HCLString(c.AccessRoleARN) + "\n")
	b.WriteString("    session_name = " + rolesetup.HCLString(access.SessionName(workload)) + "\n")
	b.WriteString("  }\n")
	b.WriteString("  assume_role {\n")
	b.WriteString("    role_arn     = " + rolesetup.HCLString(c.RoleARN) + "\n")
	b.WriteString("    external_id  = " + rolesetup.HCLString(c.ExternalID) + "\n")
	b.WriteString("    session_name = " + rolesetup.HCLString(access.SessionName(workload+"-"+c.TenantID)) + "\n")
	b.WriteString("  }\n")
	b.WriteString("}\n")
	return b.String()
}

// terraformAlias is a connection's provider alias: a Terraform identifier
// (letters, digits, '_' and '-', starting with a letter or '_'), distinct
// for distinct connections, so that no two providers of one output share
// an alias (Terraform refuses duplicates). The tenant ID (1-64 of
// [A-Za-z0-9._-]) keeps its letters, digits and '-'; '_' is written "__"
// and '.' "_d", so every '_' the tenant part holds starts a two-character
// escape; a tenant ID starting with a digit or '-' gets the prefix "_t",
// which no escape starts with. Then '_' and the 12-digit account ID.
// "acme" in 111111111111 is acme_111111111111, "a.b" a_db_…, "a_b" a__b_…,
// "a-b" a-b_…, "9lives" _t9lives_….
func terraformAlias(tenantID, accountID string) string {
	var b strings.Builder
	if tenantID == "" || tenantID[0] == '-' || tenantID[0] >= '0' && tenantID[0] <= '9' {
		b.WriteString("_t")
	}
	for _, r := range tenantID {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-':
			b.WriteRune(r)
		case r == '_':
			b.WriteString("__")
		case r == '.':
			b.WriteString("_d")
		default:
			// Not in a tenant ID: escaped by its code point, still
			// distinct from every other character.
			fmt.Fprintf(&b, "_u%x_", r)
		}
	}
	b.WriteString("_" + accountID)
	return b.String()
}
