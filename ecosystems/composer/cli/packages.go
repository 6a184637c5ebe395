package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/ecosystem"
)

func listCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list --org ORG [--json]",
		Short: "List an organization's packages and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *composer.Service) error {
				ps, err := s.ListPackages(cmd.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return ecosystem.PrintJSON(cmd.OutOrStdout(), ps)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PACKAGE\tVERSION\tREFERENCE\tSOURCE\tDOWNLOADS")
				for _, p := range ps {
					for _, v := range p.Versions {
						ref := v.Reference
						if len(ref) > 12 {
							ref = ref[:12]
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", p.Name, v.Version, ref, v.Source, v.Downloads)
					}
				}
				return tw.Flush()
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func deleteVersionCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, pkg, version string
	c := &cobra.Command{
		Use:   "delete-version --org ORG --package VENDOR/NAME --version VERSION",
		Short: "Delete an uploaded version so it can be published again (its archive stays for lock files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *composer.Service) error {
				if err := s.DeleteVersion(cmd.Context(), org, strings.ToLower(pkg), version); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", pkg, version)
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&pkg, "package", "", "package name (required)")
	c.Flags().StringVar(&version, "version", "", "version (required)")
	_ = c.MarkFlagRequired("package")
	_ = c.MarkFlagRequired("version")
	return c
}

func uploadCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, file, version string
	c := &cobra.Command{
		Use:   "upload --org ORG --file PKG.zip [--version X.Y.Z]",
		Short: "Publish a zip archive holding a composer.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			return invoke(cmd.Context(), func(s *composer.Service) error {
				res, err := s.Upload(cmd.Context(), org, version, f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "published %s %s (sha1 %s)\n", res.Name, res.Version, res.SHA1)
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&file, "file", "", "zip archive (required)")
	c.Flags().StringVar(&version, "version", "", "version (default: composer.json's)")
	_ = c.MarkFlagRequired("file")
	return c
}
