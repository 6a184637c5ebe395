package ecosystem_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/packyard/packyard/"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	require.NoError(t, err, "go list %s", pkg)
	return strings.Fields(string(out))
}

// The dependency direction that keeps ecosystems pluggable and the kernel's
// adapters framework-free.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"ecosystems/composer/...", []string{"ecosystems/buf", "pkg/kernel", "cmd/"}},
		{"ecosystems/buf/...", []string{"ecosystems/composer", "pkg/kernel", "cmd/"}},
		{"storage/...", []string{"pkg/server", "ecosystems/", "pkg/kernel", "github.com/labstack/echo"}},
		{"auth", []string{"pkg/server", "ecosystems/", "pkg/kernel", "github.com/labstack/echo"}},
		{"pkg/metadata", []string{"pkg/server", "ecosystems/", "pkg/kernel"}},
		{"pkg/cas", []string{"pkg/server", "ecosystems/", "pkg/kernel"}},
		{"pkg/cache/...", []string{"pkg/server", "ecosystems/", "pkg/kernel"}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			for _, f := range r.forbidden {
				full := f
				if !strings.Contains(f, ".") {
					full = module + f
				}
				require.False(t, strings.HasPrefix(d, full), "%s must not depend on %s (it imports %s)", r.pkg, f, d)
			}
		}
	}
}
