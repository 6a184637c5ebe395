package cli

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/ecosystem"
)

func upstreamCommands(invoke ecosystem.Invoker) []*cobra.Command {
	return []*cobra.Command{addUpstreamCommand(invoke), listUpstreamsCommand(invoke), removeUpstreamCommand(invoke),
		mirrorCommand(invoke), addAdvisoryCommand(invoke), listAdvisoriesCommand(invoke), removeAdvisoryCommand(invoke)}
}

func addUpstreamCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL, username, passwordFile string
	var packagist bool
	var priority int
	c := &cobra.Command{
		Use:   "add-upstream --org ORG (--url URL [--username U --password-file F] | --packagist) [--priority N]",
		Short: "Mirror an upstream Composer repository (or the public one) behind the organization's repository",
		Long: "Adds an upstream Composer 2 repository. Packages the organization does not own are taken from its\n" +
			"upstreams in priority order (lower first); archives are mirrored into packyard on first download.\n" +
			"--packagist adds the public Composer repository (PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL).\n" +
			"The password is stored encrypted with PACKYARD_SECRET_KEY and only ever sent to the upstream.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			password, err := readSecret(passwordFile, "")
			if err != nil {
				return fmt.Errorf("password: %w", err)
			}
			in := composer.UpstreamInput{URL: rawURL, Public: packagist, Username: username, Password: password, Operator: true}
			if cmd.Flags().Changed("priority") {
				in.Priority = &priority
			}
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				u, err := p.AddUpstream(cmd.Context(), org, in)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added upstream %s (id %s, priority %d)\n", u.URL, u.ID, u.Priority)
				return nil
			})
		},
	}
	f := c.Flags()
	orgFlag(c, &org)
	f.StringVar(&rawURL, "url", "", "the upstream repository's URL (its packages.json is at URL/packages.json)")
	f.BoolVar(&packagist, "packagist", false, "add the public Composer repository")
	f.StringVar(&username, "username", "", "http-basic user name for the upstream")
	f.StringVar(&passwordFile, "password-file", "", "file holding the http-basic password (- for stdin)")
	f.IntVar(&priority, "priority", 0, "lower is asked first (default: after the existing upstreams)")
	c.MarkFlagsMutuallyExclusive("url", "packagist")
	c.MarkFlagsOneRequired("url", "packagist")
	c.MarkFlagsRequiredTogether("username", "password-file")
	return c
}

func listUpstreamsCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list-upstreams --org ORG [--json]",
		Short: "List the organization's upstream repositories in priority order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				ups, err := p.Upstreams(cmd.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return ecosystem.PrintJSON(cmd.OutOrStdout(), ups)
				}
				if len(ups) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s has no upstreams\n", org)
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PRIORITY\tURL\tUSERNAME\tSTATUS\tID")
				for _, u := range ups {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", u.Priority, u.URL, orDash(u.Username), u.Status, u.ID)
				}
				return tw.Flush()
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func removeUpstreamCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL string
	c := &cobra.Command{
		Use:   "remove-upstream --org ORG --url URL|ID",
		Short: "Stop mirroring an upstream (archives already mirrored stay for lock files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				if err := p.RemoveUpstream(cmd.Context(), org, rawURL); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed upstream %s\n", rawURL)
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&rawURL, "url", "", "the upstream's URL or id (required)")
	_ = c.MarkFlagRequired("url")
	return c
}

func mirrorCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, pkg, version, lockFile string
	var asJSON bool
	c := &cobra.Command{
		Use:   "mirror --org ORG (--package NAME [--version V] | --lock composer.lock)",
		Short: "Mirror upstream archives now: every version of a package, one version, or all a lock file pins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lock []byte
			if lockFile != "" {
				var err error
				if lockFile == "-" {
					lock, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
				} else {
					lock, err = os.ReadFile(lockFile)
				}
				if err != nil {
					return err
				}
			}
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				var res []composer.MirrorResult
				var err error
				if lock != nil {
					res, err = p.MirrorLock(cmd.Context(), org, lock)
				} else {
					res, err = p.MirrorPackage(cmd.Context(), org, pkg, version)
				}
				if err != nil {
					return err
				}
				if asJSON {
					if err := ecosystem.PrintJSON(cmd.OutOrStdout(), res); err != nil {
						return err
					}
				}
				failed := 0
				for _, r := range res {
					if r.Status == "failed" || r.Status == "not-found" {
						failed++
					}
					if !asJSON {
						line := fmt.Sprintf("%s %s: %s", r.Name, r.Version, r.Status)
						if r.Error != "" {
							line += " (" + r.Error + ")"
						}
						fmt.Fprintln(cmd.OutOrStdout(), line)
					}
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d archives could not be mirrored", failed, len(res))
				}
				return nil
			})
		},
	}
	f := c.Flags()
	orgFlag(c, &org)
	f.StringVar(&pkg, "package", "", "an upstream package")
	f.StringVar(&version, "version", "", "only this version of --package")
	f.StringVar(&lockFile, "lock", "", "a composer.lock (- for stdin): mirror every upstream package it pins")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	c.MarkFlagsMutuallyExclusive("package", "lock")
	c.MarkFlagsOneRequired("package", "lock")
	return c
}

func addAdvisoryCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org string
	var in composer.AdvisoryInput
	c := &cobra.Command{
		Use:   "add-advisory --org ORG --package NAME --versions CONSTRAINT --title TITLE [--cve ID] [--link URL]",
		Short: "Publish a security advisory that composer audit reports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				a, err := p.AddAdvisory(cmd.Context(), org, in)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added advisory %s for %s %s\n", a.ID, a.Package, a.Versions)
				return nil
			})
		},
	}
	f := c.Flags()
	orgFlag(c, &org)
	f.StringVar(&in.Package, "package", "", "package name (required)")
	f.StringVar(&in.Versions, "versions", "", "affected versions, a Composer constraint such as \">=1.0,<1.4.2\" (required)")
	f.StringVar(&in.Title, "title", "", "title (required)")
	f.StringVar(&in.CVE, "cve", "", "CVE id")
	f.StringVar(&in.Link, "link", "", "URL with details")
	f.StringVar(&in.Severity, "severity", "", "low, medium, high or critical")
	for _, n := range []string{"package", "versions", "title"} {
		_ = c.MarkFlagRequired(n)
	}
	return c
}

func listAdvisoriesCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, pkg string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list-advisories --org ORG [--package NAME] [--json]",
		Short: "List the security advisories the organization published",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				var names []string
				if pkg != "" {
					names = []string{pkg}
				}
				as, err := p.Advisories(cmd.Context(), org, names...)
				if err != nil {
					return err
				}
				if asJSON {
					return ecosystem.PrintJSON(cmd.OutOrStdout(), as)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPACKAGE\tVERSIONS\tCVE\tTITLE")
				for _, a := range as {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Package, a.Versions, orDash(a.CVE), a.Title)
				}
				return tw.Flush()
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&pkg, "package", "", "only this package")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func removeAdvisoryCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, id string
	c := &cobra.Command{
		Use:   "remove-advisory --org ORG --id ID",
		Short: "Withdraw a published security advisory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(p *composer.Proxy) error {
				if err := p.RemoveAdvisory(cmd.Context(), org, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed advisory %s\n", id)
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&id, "id", "", "advisory id (required)")
	_ = c.MarkFlagRequired("id")
	return c
}
