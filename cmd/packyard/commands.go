package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/cmd/packyard/kernel"
	bufcli "github.com/packyard/packyard/ecosystems/buf/cli"
	composercli "github.com/packyard/packyard/ecosystems/composer/cli"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/version"
)

func newRoot(env config.Env, stdout, stderr io.Writer) *cobra.Command {
	invoke := invoker(env)
	root := &cobra.Command{
		Use:   "packyard",
		Short: "Private package registry for Composer and the buf CLI",
		Long: "packyard serves Composer repositories and a Buf Schema Registry from one endpoint.\n" +
			"Configuration comes from PACKYARD_* environment variables. Without a command it serves.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), env, stderr) },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		&cobra.Command{
			Use: "serve", Short: "Run the registry (the default command)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), env, stderr) },
		},
		&cobra.Command{
			Use: "migrate", Short: "Apply database migrations and exit", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return invoker(migrating(env))(cmd.Context(), func(db *sqldb.DB) error {
					res, err := migrations.Up(cmd.Context(), db)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "database at version %d\n", res.Current)
					return nil
				})
			},
		},
		&cobra.Command{
			Use: "version", Short: "Print the version", Args: cobra.NoArgs,
			Run: func(*cobra.Command, []string) { fmt.Fprintln(stdout, version.String()) },
		},
		orgCommand(invoke, stdout),
		userCommand(invoke, stdout),
		tokenCommand(invoke, stdout),
		composercli.NewCommand(invoke),
		bufcli.NewCommand(invoke),
		auditCommand(invoke, stdout),
	)
	return root
}

func serve(ctx context.Context, env config.Env, stderr io.Writer) error {
	// Report every malformed variable before anything else starts.
	if _, err := kernel.ConfigFromEnv(env); err != nil {
		return err
	}
	app := serverApp(env)
	if err := app.Err(); err != nil {
		return startupError(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return startupError(err)
	}
	var code int
	select {
	case sig := <-app.Wait():
		code = sig.ExitCode
	case <-ctx.Done():
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		fmt.Fprintln(stderr, "packyard: stop:", errs.Detail(err))
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

func userCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var admin bool
	var email string
	create := &cobra.Command{
		Use: "create NAME [--admin] [--email ADDRESS]", Short: "Create a user (a site administrator with --admin)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error {
				u, err := s.AddUser(c.Context(), metadata.User{Name: args[0], Admin: admin, Email: email})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, u.Name)
				return nil
			})
		},
	}
	create.Flags().BoolVar(&admin, "admin", false, "make the user a site administrator")
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address (with PACKYARD_OIDC_LINK_BY_EMAIL, a sign-in whose provider verified it becomes this user)")
	setEmail := &cobra.Command{
		Use: "set-email NAME ADDRESS", Short: `Set a user's e-mail address ("" removes it)`, Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error { return s.SetUserEmail(c.Context(), args[0], args[1]) })
		},
	}
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return invoke(c.Context(), func(m metadata.Store) error {
				us, err := m.ListUsers(c.Context())
				if err != nil {
					return err
				}
				if asJSON {
					type row struct {
						Name  string `json:"name"`
						Admin bool   `json:"admin"`
						Bot   bool   `json:"bot"`
						Email string `json:"email,omitempty"`
					}
					rows := make([]row, 0, len(us))
					for _, u := range us {
						rows = append(rows, row{u.Name, u.Admin, u.Bot, u.Email})
					}
					return ecosystem.PrintJSON(stdout, rows)
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tADMIN\tBOT\tEMAIL")
				for _, u := range us {
					fmt.Fprintf(tw, "%s\t%t\t%t\t%s\n", u.Name, u.Admin, u.Bot, u.Email)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user and their tokens", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error { return s.DeleteUser(c.Context(), args[0]) })
		},
	}
	cmd.AddCommand(create, setEmail, list, del)
	return cmd
}

func tokenCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var req auth.CreateTokenRequest
	var scope, expires string
	create := &cobra.Command{
		Use:   "create --org NAME --scope read|write|admin [--user NAME] [--name LABEL] [--expires DURATION]",
		Short: "Create a token and print it (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req.Scope = metadata.Role(scope)
			if expires != "" {
				d, err := config.ParseDuration(expires)
				if err != nil || d <= 0 {
					return fmt.Errorf("--expires %q: use a positive duration such as 12h, 30d or 90m", expires)
				}
				req.Expires = d
			}
			return invoke(c.Context(), func(s *auth.Service) error {
				text, _, err := s.CreateToken(c.Context(), req)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, text)
				return nil
			})
		},
	}
	create.Flags().StringVar(&req.Org, "org", "", "organization the token is limited to (required)")
	create.Flags().StringVar(&scope, "scope", "", "read, write or admin (required)")
	create.Flags().StringVar(&req.User, "user", "", "owner of the token (default: the organization's bot user)")
	create.Flags().StringVar(&req.Name, "name", "", "a label for the token")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 24h or 90d (default: never)")
	_ = create.MarkFlagRequired("org")
	_ = create.MarkFlagRequired("scope")

	var org string
	var asJSON bool
	list := &cobra.Command{
		Use: "list --org NAME [--json]", Short: "List an organization's tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return invoke(c.Context(), func(s *auth.Service) error {
				ts, err := s.ListTokens(c.Context(), org)
				if err != nil {
					return err
				}
				if asJSON {
					return ecosystem.PrintJSON(stdout, ts)
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tUSER\tSCOPE\tCREATED\tEXPIRES\tSTATE")
				for _, t := range ts {
					exp := "never"
					if t.ExpiresAt != nil {
						exp = t.ExpiresAt.Format(time.RFC3339)
					}
					state := "active"
					switch {
					case t.RevokedAt != nil:
						state = "revoked"
					case !t.Active:
						state = "expired"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, dash(t.Name), t.User, t.Scope,
						t.CreatedAt.Format(time.RFC3339), exp, state)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&org, "org", "", "organization (required)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = list.MarkFlagRequired("org")

	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token at once (ID as listed, or the whole token)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id := args[0]
			if tid, ok := auth.ParseTokenID(strings.TrimSpace(id)); ok {
				id = tid
			}
			return invoke(c.Context(), func(s *auth.Service) error {
				if err := s.RevokeToken(c.Context(), id); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked %s\n", id)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
