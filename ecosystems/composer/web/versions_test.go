package web_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/metadata"
)

var currentRowRE = regexp.MustCompile(`<tr aria-current="true">\s*<td><a href="[^"]*" class="version">([^<]+)</a>`)

// Two branches of one normalized version (1.x and v1.x) are two rows of
// the package page, each with its own link; the one asked for is the one
// shown, and the only row marked current.
func TestPackagePageBranchesOfOneVersion(t *testing.T) {
	s := newSite(t, nil)
	reader := s.client(t, s.k.Token("acme", metadata.RoleRead))
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name":"acme/x"}`, "README.md": "# main"})
	for _, b := range []string{"1.x", "v1.x"} {
		g.Git("checkout", "-q", "-b", b, "main")
		g.Commit(map[string]string{"README.md": "# branch " + b})
	}
	g.Git("checkout", "-q", "main")
	_, _, err := s.svc.AddSource(t.Context(), "acme", composer.SourceInput{URL: g.Dir, Operator: true})
	require.NoError(t, err)
	_, err = s.svc.Sync(t.Context(), "acme", g.Dir)
	require.NoError(t, err)

	for _, v := range []string{"1.x-dev", "v1.x-dev"} {
		status, body := reader.do("GET", "/acme/packages/acme/x?version="+v, "", nil)
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `href="/acme/packages/acme/x?version=1.x-dev"`)
		require.Contains(t, body, `href="/acme/packages/acme/x?version=v1.x-dev"`)
		current := currentRowRE.FindAllStringSubmatch(body, -1)
		require.Len(t, current, 1, "one row is current")
		require.Equal(t, v, current[0][1])
		require.Contains(t, body, "branch "+v[:len(v)-len("-dev")], "the README of the version asked for")
	}
}
