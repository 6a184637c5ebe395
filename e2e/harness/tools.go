package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packyard/packyard/pkg/testenv"
)

// Tool returns the path of a command-line client the test drives (composer,
// buf, git, curl), also looking in $(go env GOPATH)/bin. A missing tool
// skips the test, or fails it when PACKYARD_TEST_REQUIRE_SERVICES=1
// (scripts/test.sh installs every tool).
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if testenv.Required() {
		t.Fatalf("%s is not installed (scripts/install-deps.sh installs it)", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}
