package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/ecosystem"
)

func auditCommand(invoke ecosystem.Invoker, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log (who changed what, when and from where)"}
	var org, since, action string
	var limit int
	var asJSON bool
	query := func() (audit.Query, error) {
		s, err := audit.ParseSince(since, time.Now())
		if err != nil {
			return audit.Query{}, fmt.Errorf("--since: %w", err)
		}
		return audit.Query{Org: org, Since: s, Action: action, Limit: limit}, nil
	}
	list := &cobra.Command{
		Use: "list [--org ORG] [--since DURATION] [--json]", Short: "List the latest audit events, oldest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q, err := query()
			if err != nil {
				return err
			}
			return invoke(c.Context(), func(s *audit.Store) error {
				events, err := s.List(c.Context(), q)
				if err != nil {
					return err
				}
				if asJSON {
					if events == nil {
						events = []audit.Event{}
					}
					return ecosystem.PrintJSON(stdout, events)
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tORG\tRESOURCE\tACTOR\tCLIENT\tREQUEST")
				for _, e := range events {
					actor := e.Actor.User
					if e.Actor.Method != "" {
						actor = dash(actor) + " (" + e.Actor.Method + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Action, e.Outcome,
						dash(e.Org), dash(e.Resource), dash(actor), dash(e.ClientAddr), dash(e.RequestID))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&org, "org", "", "only this organization's events")
	list.Flags().StringVar(&since, "since", "", "only events since, e.g. 24h or 7d (or an RFC 3339 time)")
	list.Flags().StringVar(&action, "action", "", "only this action, e.g. token.create")
	list.Flags().IntVar(&limit, "limit", audit.DefaultLimit, "at most this many of the latest events")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	export := &cobra.Command{
		Use: "export [--org ORG] [--since DURATION]", Short: "Print every selected audit event as JSON lines", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q, err := query()
			if err != nil {
				return err
			}
			return invoke(c.Context(), func(s *audit.Store) error {
				enc := json.NewEncoder(stdout)
				return s.Export(c.Context(), q, func(e audit.Event) error { return enc.Encode(e) })
			})
		},
	}
	export.Flags().StringVar(&org, "org", "", "only this organization's events")
	export.Flags().StringVar(&since, "since", "", "only events since, e.g. 24h or 7d (or an RFC 3339 time)")
	export.Flags().StringVar(&action, "action", "", "only this action")
	cmd.AddCommand(list, export)
	return cmd
}
