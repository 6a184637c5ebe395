package buf

import (
	"context"
	"testing"

	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/metadata"
)

// An organization made public or private through buf's organization API is
// recorded in the audit log, as the same change through the CLI is.
func TestOrganizationVisibilityIsAudited(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "sqlite", DefaultConfig())
	c := e.clients(e.org("acme", false, metadata.RoleAdmin))
	for _, vis := range []ownerv1.OrganizationVisibility{
		ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC,
		ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PRIVATE,
	} {
		res, err := c.org.UpdateOrganizations(ctx, req(ownerv1.UpdateOrganizationsRequest_builder{Values: []*ownerv1.UpdateOrganizationsRequest_Value{
			ownerv1.UpdateOrganizationsRequest_Value_builder{OrganizationRef: orgName("acme"), Visibility: vis.Enum()}.Build()}}.Build()))
		require.NoError(t, err)
		require.Equal(t, vis, res.Msg.GetOrganizations()[0].GetVisibility())
	}
	o, err := e.meta.GetOrg(ctx, "acme")
	require.NoError(t, err)
	require.False(t, o.Public)

	events, err := e.k.Audit.List(ctx, audit.Query{Org: "acme", Action: audit.ActionOrgUpdate})
	require.NoError(t, err)
	require.Len(t, events, 2, "each change recorded once")
	public := map[string]bool{}
	for _, ev := range events {
		require.Equal(t, "acme", ev.Resource)
		require.Equal(t, "buf", ev.Details["via"])
		public[ev.Details["public"]] = true
	}
	require.Equal(t, map[string]bool{"true": true, "false": true}, public)
}
