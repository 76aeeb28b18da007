// Command rolecall is RoleCall's command line: serve (the whole pipeline on
// one machine, internal/emulator), verify (check one role now, with the
// verify function's checker), the operations commands (tenants, invites,
// connections, external-id, events, sweep: the ops API through
// internal/opsapi, and a stack's events from its log group) and the
// workload commands that use VERIFIED connections (credentials, profiles,
// terraform; through the access package).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/redact"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ec exitCode
		if asExit(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, failure(err))
		os.Exit(2)
	}
}

// failure is what main prints of an error no command has reported (serve's
// failure to start, say): its text without an AWS service's signing
// diagnostics, whose canonical request holds the session token.
func failure(err error) string {
	return "rolecall: " + strings.TrimRight(redact.Signing(err.Error()), "\n")
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "rolecall",
		Short:         "RoleCall connects your customers' AWS accounts through IAM roles with external IDs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(subcommands()...)
	return root
}

// exitCode is returned by a subcommand that has already reported its result
// and only needs the process to exit with a status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageExit prints a mistake in the command line and the command's usage
// to stderr, and makes the process exit 2.
func usageExit(cmd *cobra.Command, err error) error {
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "Error: %v\n\n", err)
	fmt.Fprint(w, cmd.UsageString())
	return exitCode(2)
}

func asExit(err error, ec *exitCode) bool {
	e, ok := err.(exitCode)
	if ok {
		*ec = e
	}
	return ok
}
