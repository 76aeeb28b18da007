package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/opsapi"
)

func newTenantsCmd() *cobra.Command {
	cmd, o := opsGroup("tenants", "Create, list, show and update tenants (the partner's customer organisations)",
		`tenants creates, lists, shows and updates tenants through the ops API of rolecall serve
or of a deployed stack. Listings never show a tenant's external ID or invite codes:
the external ID is printed once, when the tenant is created (and at each rotation).`)
	var name string
	var maxConns int
	create := opsCommand(o, &cobra.Command{
		Use:   "create ID [--name N] [--max-connections K]",
		Short: "Create a tenant; prints its generated external ID",
		Example: `  rolecall tenants create acme --name "Acme Corp"
  rolecall --stack rolecall-prod tenants create globex --max-connections 20`,
		Args: cobra.ExactArgs(1),
	}, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
		if maxConns < 0 {
			return nil, nil, usagef("--max-connections must not be negative")
		}
		n := name
		if n == "" {
			n = args[0]
		}
		t, raw, err := c.CreateTenant(ctx, args[0], n, maxConns)
		return raw, func() error { return tenantDetail(cmd, t) }, err
	})
	create.Flags().StringVar(&name, "name", "", "display name (default: the ID)")
	create.Flags().IntVar(&maxConns, "max-connections", 0, "most live connections the tenant may have (default: the deployment's)")

	list := opsCommand(o, &cobra.Command{Use: "list", Short: "List every tenant", Args: cobra.NoArgs},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			ts, raws, err := c.Tenants(ctx)
			return listOf("tenants", raws), func() error {
				tw := newTable(cmd.OutOrStdout(), "TENANT", "NAME", "EXTERNAL ID VERSION", "MAX CONNECTIONS", "CREATED", "ROTATED")
				for _, t := range ts {
					tw.AppendRow([]any{t.TenantID, t.Name, t.ExternalIDVersion, t.MaxConnections, when(t.CreatedAt), when(t.RotatedAt)})
				}
				tw.Render()
				fmt.Fprintf(cmd.ErrOrStderr(), "%d tenants\n", len(ts))
				return nil
			}, err
		})

	get := opsCommand(o, &cobra.Command{Use: "get ID", Short: "Show one tenant", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			t, raw, err := c.Tenant(ctx, args[0])
			return raw, func() error { return tenantDetail(cmd, t) }, err
		})
	var limit int
	update := opsCommand(o, &cobra.Command{
		Use:   "update ID --max-connections K",
		Short: "Change a tenant's connection limit",
		Long: `update sets the most live connections the tenant may have (1 to 10,000). A limit below
the tenant's live connections disconnects none: new connections are refused until
enough are disconnected.`,
		Example: "  rolecall tenants update acme --max-connections 250",
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
		if !cmd.Flags().Changed("max-connections") {
			return nil, nil, usagef("update needs --max-connections: the tenant's new connection limit")
		}
		t, raw, err := c.SetMaxConnections(ctx, args[0], limit)
		return raw, func() error { return tenantDetail(cmd, t) }, err
	})
	update.Flags().IntVar(&limit, "max-connections", 0, "most live connections the tenant may have (1 to 10,000)")
	cmd.AddCommand(create, list, get, update)
	return cmd
}

// tenantDetail prints one tenant as a two-column table; the external ID
// only when the answer carries it (creation and rotation).
func tenantDetail(cmd *cobra.Command, t opsapi.Tenant) error {
	rows := [][2]any{{"Tenant", t.TenantID}, {"Name", t.Name}}
	if t.ExternalID != "" {
		rows = append(rows, [2]any{"External ID", t.ExternalID})
	}
	rows = append(rows, [2]any{"External ID version", t.ExternalIDVersion}, [2]any{"Max connections", t.MaxConnections},
		[2]any{"Created", when(t.CreatedAt)}, [2]any{"Rotated", when(t.RotatedAt)})
	return detailTable(cmd.OutOrStdout(), rows)
}

func newInvitesCmd() *cobra.Command {
	cmd, o := opsGroup("invites", "Create, list and revoke a tenant's invite links", "")
	var ttl time.Duration
	create := opsCommand(o, &cobra.Command{
		Use:     "create TENANT [--ttl 1h]",
		Short:   "Create an invite link; prints its URL (shown once)",
		Example: "  rolecall invites create acme --ttl 24h",
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
		if ttl < 0 || (ttl > 0 && ttl < time.Second) {
			return nil, nil, usagef("--ttl must be at least 1s")
		}
		inv, raw, err := c.CreateInvite(ctx, args[0], ttl)
		return raw, func() error {
			return detailTable(cmd.OutOrStdout(), [][2]any{{"Tenant", args[0]}, {"Invite", orDash(inv.InviteID)}, {"URL", orDash(inv.URL)}, {"Expires", when(inv.ExpiresAt)}})
		}, err
	})
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the link works (default: the deployment's, 7 days)")

	list := opsCommand(o, &cobra.Command{Use: "list TENANT", Short: "List a tenant's invites (never their codes)", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			invs, raws, err := c.Invites(ctx, args[0])
			return listOf("invites", raws), func() error {
				tw := newTable(cmd.OutOrStdout(), "INVITE", "CREATED", "EXPIRES", "STATE")
				for _, inv := range invs {
					tw.AppendRow([]any{inv.InviteID, when(inv.CreatedAt), when(inv.ExpiresAt), inviteState(inv, time.Now())})
				}
				tw.Render()
				return nil
			}, err
		})

	revoke := opsCommand(o, &cobra.Command{Use: "revoke TENANT INVITE_ID", Short: "Revoke an invite: its link stops working at once", Args: cobra.ExactArgs(2)},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			raw, err := c.RevokeInvite(ctx, args[0], args[1])
			return raw, func() error {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Invite %s of tenant %s revoked.\n", args[1], args[0])
				return err
			}, err
		})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// inviteState is an invite's state at now: revoked, expired or active.
func inviteState(inv opsapi.Invite, now time.Time) string {
	switch {
	case inv.Revoked:
		return "revoked"
	case !inv.ExpiresAt.IsZero() && !inv.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

func newExternalIDCmd() *cobra.Command {
	cmd, o := opsGroup("external-id", "Rotate a tenant's external ID", "")
	var grace time.Duration
	var revokeInvites bool
	rotate := opsCommand(o, &cobra.Command{
		Use:   "rotate TENANT [--grace 168h] [--revoke-invites]",
		Short: "Give the tenant a new external ID; the previous one stays accepted for the grace period",
		Long: `rotate makes a new external ID current at once; the previous one stays accepted for
--grace (default: the deployment's, 7 days) so the customer can update the role's trust
policy without an outage. --grace 0 retires the previous ID at once. --revoke-invites
also revokes the tenant's open invite links. Prints the new external ID.`,
		Example: "  rolecall external-id rotate acme --grace 72h --revoke-invites",
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
		g := time.Duration(-1)
		if cmd.Flags().Changed("grace") {
			if grace < 0 || grace%time.Second != 0 {
				return nil, nil, usagef("--grace must be a whole number of seconds, not negative")
			}
			g = grace
		}
		t, raw, err := c.Rotate(ctx, args[0], g, revokeInvites)
		return raw, func() error {
			if err := tenantDetail(cmd, t); err != nil {
				return err
			}
			// What the API did, not what was asked: with no connection
			// relying on the previous ID it is retired at once.
			if t.PreviousExternalIDVersion != 0 && !t.GraceEndsAt.IsZero() {
				fmt.Fprintf(cmd.ErrOrStderr(), "The previous external ID stays accepted until %s.\n", t.GraceEndsAt.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "The previous external ID is no longer accepted.")
			}
			return nil
		}, err
	})
	rotate.Flags().DurationVar(&grace, "grace", 7*24*time.Hour, "how long the previous external ID stays accepted")
	rotate.Flags().BoolVar(&revokeInvites, "revoke-invites", false, "also revoke the tenant's open invites")
	cmd.AddCommand(rotate)
	return cmd
}
