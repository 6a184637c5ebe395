// Package cli is `packyard composer …`, the Composer ecosystem's admin
// commands: git sources and their syncs, package listings, uploads and
// deletes, upstream repositories, eager mirroring and security advisories.
// A command parses its flags and reads the files they name, then runs
// against the configured database and storage through the Invoker the
// binary gives it, and prints the outcome.
package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/pkg/ecosystem"
)

// NewCommand is `packyard composer …`: git sources, syncs, listings and
// admin deletes, run against the configured database and storage.
func NewCommand(invoke ecosystem.Invoker) *cobra.Command {
	cmd := &cobra.Command{Use: "composer", Short: "Manage Composer repositories (git sources, syncs, packages)"}
	cmd.AddCommand(addVCSCommand(invoke), syncCommand(invoke), listCommand(invoke), listVCSCommand(invoke),
		removeVCSCommand(invoke), deleteVersionCommand(invoke), uploadCommand(invoke))
	cmd.AddCommand(upstreamCommands(invoke)...)
	return cmd
}

// orgFlag adds the --org flag every command requires.
func orgFlag(c *cobra.Command, org *string) {
	c.Flags().StringVar(org, "org", "", "organization (required)")
	_ = c.MarkFlagRequired("org")
}

// readSecret reads a secret from a file ("-" for stdin) or an environment variable.
func readSecret(file, envName string) (string, error) {
	switch {
	case file != "" && envName != "":
		return "", fmt.Errorf("give the secret either as a file or as an environment variable, not both")
	case file == "-":
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		return strings.TrimRight(string(b), "\r\n"), err
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case envName != "":
		v, ok := os.LookupEnv(envName)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", envName)
		}
		return v, nil
	}
	return "", nil
}

func orNone(s string) string {
	if s == "" {
		return "(not synced yet)"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
