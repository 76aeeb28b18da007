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

Terraform's own credentials must be a principal the access role trusts (the stack's
WorkloadPrincipalArns). The output carries external IDs: keep it out of logs.`,
		Example: `  rolecall terraform --tenant acme > providers.tf
  # then: resource "aws_s3_bucket" "x" { provider = aws.acme_111111111111 … }`,
		Args: cobra.NoArgs,
		RunE: o.run("terraform", func(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API) error {
			return printProviders(ctx, cmd, cfg, api, o)
		}),
	}
	o.flags(cmd, "region of each provider (default: the base configuration's region)")
	cmd.Flags().StringVar(&o.workload, "workload", "terraform", "names the sessions in the customer's CloudTrail: <workload>-<tenant>")
	return cmd
}

func printProviders(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API, o verifiedOptions) error {
	refs, region, err := o.verified(ctx, cfg, api)
	if err != nil {
		return err
	}
	// One listing per tenant gives every connection's external ID.
	byTenant := map[string][]access.Connection{}
	for _, r := range refs {
		if _, done := byTenant[r.TenantID]; done {
			continue
		}
		conns, err := api.AllConnections(ctx, r.TenantID)
		if err != nil {
			return err
		}
		byTenant[r.TenantID] = conns
	}
	w := cmd.OutOrStdout()
	n := 0
	for _, r := range refs {
		for _, c := range byTenant[r.TenantID] {
			if c.AccountID != r.AccountID {
				continue
			}
			if n > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprint(w, providerBlock(c, region, o.workload))
			n++
		}
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

// terraformAlias is a provider alias: letters, digits and underscores,
// starting with a letter.
func terraformAlias(tenantID, accountID string) string {
	var b strings.Builder
	for _, r := range tenantID + "_" + accountID {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		s = "t_" + s
	}
	return s
}
