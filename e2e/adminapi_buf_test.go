package e2e

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/metadata"
)

func exerciseBufAPI(c *apiClient, k adminKernel, tok apiTokens) {
	t := c.t
	const mod = "/api/v1/buf/modules/acme/petapis"
	c.do("POST", "/api/v1/buf/modules", tok.acmeRead, 403, map[string]any{"owner": "acme", "name": "petapis"})
	c.do("POST", "/api/v1/buf/modules", tok.acmeWrite, 403, map[string]any{"owner": "acme", "name": "petapis", "visibility": "public"})
	c.do("POST", "/api/v1/buf/modules", tok.otherAdmin, 404, map[string]any{"owner": "acme", "name": "petapis"})
	c.do("POST", "/api/v1/buf/modules", tok.acmeWrite, 400, map[string]any{"owner": "acme", "name": "petapis", "visibility": "secret"})
	var m map[string]any
	c.json("POST", "/api/v1/buf/modules", tok.acmeWrite, 201, map[string]any{"owner": "acme", "name": "petapis", "description": "Pets"}, &m)
	require.Equal(t, "private", m["visibility"])
	require.Equal(t, "main", m["default_label"])
	c.do("POST", "/api/v1/buf/modules", tok.acmeWrite, 409, map[string]any{"owner": "acme", "name": "petapis"})
	c.do("POST", "/api/v1/buf/modules", tok.acmeWrite, 201, map[string]any{"owner": "acme", "name": "scratch"})

	var mods page[map[string]any]
	c.json("GET", "/api/v1/buf/modules?owner=acme&page_size=1", tok.acmeRead, 200, nil, &mods)
	require.Len(t, mods.Items, 1)
	require.NotEmpty(t, mods.NextPageToken)
	var last page[map[string]any]
	c.json("GET", "/api/v1/buf/modules?owner=acme&page_size=1&page_token="+mods.NextPageToken, tok.acmeRead, 200, nil, &last)
	require.Len(t, last.Items, 1)
	require.Empty(t, last.NextPageToken)
	require.NotEqual(t, mods.Items[0]["name"], last.Items[0]["name"])
	c.do("GET", "/api/v1/buf/modules", tok.acmeRead, 400, nil)
	c.do("GET", mod, tok.acmeRead, 200, nil)
	c.do("GET", mod, tok.otherAdmin, 404, nil)
	c.do("GET", mod, "", 401, nil)
	c.do("PATCH", mod, tok.acmeWrite, 403, map[string]any{"visibility": "public"})
	c.json("PATCH", mod, tok.acmeWrite, 200, map[string]any{"description": "All the pets", "deprecated": false}, &m)
	require.Equal(t, "All the pets", m["description"])
	c.do("PATCH", mod, tok.acmeAdmin, 200, map[string]any{"visibility": "public"})
	c.do("GET", mod, "", 200, nil) // public modules are readable anonymously
	c.do("PATCH", mod, tok.acmeAdmin, 200, map[string]any{"visibility": "private"})

	// Two commits, pushed as buf push would.
	root, err := k.Meta.GetUser(context.Background(), "root")
	require.NoError(t, err)
	admin := access.WithPrincipal(context.Background(), &access.Principal{UserID: root.ID, UserName: root.Name, SiteAdmin: true,
		Scope: metadata.RoleAdmin, Method: "test"})
	push := func(content string) buf.Commit {
		cs, err := k.buf.Upload(admin, []buf.UploadContent{{Module: buf.ModuleRef{Owner: "acme", Name: "petapis"},
			Files: []buf.UploadFile{{Path: "pet/v1/pet.proto", Content: []byte(content)}}}}, nil)
		require.NoError(t, err)
		return cs[0]
	}
	first := push("syntax = \"proto3\";\npackage pet.v1;\nmessage Pet { string name = 1; }\n")
	second := push("syntax = \"proto3\";\npackage pet.v1;\nmessage Pet { string name = 1; int32 age = 2; }\n")
	var commits page[map[string]any]
	c.json("GET", mod+"/commits", tok.acmeRead, 200, nil, &commits)
	require.Len(t, commits.Items, 2)
	require.Equal(t, second.ID, commits.Items[0]["id"], "newest first")
	c.do("GET", mod+"/commits", tok.otherAdmin, 404, nil)

	var labels page[map[string]any]
	c.json("GET", mod+"/labels", tok.acmeRead, 200, nil, &labels)
	require.Len(t, labels.Items, 1)
	require.Equal(t, "main", labels.Items[0]["name"])
	c.do("GET", mod+"/labels?archived=maybe", tok.acmeRead, 400, nil)
	c.do("PUT", mod+"/labels/stable", tok.acmeRead, 403, map[string]any{"commit_id": first.ID})
	var l map[string]any
	c.json("PUT", mod+"/labels/stable", tok.acmeWrite, 200, map[string]any{"commit_id": first.ID}, &l)
	require.Equal(t, first.ID, l["commit_id"])
	c.json("PUT", mod+"/labels/stable", tok.acmeWrite, 200, map[string]any{"commit_id": second.ID}, &l)
	require.Equal(t, second.ID, l["commit_id"], "moved")
	c.do("PUT", mod+"/labels/stable", tok.acmeWrite, 400, map[string]any{})
	c.do("PATCH", mod+"/labels/stable", tok.acmeRead, 403, map[string]any{"archived": true})
	c.json("PATCH", mod+"/labels/stable", tok.acmeWrite, 200, map[string]any{"archived": true}, &l)
	require.NotNil(t, l["archived_at"])
	c.json("GET", mod+"/labels?archived=true", tok.acmeRead, 200, nil, &labels)
	require.Len(t, labels.Items, 1)
	c.do("PATCH", mod+"/labels/nope", tok.acmeWrite, 404, map[string]any{"archived": true})

	c.do("DELETE", "/api/v1/buf/modules/acme/scratch", tok.acmeWrite, 403, nil)
	c.do("DELETE", "/api/v1/buf/modules/acme/scratch", tok.acmeAdmin, 204, nil)
	c.do("DELETE", "/api/v1/buf/modules/acme/scratch", tok.acmeAdmin, 404, nil)

	// Plugins (adding a real one is the plugin suite's): the errors.
	var plugins page[map[string]any]
	c.json("GET", "/api/v1/buf/plugins?owner=acme", tok.acmeRead, 200, nil, &plugins)
	require.Empty(t, plugins.Items)
	c.do("GET", "/api/v1/buf/plugins?owner=acme", tok.otherAdmin, 404, nil)
	c.send("POST", "/api/v1/buf/plugins?owner=acme&name=go&version=v1.0.0", tok.acmeRead, "application/wasm", []byte("\x00asm"), 403)
	c.send("POST", "/api/v1/buf/plugins?owner=acme&name=go&version=v1.0.0", tok.acmeAdmin, "application/wasm", []byte("not wasm"), 400)
	c.do("DELETE", "/api/v1/buf/plugins/acme/go", tok.acmeRead, 403, nil)
	c.do("DELETE", "/api/v1/buf/plugins/acme/go", tok.acmeAdmin, 404, nil)
}
