package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/cmd/packyard/kernel"
	"github.com/packyard/packyard/pkg/config"
)

// The daemon's fx graph is complete: every dependency of every constructor,
// ecosystem included, is provided.
func TestAppGraphIsValid(t *testing.T) {
	env := config.Map(map[string]string{"PACKYARD_DATA_DIR": t.TempDir()})
	require.NoError(t, fx.ValidateApp(kernel.Server(env), ecosystems()))
}

func TestRunPrintsErrorsOnStderr(t *testing.T) {
	var out, errOut bytes.Buffer
	env := config.Map(map[string]string{"PACKYARD_DATA_DIR": t.TempDir(), "PACKYARD_LOG_LEVEL": "loud"})
	code := run(context.Background(), []string{"org", "list"}, env, &out, &errOut)
	require.Equal(t, 1, code)
	require.Empty(t, out.String())
	require.Contains(t, errOut.String(), "PACKYARD_LOG_LEVEL")

	out.Reset()
	errOut.Reset()
	env = config.Map(map[string]string{"PACKYARD_DATA_DIR": t.TempDir()})
	require.Zero(t, run(context.Background(), []string{"org", "create", "acme"}, env, &out, &errOut), errOut.String())
	require.Equal(t, "acme\n", out.String())
}

// Every PACKYARD_* variable the code reads is in the README's configuration
// table, and the table names no variable the code does not read.
func TestReadmeConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(PACKYARD_[A-Z0-9_]+)`").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`"(PACKYARD_[A-Z0-9_]+)"`)
	err = filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, "/e2e/") || strings.Contains(path, "testenv") || strings.Contains(path, "/charts/") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	require.NoError(t, err)
	var missing, stale []string
	for v := range used {
		if !documented[v] && !documented[strings.TrimSuffix(v, "_FILE")] {
			missing = append(missing, v)
		}
	}
	for v := range documented {
		if !used[v] && !used[v+"_FILE"] {
			stale = append(stale, v)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	require.Empty(t, missing, "variables read by the code but missing from the README table")
	require.Empty(t, stale, "variables in the README table that no code reads")
}
