package composer

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
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

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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

func printReport(w io.Writer, rep SyncReport) {
	if rep.Error != "" {
		fmt.Fprintf(w, "%s: sync failed: %s\n", rep.Source, rep.Error)
		return
	}
	fmt.Fprintf(w, "%s: %s, %d versions (%d refs new or moved, %d removed)\n", rep.Source, rep.Package, rep.Versions, rep.Changed, rep.Removed)
	for _, wr := range rep.Warnings {
		fmt.Fprintf(w, "  warning: %s: %s\n", wr.Ref, wr.Warning)
	}
}

func addVCSCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL, username, tokenFile, tokenEnv, keyFile, passEnv, knownHostsFile string
	var noSync, asJSON bool
	c := &cobra.Command{
		Use:   "add-vcs --org ORG --url GIT_URL [--token-file FILE | --token-env VAR | --ssh-key-file FILE]",
		Short: "Register a git repository as a package source and sync it",
		Long: "Registers a git repository (https with a token, ssh with a deploy key, a local path or file:// URL)\n" +
			"and syncs every tag and branch. Exits non-zero with the reason when the first sync fails.\n" +
			"Credentials are stored encrypted with PACKYARD_SECRET_KEY.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			token, err := readSecret(tokenFile, tokenEnv)
			if err != nil {
				return fmt.Errorf("token: %w", err)
			}
			var key, pass, known string
			if keyFile != "" {
				if key, err = readSecret(keyFile, ""); err != nil {
					return fmt.Errorf("ssh key: %w", err)
				}
				key += "\n"
			}
			if passEnv != "" {
				if pass, err = readSecret("", passEnv); err != nil {
					return fmt.Errorf("ssh key passphrase: %w", err)
				}
			}
			if knownHostsFile != "" {
				if known, err = readSecret(knownHostsFile, ""); err != nil {
					return fmt.Errorf("known hosts: %w", err)
				}
			}
			return invoke(cmd.Context(), func(s *Service, base server.BaseURL) error {
				src, secret, err := s.AddSource(cmd.Context(), org, SourceInput{URL: rawURL, Username: username, Token: token,
					SSHKey: key, SSHPassphrase: pass, KnownHosts: known})
				if err != nil {
					return err
				}
				hook := "/composer/" + org + "/hooks/" + src.ID
				if base.Fixed != "" {
					hook = base.Fixed + hook
				}
				var rep *SyncReport
				var syncErr error
				if !noSync {
					r, err := s.SyncSource(cmd.Context(), src.ID)
					rep, syncErr = &r, err
					if err != nil {
						// A source that cannot be read is not kept: it would
						// only fail again on every periodic sync.
						if rmErr := s.RemoveSource(cmd.Context(), org, src.URL); rmErr != nil {
							return fmt.Errorf("first sync of %s failed: %w (and removing it failed: %v)", vcs.RedactURL(src.URL), err, rmErr)
						}
						return fmt.Errorf("%s was not registered: the first sync failed: %w", vcs.RedactURL(src.URL), err)
					}
				}
				if asJSON {
					v := map[string]any{"source": src, "webhook_url": hook}
					if secret != "" {
						v["webhook_secret"] = secret
					}
					if rep != nil {
						v["sync"] = rep
					}
					if err := printJSON(out, v); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(out, "registered %s (id %s)\n", vcs.RedactURL(src.URL), src.ID)
					if secret != "" {
						fmt.Fprintf(out, "webhook: POST %s\nwebhook secret (shown once): %s\n", hook, secret)
					} else {
						fmt.Fprintln(out, "webhook: off (set PACKYARD_SECRET_KEY to get a webhook secret)")
					}
					if rep != nil {
						printReport(out, *rep)
					}
				}
				if syncErr != nil {
					return fmt.Errorf("the source is registered but its first sync failed: %w (fix it, then run packyard composer sync --org %s --url %s)", syncErr, org, vcs.RedactURL(rawURL))
				}
				return nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&org, "org", "", "organization (required)")
	f.StringVar(&rawURL, "url", "", "git URL: https://…, ssh://…, git@host:path, file://… or an absolute path (required)")
	f.StringVar(&username, "username", "", "user name for the token (https) or ssh (default x-access-token / from the URL)")
	f.StringVar(&tokenFile, "token-file", "", "file holding an https access token (- for stdin)")
	f.StringVar(&tokenEnv, "token-env", "", "environment variable holding an https access token")
	f.StringVar(&keyFile, "ssh-key-file", "", "file holding an ssh deploy key (PEM/OpenSSH)")
	f.StringVar(&passEnv, "ssh-passphrase-env", "", "environment variable holding the deploy key's passphrase")
	f.StringVar(&knownHostsFile, "known-hosts-file", "", "known_hosts file for ssh (default: the system's)")
	f.BoolVar(&noSync, "no-sync", false, "register only; sync later")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("org")
	_ = c.MarkFlagRequired("url")
	return c
}

func syncCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL string
	var asJSON bool
	c := &cobra.Command{
		Use:   "sync --org ORG [--url GIT_URL]",
		Short: "Sync an organization's git sources now (new and moved refs only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *Service) error {
				reps, err := s.Sync(cmd.Context(), org, rawURL)
				if asJSON {
					if reps == nil {
						reps = []SyncReport{}
					}
					if perr := printJSON(cmd.OutOrStdout(), reps); perr != nil {
						return perr
					}
				} else {
					for _, r := range reps {
						printReport(cmd.OutOrStdout(), r)
					}
					if len(reps) == 0 && err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "%s has no git sources (add one with packyard composer add-vcs)\n", org)
					}
				}
				return err
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().StringVar(&rawURL, "url", "", "only this source")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("org")
	return c
}

func listCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list --org ORG [--json]",
		Short: "List an organization's packages and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *Service) error {
				ps, err := s.ListPackages(cmd.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), ps)
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
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("org")
	return c
}

func listVCSCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org string
	var asJSON, all bool
	c := &cobra.Command{
		Use:     "list-vcs --org ORG [--json] [--all-refs]",
		Aliases: []string{"status"},
		Short:   "List git sources with their sync status and per-ref warnings",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *Service) error {
				srcs, err := s.Sources(cmd.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), srcs)
				}
				w := cmd.OutOrStdout()
				for _, src := range srcs {
					synced := "never"
					if src.SyncedAt != nil {
						synced = src.SyncedAt.Format("2006-01-02 15:04:05Z")
					}
					fmt.Fprintf(w, "%s\n  id: %s\n  package: %s\n  status: %s (synced %s)\n", src.URL, src.ID, orNone(src.Package), src.Status, synced)
					if src.LastError != "" {
						fmt.Fprintf(w, "  error: %s\n", src.LastError)
					}
					for _, r := range src.Refs {
						switch {
						case r.Warning != "":
							fmt.Fprintf(w, "  warning: %s: %s\n", r.Ref, r.Warning)
						case all:
							fmt.Fprintf(w, "  %s -> %s\n", r.Ref, r.Version)
						}
					}
				}
				if len(srcs) == 0 {
					fmt.Fprintf(w, "%s has no git sources\n", org)
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&all, "all-refs", false, "also list refs without warnings")
	_ = c.MarkFlagRequired("org")
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(not synced yet)"
	}
	return s
}

func removeVCSCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL string
	c := &cobra.Command{
		Use:   "remove-vcs --org ORG --url GIT_URL",
		Short: "Unregister a git source; its versions leave the repository (archives stay for lock files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *Service) error {
				if err := s.RemoveSource(cmd.Context(), org, rawURL); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", vcs.RedactURL(rawURL))
				return nil
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().StringVar(&rawURL, "url", "", "git URL as registered (required)")
	_ = c.MarkFlagRequired("org")
	_ = c.MarkFlagRequired("url")
	return c
}

func deleteVersionCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, pkg, version string
	c := &cobra.Command{
		Use:   "delete-version --org ORG --package VENDOR/NAME --version VERSION",
		Short: "Delete an uploaded version so it can be published again (its archive stays for lock files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *Service) error {
				if err := s.DeleteVersion(cmd.Context(), org, strings.ToLower(pkg), version); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", pkg, version)
				return nil
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().StringVar(&pkg, "package", "", "package name (required)")
	c.Flags().StringVar(&version, "version", "", "version (required)")
	for _, n := range []string{"org", "package", "version"} {
		_ = c.MarkFlagRequired(n)
	}
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
			return invoke(cmd.Context(), func(s *Service) error {
				res, err := s.Upload(cmd.Context(), org, version, f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "published %s %s (sha1 %s)\n", res.Name, res.Version, res.SHA1)
				return nil
			})
		},
	}
	c.Flags().StringVar(&org, "org", "", "organization (required)")
	c.Flags().StringVar(&file, "file", "", "zip archive (required)")
	c.Flags().StringVar(&version, "version", "", "version (default: composer.json's)")
	_ = c.MarkFlagRequired("org")
	_ = c.MarkFlagRequired("file")
	return c
}
