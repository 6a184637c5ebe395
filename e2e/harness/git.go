package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Repo is a throwaway git repository on branch main, driven by the real git
// binary with a fixed identity, fixed commit dates and no system or user
// configuration.
type Repo struct {
	Dir string

	t   testing.TB
	bin string
	n   int // commits so far
}

// GitRepo creates an empty repository in a temporary directory.
func GitRepo(t testing.TB) *Repo {
	t.Helper()
	g := &Repo{t: t, bin: Tool(t, "git"), Dir: t.TempDir()}
	g.Git("init", "-q", "-b", "main")
	return g
}

// Git runs git ARGS in the repository and returns its trimmed output; it
// fails the test when git fails.
func (g *Repo) Git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command(g.bin, args...)
	cmd.Dir = g.Dir
	date := fmt.Sprintf("2024-01-01T00:00:%02dZ", g.n%60)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1", "HOME="+g.Dir)
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// Commit writes files (path → content; "" deletes the file), commits every
// change and returns the commit id.
func (g *Repo) Commit(files map[string]string) string {
	g.t.Helper()
	g.n++
	for p, c := range files {
		full := filepath.Join(g.Dir, p)
		if c == "" {
			require.NoError(g.t, os.Remove(full))
			continue
		}
		require.NoError(g.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(g.t, os.WriteFile(full, []byte(c), 0o644))
	}
	g.Git("add", "-A")
	g.Git("commit", "-q", "-m", fmt.Sprintf("commit %d", g.n))
	return g.Git("rev-parse", "HEAD")
}
