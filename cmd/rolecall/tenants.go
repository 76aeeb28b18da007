package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/opsapi"
)

func newTenantsCmd() *cobra.Command {
	o := &opsOptions{}
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Create, list and show tenants (the partner's customer organisations)",
		Long: `tenants creates, lists and shows tenants through the ops API of rolecall serve
or of a deployed stack. Listings never show a tenant's external ID or invite codes:
the external ID is printed once, when the tenant is created (and at each rotation).`,
	}
	addOpsFlags(cmd, o)
	var name string
	var maxConns int
	create := &cobra.Command{
		Use:   "create ID [--name N] [--max-connections K]",
		Short: "Create a tenant; prints its generated external ID",
		Example: `  rolecall tenants create acme --name "Acme Corp"
  rolecall --stack rolecall-prod tenants create globex --max-connections 20`,
		Args: cobra.ExactArgs(1),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			if maxConns < 0 {
				return usagef("--max-connections must not be negative")
			}
			n := name
			if n == "" {
				n = args[0]
			}
			t, raw, err := c.CreateTenant(ctx, args[0], n, maxConns)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return tenantDetail(cmd, t)
		}),
	}
	create.Flags().StringVar(&name, "name", "", "display name (default: the ID)")
	create.Flags().IntVar(&maxConns, "max-connections", 0, "most live connections the tenant may have (default: the deployment's)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every tenant",
		Args:  cobra.NoArgs,
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			ts, raws, err := c.Tenants(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return listJSON(cmd.OutOrStdout(), "tenants", raws)
			}
			tw := newTable(cmd.OutOrStdout(), "TENANT", "NAME", "EXTERNAL ID VERSION", "CREATED", "ROTATED")
			for _, t := range ts {
				tw.AppendRow([]any{t.TenantID, t.Name, t.ExternalIDVersion, when(t.CreatedAt), when(t.RotatedAt)})
			}
			tw.Render()
			fmt.Fprintf(cmd.ErrOrStderr(), "%d tenants\n", len(ts))
			return nil
		}),
	}

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show one tenant",
		Args:  cobra.ExactArgs(1),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			t, raw, err := c.Tenant(ctx, args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return tenantDetail(cmd, t)
		}),
	}
	cmd.AddCommand(create, list, get)
	return cmd
}

// tenantDetail prints one tenant as a two-column table.
func tenantDetail(cmd *cobra.Command, t opsapi.Tenant) error {
	tw := newTable(cmd.OutOrStdout(), "FIELD", "VALUE")
	tw.AppendRow([]any{"Tenant", t.TenantID})
	tw.AppendRow([]any{"Name", t.Name})
	if t.ExternalID != "" {
		tw.AppendRow([]any{"External ID", t.ExternalID})
	}
	tw.AppendRow([]any{"External ID version", t.ExternalIDVersion})
	tw.AppendRow([]any{"Created", when(t.CreatedAt)})
	tw.AppendRow([]any{"Rotated", when(t.RotatedAt)})
	tw.Render()
	return nil
}

func newInvitesCmd() *cobra.Command {
	o := &opsOptions{}
	cmd := &cobra.Command{
		Use:   "invites",
		Short: "Create, list and revoke a tenant's invite links",
	}
	addOpsFlags(cmd, o)
	var ttl time.Duration
	create := &cobra.Command{
		Use:     "create TENANT [--ttl 1h]",
		Short:   "Create an invite link; prints its URL (shown once)",
		Example: "  rolecall invites create acme --ttl 24h",
		Args:    cobra.ExactArgs(1),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			if ttl < 0 || (ttl > 0 && ttl < time.Second) {
				return usagef("--ttl must be at least 1s")
			}
			inv, raw, err := c.CreateInvite(ctx, args[0], ttl)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			tw := newTable(cmd.OutOrStdout(), "FIELD", "VALUE")
			tw.AppendRow([]any{"Tenant", args[0]})
			tw.AppendRow([]any{"Invite", orDash(inv.InviteID)})
			tw.AppendRow([]any{"URL", orDash(inv.URL)})
			tw.AppendRow([]any{"Expires", when(inv.ExpiresAt)})
			tw.Render()
			return nil
		}),
	}
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the link works (default: the deployment's, 7 days)")

	list := &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's invites (never their codes)",
		Args:  cobra.ExactArgs(1),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			invs, raws, err := c.Invites(ctx, args[0])
			if err != nil {
				return err
			}
			if o.json {
				return listJSON(cmd.OutOrStdout(), "invites", raws)
			}
			tw := newTable(cmd.OutOrStdout(), "INVITE", "CREATED", "EXPIRES", "STATE")
			for _, inv := range invs {
				state := "active"
				switch {
				case inv.Revoked:
					state = "revoked"
				case !inv.ExpiresAt.IsZero() && !inv.ExpiresAt.After(time.Now()):
					state = "expired"
				}
				tw.AppendRow([]any{inv.InviteID, when(inv.CreatedAt), when(inv.ExpiresAt), state})
			}
			tw.Render()
			return nil
		}),
	}

	revoke := &cobra.Command{
		Use:   "revoke TENANT INVITE_ID",
		Short: "Revoke an invite: its link stops working at once",
		Args:  cobra.ExactArgs(2),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			raw, err := c.RevokeInvite(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Invite %s of tenant %s revoked.\n", args[1], args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newExternalIDCmd() *cobra.Command {
	o := &opsOptions{}
	cmd := &cobra.Command{
		Use:   "external-id",
		Short: "Rotate a tenant's external ID",
	}
	addOpsFlags(cmd, o)
	var grace time.Duration
	var revokeInvites bool
	rotate := &cobra.Command{
		Use:   "rotate TENANT [--grace 168h] [--revoke-invites]",
		Short: "Give the tenant a new external ID; the previous one stays accepted for the grace period",
		Long: `rotate makes a new external ID current at once; the previous one stays accepted for
--grace (default: the deployment's, 7 days) so the customer can update the role's trust
policy without an outage. --grace 0 retires the previous ID at once. --revoke-invites
also revokes the tenant's open invite links. Prints the new external ID.`,
		Example: "  rolecall external-id rotate acme --grace 72h --revoke-invites",
		Args:    cobra.ExactArgs(1),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			g := time.Duration(-1)
			if cmd.Flags().Changed("grace") {
				if grace < 0 {
					return usagef("--grace must not be negative")
				}
				g = grace
			}
			t, raw, err := c.Rotate(ctx, args[0], g, revokeInvites)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if err := tenantDetail(cmd, t); err != nil {
				return err
			}
			if g >= 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "The previous external ID stays accepted for %s.\n", g)
			}
			return nil
		}),
	}
	rotate.Flags().DurationVar(&grace, "grace", 7*24*time.Hour, "how long the previous external ID stays accepted")
	rotate.Flags().BoolVar(&revokeInvites, "revoke-invites", false, "also revoke the tenant's open invites")
	cmd.AddCommand(rotate)
	return cmd
}
