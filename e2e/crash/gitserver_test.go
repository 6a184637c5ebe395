package crash

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/packyard/packyard/e2e/harness"
)

// taggedRepo is a work repository of package name with tags 1.0.0 …
// 1.(n-1).0, one commit each, every commit with extra's files too.
func taggedRepo(t *testing.T, name string, n int, extra map[string]string) *harness.Repo {
	t.Helper()
	g := harness.GitRepo(t)
	for i := range n {
		files := map[string]string{
			"composer.json":                 fmt.Sprintf(`{"name": %q, "description": "tag %d", "autoload": {"psr-4": {"Acme\\Lib\\": "src/"}}}`, name, i),
			fmt.Sprintf("src/F%03d.php", i): fmt.Sprintf("<?php\nnamespace Acme\\Lib;\nclass F%03d { const V = %d; }\n", i, i),
		}
		for p, c := range extra {
			files[p] = c
		}
		g.Commit(files)
		g.Git("tag", fmt.Sprintf("1.%d.0", i))
	}
	return g
}

// incompressible is n random bytes: an archive holding them cannot be
// smaller than n.
func incompressible(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
}
