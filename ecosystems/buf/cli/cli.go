// Package cli is `packyard buf …`, the buf ecosystem's admin commands:
// remote code generation plugins (add, list, remove). A command parses its
// flags and reads the files they name, then runs against the configured
// database and storage through the Invoker the binary gives it.
package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// NewCommand is `packyard buf …`.
func NewCommand(invoke ecosystem.Invoker) *cobra.Command {
	cmd := &cobra.Command{Use: "buf", Short: "Manage the Buf Schema Registry (remote code generation plugins)"}
	pl := &cobra.Command{Use: "plugin", Short: "Manage remote code generation plugins (WebAssembly modules)"}
	pl.AddCommand(addCommand(invoke), listCommand(invoke), removeCommand(invoke))
	cmd.AddCommand(pl)
	return cmd
}

func addCommand(invoke ecosystem.Invoker) *cobra.Command {
	var r plugin.AddRequest
	var file string
	c := &cobra.Command{
		Use:   "add --owner ORG --name NAME --version vX.Y.Z --wasm FILE [--go-dep MODULE@VERSION]... [--base-plugin OWNER/NAME] [--go-min-version 1.21]",
		Short: "Add a plugin version (the same version with other bytes adds a revision)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(cat *plugin.Catalog, cfg plugin.Config) error {
				wasm, err := readFile(file, cfg.MaxSize)
				if err != nil {
					return err
				}
				r.Wasm = wasm
				p, created, err := cat.Add(cmd.Context(), r)
				if err != nil {
					return err
				}
				verb := "added"
				if !created {
					verb = "unchanged"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s:%s revision %d\n", verb, p.FullName(), p.Version, p.Revision)
				return nil
			})
		},
	}
	ownerFlag(c, &r.Owner)
	nameFlag(c, &r.Name)
	c.Flags().StringVar(&r.Version, "version", "", "semantic version, e.g. v1.36.11 (required)")
	_ = c.MarkFlagRequired("version")
	c.Flags().StringVar(&file, "wasm", "", "the plugin compiled to WebAssembly (GOOS=wasip1 GOARCH=wasm) (required)")
	_ = c.MarkFlagRequired("wasm")
	c.Flags().StringArrayVar(&r.GoDeps, "go-dep", nil, "a Go module the generated code requires, MODULE@VERSION (repeatable)")
	c.Flags().StringVar(&r.BasePlugin, "base-plugin", "", "OWNER/NAME of the plugin whose SDK the generated code builds on")
	c.Flags().StringVar(&r.GoMinVersion, "go-min-version", "", "the go line of generated Go SDKs, e.g. 1.21")
	return c
}

// readFile reads at most max bytes of a file, failing past them.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over the limit of %d bytes (PACKYARD_BUF_PLUGIN_MAX_SIZE)", path, max)
	}
	return b, nil
}

func listCommand(invoke ecosystem.Invoker) *cobra.Command {
	var owner string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--owner ORG] [--json]",
		Short: "List plugins, every version and revision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(cat *plugin.Catalog) error {
				ps, err := cat.List(cmd.Context(), owner)
				if err != nil {
					return err
				}
				if asJSON {
					if ps == nil {
						ps = []plugin.Plugin{}
					}
					return ecosystem.PrintJSON(cmd.OutOrStdout(), ps)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PLUGIN\tVERSION\tREVISION\tDIGEST\tGO DEPS\tBASE\tCREATED")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.FullName(), p.Version, p.Revision, p.WasmDigest[:12],
						orDash(strings.Join(p.GoDeps, ",")), orDash(p.BasePlugin), p.CreatedAt.Format("2006-01-02T15:04:05Z"))
				}
				return tw.Flush()
			})
		},
	}
	c.Flags().StringVar(&owner, "owner", "", "only this organization's plugins")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func removeCommand(invoke ecosystem.Invoker) *cobra.Command {
	var owner, name, version string
	c := &cobra.Command{
		Use:   "remove --owner ORG --name NAME [--version V]",
		Short: "Remove a plugin version (every revision), or every version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(cat *plugin.Catalog) error {
				n, err := cat.Remove(cmd.Context(), owner, name, version)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d revision(s) of %s/%s\n", n, owner, name)
				return nil
			})
		},
	}
	ownerFlag(c, &owner)
	nameFlag(c, &name)
	c.Flags().StringVar(&version, "version", "", "only this version")
	return c
}

func ownerFlag(c *cobra.Command, owner *string) {
	c.Flags().StringVar(owner, "owner", "", "the organization that owns the plugin (required)")
	_ = c.MarkFlagRequired("owner")
}

func nameFlag(c *cobra.Command, name *string) {
	c.Flags().StringVar(name, "name", "", "the plugin's name (required)")
	_ = c.MarkFlagRequired("name")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
