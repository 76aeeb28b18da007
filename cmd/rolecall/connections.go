package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/opsapi"
)

// allStatuses are listed, in this order, by `connections list` without
// --status and --tenant.
var allStatuses = []connection.Status{connection.Pending, connection.Verified, connection.Failed, connection.AccessLost, connection.Disconnected}

func newConnectionsCmd() *cobra.Command {
	cmd, o := opsGroup("connections", "List and show connections, re-check them, disconnect them", "")
	var tenantID, status string
	list := opsCommand(o, &cobra.Command{
		Use:   "list [--tenant T] [--status S]",
		Short: "List connections, of one tenant and/or in one status",
		Example: `  rolecall connections list --status ACCESS_LOST
  rolecall connections list --tenant acme --json | jq -r '.connections[].roleArn'`,
		Args: cobra.NoArgs,
	}, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
		var want connection.Status
		if status != "" {
			want = connection.Status(strings.ToUpper(status))
			if !want.Valid() {
				return nil, nil, usagef("--status %q: want PENDING, VERIFIED, FAILED, ACCESS_LOST or DISCONNECTED", status)
			}
		}
		cs, raws, err := listConnections(ctx, c, tenantID, want)
		return listOf("connections", raws), func() error {
			tw := newTable(cmd.OutOrStdout(), "TENANT", "ACCOUNT", "STATUS", "REASON", "EXTERNAL ID", "ROLE", "LAST CHECKED", "NEXT CHECK")
			for _, cn := range cs {
				tw.AppendRow([]any{cn.TenantID, cn.AccountID, cn.Status, orDash(cn.Reason.Code), externalIDUsed(cn), cn.RoleARN, when(cn.LastCheckedAt), when(cn.NextCheckAt)})
			}
			tw.Render()
			fmt.Fprintf(cmd.ErrOrStderr(), "%d connections\n", len(cs))
			return nil
		}, err
	})
	list.Flags().StringVar(&tenantID, "tenant", "", "only this tenant's connections")
	list.Flags().StringVar(&status, "status", "", "only connections in this status")

	get := opsCommand(o, &cobra.Command{Use: "get TENANT ACCOUNT", Short: "Show a connection and its event history", Args: cobra.ExactArgs(2)},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			h, raw, err := c.History(ctx, args[0], args[1])
			return raw, func() error {
				if err := connectionDetail(cmd, h.Connection); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout())
				tw := newTable(cmd.OutOrStdout(), "VERSION", "OCCURRED", "EVENT", "STATUS", "REASON", "MESSAGE")
				for _, e := range h.Events {
					tw.AppendRow([]any{e.Version, when(e.OccurredAt), e.DetailType, e.Status, orDash(e.Reason.Code), orDash(e.Reason.Message)})
				}
				tw.Render()
				return nil
			}, err
		})

	var wait bool
	var timeout time.Duration
	check := &cobra.Command{
		Use:   "check TENANT ACCOUNT [--wait [--timeout 2m]]",
		Short: "Re-check a connection now; with --wait, until the result lands",
		Long: `check queues a check of the connection ahead of the schedule. With --wait it polls
the connection until the check's result is written (its version or last check time
moves), prints it, and exits 0 if the connection is VERIFIED and 1 otherwise (or
when --timeout passes first).`,
		Args: cobra.ExactArgs(2),
		RunE: opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
			before, raw, err := c.Check(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if !wait {
				return o.print(cmd, raw, func() error {
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "Check of %s/%s queued (status %s, version %d).\n", args[0], args[1], shown(string(before.Status)), before.Version)
					return err
				})
			}
			after, raw, err := waitForCheck(ctx, c, before, timeout, pollEvery)
			if err != nil {
				return err
			}
			if err := o.print(cmd, raw, func() error { return connectionDetail(cmd, after) }); err != nil {
				return err
			}
			if after.Status != connection.Verified {
				return exitCode(1)
			}
			return nil
		}),
	}
	check.Flags().BoolVar(&wait, "wait", false, "wait for the check's result")
	check.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "with --wait, how long to wait at most")

	disconnect := opsCommand(o, &cobra.Command{Use: "disconnect TENANT ACCOUNT", Short: "Disconnect a connection and release its role", Args: cobra.ExactArgs(2)},
		func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (any, func() error, error) {
			cn, raw, err := c.Disconnect(ctx, args[0], args[1])
			return raw, func() error { return connectionDetail(cmd, cn) }, err
		})
	cmd.AddCommand(list, get, check, disconnect)
	return cmd
}

// pollEvery is how often --wait polls the API.
var pollEvery = 250 * time.Millisecond

// listConnections lists by tenant (filtered by status), by status, or
// every status, sorted by tenant and account. Listing every status is one
// listing per status, one after the other, so a connection whose check
// moved it meanwhile is listed by two: it is shown once, at its latest
// version.
func listConnections(ctx context.Context, c *opsapi.Client, tenantID string, status connection.Status) ([]connection.Connection, []json.RawMessage, error) {
	type row struct {
		c   connection.Connection
		raw json.RawMessage
	}
	var rows []row
	at := map[[2]string]int{} // the row of each connection
	add := func(cs []connection.Connection, raws []json.RawMessage) {
		for i, cn := range cs {
			if status != "" && cn.Status != status {
				continue
			}
			k := [2]string{cn.TenantID, cn.AccountID}
			if j, seen := at[k]; seen {
				if cn.Version > rows[j].c.Version {
					rows[j] = row{cn, raws[i]}
				}
				continue
			}
			at[k] = len(rows)
			rows = append(rows, row{cn, raws[i]})
		}
	}
	if tenantID != "" {
		cs, raws, err := c.Connections(ctx, tenantID, "")
		if err != nil {
			return nil, nil, err
		}
		add(cs, raws)
	} else {
		sts := allStatuses
		if status != "" {
			sts = []connection.Status{status}
		}
		for _, st := range sts {
			cs, raws, err := c.Connections(ctx, "", st)
			if err != nil {
				return nil, nil, err
			}
			add(cs, raws)
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.c.TenantID, b.c.TenantID), cmp.Compare(a.c.AccountID, b.c.AccountID))
	})
	cs := make([]connection.Connection, len(rows))
	raws := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		cs[i], raws[i] = r.c, r.raw
	}
	return cs, raws, nil
}

// errTimeout is a wait that ran out.
var errTimeout = errors.New("timed out")

// waitForCheck polls the connection until its version or last check time
// differs from before's, for at most timeout.
func waitForCheck(ctx context.Context, c *opsapi.Client, before connection.Connection, timeout, every time.Duration) (connection.Connection, json.RawMessage, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		h, raw, err := c.History(ctx, before.TenantID, before.AccountID)
		if err != nil && ctx.Err() == nil {
			return connection.Connection{}, nil, err
		}
		if err == nil && (h.Connection.Version != before.Version || !h.Connection.LastCheckedAt.Equal(before.LastCheckedAt)) {
			var out struct {
				Connection json.RawMessage `json:"connection"`
			}
			if json.Unmarshal(raw, &out) != nil || out.Connection == nil {
				out.Connection = raw
			}
			return h.Connection, out.Connection, nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				// Interrupted (Ctrl-C), not timed out.
				return connection.Connection{}, nil, fmt.Errorf("waiting for the check of %s/%s: %w", before.TenantID, before.AccountID, parent.Err())
			}
			return connection.Connection{}, nil, fmt.Errorf("no result of the check of %s/%s after %s: %w", before.TenantID, before.AccountID, timeout, errTimeout)
		case <-tick.C:
		}
	}
}

// connectionDetail prints one connection as a two-column table.
func connectionDetail(cmd *cobra.Command, cn connection.Connection) error {
	rows := [][2]any{{"Tenant", cn.TenantID}, {"Account", cn.AccountID}, {"Role", cn.RoleARN}, {"Status", cn.Status}, {"Reason", orDash(cn.Reason.Code)}}
	if cn.Reason.Message != "" {
		rows = append(rows, [2]any{"Message", cn.Reason.Message})
	}
	if cn.Reason.Hint != "" {
		rows = append(rows, [2]any{"Hint", cn.Reason.Hint})
	}
	rows = append(rows, [2]any{"Version", cn.Version}, [2]any{"Submitted", when(cn.SubmittedAt)}, [2]any{"Verified", when(cn.VerifiedAt)},
		[2]any{"Last checked", when(cn.LastCheckedAt)}, [2]any{"Next check", when(cn.NextCheckAt)})
	return detailTable(cmd.OutOrStdout(), rows)
}

// externalIDUsed is the version of the tenant's external ID the
// connection's last successful check used, "previous" when only the
// previous one worked (during a rotation's grace): the customer has to
// update the role's trust policy. "-" before any success.
func externalIDUsed(c connection.Connection) string {
	if c.ExternalIDVersion == 0 {
		return "-"
	}
	v := fmt.Sprintf("v%d", c.ExternalIDVersion)
	if !c.ExternalIDCurrent && (c.Status == connection.Verified || c.Status == connection.AccessLost) {
		v += " previous"
	}
	return v
}
