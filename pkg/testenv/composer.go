package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ComposerPHP returns the php binary, the composer binary and the path of
// Composer's autoloader, for tests that run the installed Composer's own
// classes (its VCS repository, composer/semver) as an oracle: Debian's
// package keeps them under /usr/share/php/Composer, a composer.phar inside
// itself. A missing tool skips the test, or fails it when
// PACKYARD_TEST_REQUIRE_SERVICES=1.
func ComposerPHP(t testing.TB) (php, composer, autoload string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if Required() {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	php, err := exec.LookPath("php")
	if err != nil {
		missing("php is not installed (scripts/install-deps.sh installs it)")
	}
	composer, err = exec.LookPath("composer")
	if err != nil {
		missing("composer is not installed (scripts/install-deps.sh installs it)")
	}
	bin, err := filepath.EvalSymlinks(composer)
	if err != nil {
		t.Fatal(err)
	}
	head, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(head, []byte("__HALT_COMPILER")) {
		return php, composer, "phar://" + bin + "/vendor/autoload.php"
	}
	autoload = filepath.Join(filepath.Dir(bin), "..", "share", "php", "Composer", "autoload.php")
	if _, err := os.Stat(autoload); err != nil {
		missing("Composer's classes are not where Debian's package puts them: %v", err)
	}
	return php, composer, autoload
}
