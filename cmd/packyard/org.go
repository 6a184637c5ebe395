package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
)

// orgCommand is `packyard org`: organizations and their members.
func orgCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "Manage organizations"}
	cmd.AddCommand(
		orgCreateCommand(invoke, stdout),
		orgListCommand(invoke, stdout),
		orgVisibilityCommand(invoke, "set-public", true),
		orgVisibilityCommand(invoke, "set-private", false),
		orgDeleteCommand(invoke),
		orgAddMemberCommand(invoke),
		orgRemoveMemberCommand(invoke),
		orgMembersCommand(invoke, stdout),
	)
	return cmd
}

func orgCreateCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	var public bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an organization (private unless --public)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error {
				o, err := s.CreateOrg(c.Context(), args[0], public)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, o.Name)
				return nil
			})
		},
	}
	create.Flags().BoolVar(&public, "public", false, "allow anonymous reads")
	return create
}

func orgListCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List organizations", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return invoke(c.Context(), func(m metadata.Store) error {
				orgs, err := m.ListOrgs(c.Context())
				if err != nil {
					return err
				}
				return printOrgs(stdout, orgs, asJSON)
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return list
}

// printOrgs prints organizations as a table or, with asJSON, as JSON.
func printOrgs(w io.Writer, orgs []metadata.Org, asJSON bool) error {
	if asJSON {
		type row struct {
			Name      string    `json:"name"`
			Public    bool      `json:"public"`
			CreatedAt time.Time `json:"created_at"`
		}
		rows := make([]row, 0, len(orgs))
		for _, o := range orgs {
			rows = append(rows, row{o.Name, o.Public, o.CreatedAt})
		}
		return ecosystem.PrintJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVISIBILITY\tCREATED")
	for _, o := range orgs {
		vis := "private"
		if o.Public {
			vis = "public"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Name, vis, o.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// orgVisibilityCommand is set-public or set-private.
func orgVisibilityCommand(invoke ecosystem.Invoker, use string, public bool) *cobra.Command {
	return &cobra.Command{
		Use: use + " NAME", Short: "Make an organization " + use[len("set-"):], Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error { return s.SetOrgPublic(c.Context(), args[0], public) })
		},
	}
}

func orgDeleteCommand(invoke ecosystem.Invoker) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete an organization, its memberships and tokens", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error { return s.DeleteOrg(c.Context(), args[0]) })
		},
	}
}

func orgAddMemberCommand(invoke ecosystem.Invoker) *cobra.Command {
	var role string
	addMember := &cobra.Command{
		Use: "add-member ORG USER --role read|write|admin", Short: "Give a user a role in an organization", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error {
				return s.AddMember(c.Context(), args[0], args[1], metadata.Role(role))
			})
		},
	}
	addMember.Flags().StringVar(&role, "role", "", "read, write or admin (required)")
	_ = addMember.MarkFlagRequired("role")
	return addMember
}

func orgRemoveMemberCommand(invoke ecosystem.Invoker) *cobra.Command {
	return &cobra.Command{
		Use: "remove-member ORG USER", Short: "Take a user out of an organization", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(s *auth.Service) error { return s.RemoveMember(c.Context(), args[0], args[1]) })
		},
	}
}

func orgMembersCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	var asJSON bool
	members := &cobra.Command{
		Use: "members ORG", Short: "List an organization's members", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return invoke(c.Context(), func(m metadata.Store) error {
				o, err := m.GetOrg(c.Context(), args[0])
				if err != nil {
					return err
				}
				ms, err := m.ListMembers(c.Context(), o.ID)
				if err != nil {
					return err
				}
				return printMembers(stdout, ms, asJSON)
			})
		},
	}
	members.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return members
}

// printMembers prints memberships as a table or, with asJSON, as JSON.
func printMembers(w io.Writer, ms []metadata.Member, asJSON bool) error {
	if asJSON {
		type row struct {
			User string `json:"user"`
			Role string `json:"role"`
		}
		rows := make([]row, 0, len(ms))
		for _, x := range ms {
			rows = append(rows, row{x.User, string(x.Role)})
		}
		return ecosystem.PrintJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE")
	for _, x := range ms {
		fmt.Fprintf(tw, "%s\t%s\n", x.User, x.Role)
	}
	return tw.Flush()
}
