package e2e

import (
	"context"
	"os"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer"
)

func exerciseComposerAPI(c *apiClient, k adminKernel, tok apiTokens) {
	t := c.t
	const base = "/api/v1/composer/acme"
	zip, err := os.ReadFile(harness.ZipPackage(t, map[string]string{"composer.json": `{"name": "acme/util", "type": "library"}`}))
	require.NoError(t, err)
	upload := func(query, token string, want int, body []byte) []byte {
		t.Helper()
		return c.send("POST", base+"/uploads"+query, token, "application/zip", body, want)
	}
	upload("?version=1.0.0", tok.acmeRead, 403, zip)
	upload("?version=1.0.0", "", 401, zip)
	upload("?version=1.0.0", tok.otherAdmin, 404, zip)
	upload("?version=1.0.0", tok.acmeWrite, 201, zip)
	upload("?version=1.1.0", tok.acmeWrite, 201, zip)
	upload("?version=1.0.0", tok.acmeWrite, 409, zip)
	upload("?version=2.0.0", tok.acmeWrite, 400, []byte("not a zip"))

	var pkgs page[composer.PackageInfo]
	c.json("GET", base+"/packages", tok.acmeRead, 200, nil, &pkgs)
	require.Len(t, pkgs.Items, 1)
	require.Equal(t, "acme/util", pkgs.Items[0].Name)
	require.Len(t, pkgs.Items[0].Versions, 2)
	c.do("GET", base+"/packages", tok.otherAdmin, 404, nil)
	c.do("GET", base+"/packages?page_size=-1", tok.acmeRead, 400, nil)
	c.do("DELETE", base+"/packages/acme/util/versions/1.0.0", tok.acmeWrite, 403, nil)
	c.do("DELETE", base+"/packages/acme/util/versions/1.0.0", tok.acmeAdmin, 204, nil)
	c.do("DELETE", base+"/packages/acme/util/versions/1.0.0", tok.acmeAdmin, 404, nil)

	// Git sources: a local repository only the operator registers; the API
	// lists, syncs and removes it.
	repo := harness.GitRepo(t)
	repo.Commit(map[string]string{"composer.json": `{"name": "acme/lib", "type": "library"}`})
	repo.Git("tag", "v1.0.0")
	src, _, err := k.composer.AddSource(context.Background(), "acme", composer.SourceInput{URL: repo.Dir, Operator: true})
	require.NoError(t, err)
	var rep composer.SyncReport
	c.json("POST", base+"/sources/"+src.ID+"/sync", tok.acmeWrite, 200, nil, &rep)
	require.Empty(t, rep.Error)
	require.Equal(t, "acme/lib", rep.Package)
	c.do("POST", base+"/sources/"+src.ID+"/sync", tok.acmeRead, 403, nil)
	c.do("POST", "/api/v1/composer/other/sources/"+src.ID+"/sync", tok.otherAdmin, 404, nil)
	var srcs page[composer.Source]
	c.json("GET", base+"/sources", tok.acmeRead, 200, nil, &srcs)
	require.Len(t, srcs.Items, 1)
	require.Equal(t, "ok", srcs.Items[0].Status)
	require.NotNil(t, srcs.Items[0].SyncedAt)
	c.do("POST", base+"/sources", tok.acmeAdmin, 400, map[string]any{"url": repo.Dir})
	c.do("POST", base+"/sources", tok.acmeAdmin, 400, map[string]any{"url": "https://10.1.2.3/acme/x.git"})
	c.do("POST", base+"/sources", tok.acmeWrite, 403, map[string]any{"url": "https://127.0.0.1:9/acme/x.git"})
	var added map[string]any
	c.json("POST", base+"/sources", tok.acmeAdmin, 201, map[string]any{"url": "https://127.0.0.1:9/acme/x.git", "token": "s3cret"}, &added)
	require.Contains(t, added["webhook_url"], "/composer/acme/hooks/")
	newID := added["source"].(map[string]any)["id"].(string)
	listed := c.do("GET", base+"/sources", tok.acmeAdmin, 200, nil)
	require.NotContains(t, string(listed), "s3cret", "credentials are write-only")
	c.do("DELETE", base+"/sources/"+newID, tok.acmeWrite, 403, nil)
	c.do("DELETE", base+"/sources/"+newID, tok.acmeAdmin, 204, nil)
	c.do("DELETE", base+"/sources/"+src.ID, tok.acmeAdmin, 204, nil)
	c.do("DELETE", base+"/sources/"+src.ID, tok.acmeAdmin, 404, nil)

	// Upstreams, mirror and advisories.
	c.do("GET", base+"/upstreams", tok.acmeWrite, 403, nil)
	var up map[string]any
	c.json("POST", base+"/upstreams", tok.acmeAdmin, 201, map[string]any{"url": "http://127.0.0.1:9/", "priority": 5}, &up)
	require.Equal(t, "checking", up["status"])
	c.do("POST", base+"/upstreams", tok.acmeAdmin, 400, map[string]any{"url": "http://127.0.0.1:9/", "name": "x"})
	var ups page[map[string]any]
	c.json("GET", base+"/upstreams", tok.acmeAdmin, 200, nil, &ups)
	require.Len(t, ups.Items, 1)
	c.do("DELETE", base+"/upstreams/"+up["id"].(string), tok.acmeAdmin, 204, nil)
	c.do("DELETE", base+"/upstreams/"+up["id"].(string), tok.acmeAdmin, 404, nil)
	c.do("POST", base+"/mirror", tok.acmeWrite, 400, map[string]any{})
	c.do("POST", base+"/mirror", tok.acmeRead, 403, map[string]any{"package": "psr/log"})
	c.do("POST", base+"/mirror", tok.acmeWrite, 200, map[string]any{"lock": map[string]any{"packages": []any{}}})

	adv := map[string]any{"package": "acme/util", "versions": ">=1.0,<1.2", "title": "Remote code execution", "severity": "high"}
	c.do("POST", base+"/advisories", tok.acmeWrite, 403, adv)
	c.do("POST", base+"/advisories", tok.acmeAdmin, 400, map[string]any{"package": "acme/util", "versions": ">>1", "title": "x"})
	var a map[string]any
	c.json("POST", base+"/advisories", tok.acmeAdmin, 201, adv, &a)
	var advs page[map[string]any]
	c.json("GET", base+"/advisories?package=acme/util", tok.acmeRead, 200, nil, &advs)
	require.Len(t, advs.Items, 1)
	c.do("DELETE", base+"/advisories/"+a["id"].(string), tok.acmeRead, 403, nil)
	c.do("DELETE", base+"/advisories/"+a["id"].(string), tok.acmeAdmin, 204, nil)
}
