package composer_test

import (
	"os"
	"testing"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/ecosystems/composer/cli"
)

// TestMain gives the package's tests the command tree of its CLI, which
// imports the package and so cannot be imported by its internal tests.
func TestMain(m *testing.M) {
	composer.NewCLICommand = cli.NewCommand
	os.Exit(m.Run())
}
