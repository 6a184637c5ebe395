package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
)

func printReport(w io.Writer, rep composer.SyncReport) {
	if rep.Error != "" {
		fmt.Fprintf(w, "%s: sync failed: %s\n", rep.Source, rep.Error)
		return
	}
	fmt.Fprintf(w, "%s: %s, %d versions (%d refs new or moved, %d removed)\n", rep.Source, rep.Package, rep.Versions, rep.Changed, rep.Removed)
	for _, wr := range rep.Warnings {
		fmt.Fprintf(w, "  warning: %s: %s\n", wr.Ref, wr.Warning)
	}
}

// addVCS is add-vcs's flags.
type addVCS struct {
	org, rawURL, username, tokenFile, tokenEnv, keyFile, passEnv, knownHostsFile string
	noSync, asJSON                                                               bool
}

// added is what add-vcs did: the source, its webhook secret ("" when
// webhooks are off) and its first sync (nil with --no-sync).
type added struct {
	source composer.Source
	secret string
	report *composer.SyncReport
}

func addVCSCommand(invoke ecosystem.Invoker) *cobra.Command {
	var o addVCS
	c := &cobra.Command{
		Use:   "add-vcs --org ORG --url GIT_URL [--token-file FILE | --token-env VAR | --ssh-key-file FILE]",
		Short: "Register a git repository as a package source and sync it",
		Long: "Registers a git repository (https with a token, ssh with a deploy key, a local path or file:// URL)\n" +
			"and syncs every tag and branch. Exits non-zero with the reason when the first sync fails.\n" +
			"Credentials are stored encrypted with PACKYARD_SECRET_KEY.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := o.sourceInput()
			if err != nil {
				return err
			}
			return invoke(cmd.Context(), func(s *composer.Service, base server.BaseURL) error {
				a, err := o.register(cmd.Context(), s, in)
				if err != nil {
					return err
				}
				hook := "/composer/" + o.org + "/hooks/" + a.source.ID
				if base.Fixed != "" {
					hook = base.Fixed + hook
				}
				return o.print(cmd.OutOrStdout(), a, hook)
			})
		},
	}
	f := c.Flags()
	orgFlag(c, &o.org)
	f.StringVar(&o.rawURL, "url", "", "git URL: https://…, ssh://…, git@host:path, file://… or an absolute path (required)")
	f.StringVar(&o.username, "username", "", "user name for the token (https) or ssh (default x-access-token / from the URL)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding an https access token (- for stdin)")
	f.StringVar(&o.tokenEnv, "token-env", "", "environment variable holding an https access token")
	f.StringVar(&o.keyFile, "ssh-key-file", "", "file holding an ssh deploy key (PEM/OpenSSH)")
	f.StringVar(&o.passEnv, "ssh-passphrase-env", "", "environment variable holding the deploy key's passphrase")
	f.StringVar(&o.knownHostsFile, "known-hosts-file", "", "known_hosts file for ssh (default: the system's)")
	f.BoolVar(&o.noSync, "no-sync", false, "register only; sync later")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("url")
	return c
}

// sourceInput reads the secrets the flags name.
func (o addVCS) sourceInput() (composer.SourceInput, error) {
	in := composer.SourceInput{URL: o.rawURL, Username: o.username, Operator: true}
	var err error
	if in.Token, err = readSecret(o.tokenFile, o.tokenEnv); err != nil {
		return in, fmt.Errorf("token: %w", err)
	}
	if o.keyFile != "" {
		if in.SSHKey, err = readSecret(o.keyFile, ""); err != nil {
			return in, fmt.Errorf("ssh key: %w", err)
		}
		in.SSHKey += "\n"
	}
	if o.passEnv != "" {
		if in.SSHPassphrase, err = readSecret("", o.passEnv); err != nil {
			return in, fmt.Errorf("ssh key passphrase: %w", err)
		}
	}
	if o.knownHostsFile != "" {
		if in.KnownHosts, err = readSecret(o.knownHostsFile, ""); err != nil {
			return in, fmt.Errorf("known hosts: %w", err)
		}
	}
	return in, nil
}

// register adds the source and, unless --no-sync, syncs it once. A source
// whose first sync fails is not kept: it would only fail again on every
// periodic sync.
func (o addVCS) register(ctx context.Context, s *composer.Service, in composer.SourceInput) (added, error) {
	src, secret, err := s.AddSource(ctx, o.org, in)
	if err != nil {
		return added{}, err
	}
	a := added{source: src, secret: secret}
	if o.noSync {
		return a, nil
	}
	rep, err := s.SyncSource(ctx, src.ID)
	if err != nil {
		if rmErr := s.RemoveSource(ctx, o.org, src.URL); rmErr != nil {
			return a, fmt.Errorf("first sync of %s failed: %w (and removing it failed: %v)", vcs.RedactURL(src.URL), err, rmErr)
		}
		return a, fmt.Errorf("%s was not registered: the first sync failed: %w", vcs.RedactURL(src.URL), err)
	}
	a.report = &rep
	return a, nil
}

// print shows the registered source, where its webhook is and its secret
// (once), and the first sync's report.
func (o addVCS) print(w io.Writer, a added, hook string) error {
	if o.asJSON {
		v := map[string]any{"source": a.source, "webhook_url": hook}
		if a.secret != "" {
			v["webhook_secret"] = a.secret
		}
		if a.report != nil {
			v["sync"] = a.report
		}
		return ecosystem.PrintJSON(w, v)
	}
	fmt.Fprintf(w, "registered %s (id %s)\n", vcs.RedactURL(a.source.URL), a.source.ID)
	if a.secret != "" {
		fmt.Fprintf(w, "webhook: POST %s\nwebhook secret (shown once): %s\n", hook, a.secret)
	} else {
		fmt.Fprintln(w, "webhook: off (set PACKYARD_SECRET_KEY to get a webhook secret)")
	}
	if a.report != nil {
		printReport(w, *a.report)
	}
	return nil
}

func syncCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL string
	var asJSON bool
	c := &cobra.Command{
		Use:   "sync --org ORG [--url GIT_URL]",
		Short: "Sync an organization's git sources now (new and moved refs only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *composer.Service) error {
				reps, err := s.Sync(cmd.Context(), org, rawURL)
				if asJSON {
					if reps == nil {
						reps = []composer.SyncReport{}
					}
					if perr := ecosystem.PrintJSON(cmd.OutOrStdout(), reps); perr != nil {
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
	orgFlag(c, &org)
	c.Flags().StringVar(&rawURL, "url", "", "only this source")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
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
			return invoke(cmd.Context(), func(s *composer.Service) error {
				srcs, err := s.Sources(cmd.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return ecosystem.PrintJSON(cmd.OutOrStdout(), srcs)
				}
				printSources(cmd.OutOrStdout(), org, srcs, all)
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&all, "all-refs", false, "also list refs without warnings")
	return c
}

func printSources(w io.Writer, org string, srcs []composer.Source, all bool) {
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
}

func removeVCSCommand(invoke ecosystem.Invoker) *cobra.Command {
	var org, rawURL string
	c := &cobra.Command{
		Use:   "remove-vcs --org ORG --url GIT_URL",
		Short: "Unregister a git source; its versions leave the repository (archives stay for lock files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return invoke(cmd.Context(), func(s *composer.Service) error {
				if err := s.RemoveSource(cmd.Context(), org, rawURL); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", vcs.RedactURL(rawURL))
				return nil
			})
		},
	}
	orgFlag(c, &org)
	c.Flags().StringVar(&rawURL, "url", "", "git URL as registered (required)")
	_ = c.MarkFlagRequired("url")
	return c
}
