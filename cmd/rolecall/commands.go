package main

import "github.com/spf13/cobra"

// subcommands lists rolecall's subcommands; each lives in its own file.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		newServeCmd(),
		newVerifyCmd(),
		newCredentialsCmd(),
		newProfilesCmd(),
		newTerraformCmd(),
		newTenantsCmd(),
		newInvitesCmd(),
		newConnectionsCmd(),
		newExternalIDCmd(),
		newEventsCmd(),
		newSweepCmd(),
	}
}
