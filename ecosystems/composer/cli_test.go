package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"

	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
)

// invokerFor injects the stack's real Service, as the packyard binary's
// invoker does from its fx application.
func invokerFor(s *stack) ecosystem.Invoker {
	return func(ctx context.Context, fn any) error {
		v := reflect.ValueOf(fn)
		var args []reflect.Value
		for i := 0; i < v.Type().NumIn(); i++ {
			switch v.Type().In(i) {
			case reflect.TypeFor[*Service]():
				args = append(args, reflect.ValueOf(s.svc))
			case reflect.TypeFor[*Proxy]():
				args = append(args, reflect.ValueOf(s.proxy))
			case reflect.TypeFor[server.BaseURL]():
				args = append(args, reflect.ValueOf(server.BaseURL{Fixed: "https://reg.example"}))
			default:
				return fmt.Errorf("unexpected parameter %s", v.Type().In(i))
			}
		}
		out := v.Call(args)
		err, _ := out[0].Interface().(error)
		return err
	}
}

// NewCLICommand is `packyard composer …` (ecosystems/composer/cli). That
// package imports this one, so these tests cannot import it; main_test.go,
// an external test of this package, sets it before the tests run.
var NewCLICommand func(ecosystem.Invoker) *cobra.Command

func runCLI(s *stack, args ...string) (string, error) {
	cmd := NewCLICommand(invokerFor(s))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCLI(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name":"acme/cli-pkg"}`})
	g.Git("tag", "v0.1.0")
	g.Git("tag", "nope")

	out, err := runCLI(s, "add-vcs", "--org", "acme", "--url", g.Dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "registered "+g.Dir)
	require.Contains(t, out, "webhook: POST https://reg.example/composer/acme/hooks/")
	require.Contains(t, out, "acme/cli-pkg, 2 versions")
	require.Contains(t, out, "warning: refs/tags/nope")

	out, err = runCLI(s, "list", "--org", "acme", "--json")
	require.NoError(t, err)
	var ps []PackageInfo
	require.NoError(t, json.Unmarshal([]byte(out), &ps))
	require.Len(t, ps, 1)
	require.Equal(t, "acme/cli-pkg", ps[0].Name)
	require.Equal(t, []string{"v0.1.0", "dev-main"}, []string{ps[0].Versions[0].Version, ps[0].Versions[1].Version})

	out, err = runCLI(s, "list", "--org", "acme")
	require.NoError(t, err)
	require.Contains(t, out, "acme/cli-pkg")

	g.Git("tag", "v0.2.0")
	out, err = runCLI(s, "sync", "--org", "acme", "--url", g.Dir)
	require.NoError(t, err)
	require.Contains(t, out, "3 versions (1 refs new or moved, 0 removed)")

	out, err = runCLI(s, "list-vcs", "--org", "acme")
	require.NoError(t, err)
	require.Contains(t, out, "status: ok")
	require.Contains(t, out, "warning: refs/tags/nope")

	// A failing first sync: a non-zero exit with the reason, and nothing kept.
	bad := harness.GitRepo(t)
	bad.Commit(map[string]string{"README": "x"})
	out, err = runCLI(s, "add-vcs", "--org", "acme", "--url", bad.Dir)
	require.Error(t, err)
	require.Contains(t, err.Error(), "the first sync failed")
	require.Contains(t, err.Error(), "no composer.json")
	require.Contains(t, err.Error(), "was not registered")

	_, err = runCLI(s, "add-vcs", "--org", "nobody", "--url", g.Dir)
	require.ErrorContains(t, err, "organization \"nobody\" not found")
	_, err = runCLI(s, "add-vcs", "--org", "acme")
	require.ErrorContains(t, err, "required flag")

	_, err = runCLI(s, "remove-vcs", "--org", "acme", "--url", bad.Dir)
	require.ErrorIs(t, err, errs.ErrNotFound, "the failed source was not kept")
	_, err = runCLI(s, "delete-version", "--org", "acme", "--package", "acme/cli-pkg", "--version", "0.1.0")
	require.ErrorContains(t, err, "comes from a git source")
}
