package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// TestBufWebPages pushes a module with a dependency with the real buf CLI
// to the packyard binary, then reads it in a real Chromium: its labels, a
// highlighted .proto file, its commits, and the documentation generated
// from its comments, following a type's link into the dependency's
// documentation.
func TestBufWebPages(t *testing.T) {
	in := harness.Start(t, harness.Options{})
	in.MustCLI("org", "create", "acme", "--public")
	c := harness.Buf(t, in.Host, in.CAFile)
	c.Login(in.Token("acme", "admin"))

	money := c.Workspace(map[string]string{
		"buf.yaml": "version: v2\nmodules:\n  - path: .\n    name: HOST/acme/money\n",
		"money/v1/money.proto": "syntax = \"proto3\";\npackage money.v1;\n\n// Money is an amount of a currency.\n" +
			"message Money {\n  // Units of the currency.\n  int64 units = 1;\n}\n",
	})
	moneyCommit := bufCommitRE.FindString(c.Run(money, "push", "--create", "--create-visibility", "public"))
	require.NotEmpty(t, moneyCommit)
	pet := c.Workspace(map[string]string{
		"buf.yaml": "version: v2\nmodules:\n  - path: .\n    name: HOST/acme/pet\ndeps:\n  - HOST/acme/money\n",
		"pet/v1/pet.proto": "syntax = \"proto3\";\npackage pet.v1;\n\nimport \"money/v1/money.proto\";\n\n" +
			"// Pet is an animal for sale <script>alert(1)</script>.\nmessage Pet {\n  // The price the shop asks.\n  money.v1.Money price = 1;\n}\n",
	})
	c.Run(pet, "dep", "update")
	petCommit := bufCommitRE.FindString(c.Run(pet, "push", "--create", "--create-visibility", "public", "--label", "main", "--label", "v1"))
	require.NotEmpty(t, petCommit)
	vault := c.Workspace(map[string]string{
		"buf.yaml":             "version: v2\nmodules:\n  - path: .\n    name: HOST/acme/vault\n",
		"vault/v1/vault.proto": "syntax = \"proto3\";\npackage vault.v1;\n// Secret is for members only.\nmessage Secret { string id = 1; }\n",
	})
	c.Run(vault, "push", "--create") // private

	b := harness.NewBrowser(t)
	click := func(sel, waitFor string) {
		t.Helper()
		b.Do(chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	}

	// Anonymous viewers count and list the public modules only, and a
	// private module's page asks them to sign in.
	b.Open(in.URL + "/")
	require.Contains(t, b.Text(`[data-testid="orgs"]`), "modules")
	b.Open(in.URL + "/acme?list=modules")
	list := b.Text(`[data-testid="org-list"]`)
	require.Contains(t, list, "money")
	require.Contains(t, list, "pet")
	require.NotContains(t, list, "vault")
	b.Fill("#f-q", "pe")
	b.Submit(`form[role="search"] button[type="submit"]`)
	require.NotContains(t, b.Text(`[data-testid="org-list"]`), "money", "the list is searchable")
	b.Open(in.URL + "/acme/modules/vault")
	require.NotContains(t, b.Text("main"), "Secret")
	require.True(t, b.Has(`main a[href*="/-/signin"]`), "the page asks to sign in")

	// Signed in as a member, the private module is there.
	harness.SignIn(t, b, in.URL, in.Token("acme", "read"))
	b.Open(in.URL + "/acme?list=modules")
	require.Contains(t, b.Text(`[data-testid="org-list"]`), "vault")
	b.Open(in.URL + "/acme/modules/vault/docs")
	require.Contains(t, b.Text(`[id="vault.v1.Secret"]`), "Secret is for members only.")

	// The module page: labels, the default first, with their commit; the
	// dependency with its link; the buf.yaml line.
	b.Open(in.URL + "/acme?list=modules")
	click(`[data-testid="org-list"] a[href="/acme/modules/pet"]`, `[data-testid="labels"]`)
	require.Equal(t, "acme/pet", b.Text("h1"))
	labels := b.Text(`[data-testid="labels"] tbody`)
	require.True(t, strings.HasPrefix(strings.TrimSpace(labels), "main"), "the default label first: %q", labels)
	require.Contains(t, labels, "v1")
	require.Contains(t, labels, petCommit)
	require.Contains(t, b.Text(`[data-testid="deps"]`), "acme/money")
	require.Contains(t, b.Text("main"), "deps: ["+in.Host+"/acme/pet]")

	// Files: down the tree to a highlighted .proto file.
	click(`.tabs a[href^="/acme/modules/pet/files"]`, `[data-testid="files"]`)
	click(`a[href="/acme/modules/pet/files/pet"]`, `a[href="/acme/modules/pet/files/pet/v1"]`)
	click(`a[href="/acme/modules/pet/files/pet/v1"]`, `a[href="/acme/modules/pet/files/pet/v1/pet.proto"]`)
	click(`a[href="/acme/modules/pet/files/pet/v1/pet.proto"]`, `[data-testid="source"]`)
	require.Contains(t, b.Text(`[data-testid="source"]`), "message Pet")
	require.True(t, b.Has(`[data-testid="source"] span[style*="color"]`), "the .proto file is highlighted")
	require.False(t, b.Has(`main script`), "a comment's markup is text")

	// Commits: digest, time and labels.
	click(`.tabs a[href="/acme/modules/pet/commits"]`, `[data-testid="commits"]`)
	row := b.Text(`[data-testid="commits"] tbody tr`)
	require.Contains(t, row, petCommit)
	require.Contains(t, row, "b5:")
	require.Contains(t, row, time.Now().UTC().Format("2006-01-02"))
	require.Contains(t, row, "main")
	require.Contains(t, row, "v1")

	// Docs: a message with its documented field; the field's type links to
	// the dependency's documentation, which has it.
	click(`.tabs a[href^="/acme/modules/pet/docs"]`, `[id="pet.v1.Pet"]`)
	msg := b.Text(`[id="pet.v1.Pet"]`)
	require.Contains(t, msg, "Pet is an animal for sale <script>alert(1)</script>.")
	require.Contains(t, msg, "The price the shop asks.")
	click(`[id="pet.v1.Pet"] a[href*="#money.v1.Money"]`, `[id="money.v1.Money"]`)
	require.Contains(t, b.Location(), "/acme/modules/money/docs?ref="+moneyCommit+"#money.v1.Money")
	require.Contains(t, b.Text(`[id="money.v1.Money"]`), "Money is an amount of a currency.")
	require.Contains(t, b.Text(`[id="money.v1.Money"]`), "Units of the currency.")
}
