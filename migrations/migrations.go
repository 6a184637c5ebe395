// Package migrations embeds packyard's SQL migrations: one numbered sequence
// per dialect, the same version numbers for the same change in both. Kernel
// tables come first; ecosystem tables carry their ecosystem's prefix
// (composer_*, buf_*) and share the sequence.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// UpgradeTestVersion is the version of the one extra migration a binary built
// with the packyard_test_upgrade build tag carries (upgradetest.go). The
// replica tests build such a binary to upgrade running replicas one after
// another; production builds never set the tag, so their migrations are the
// embedded files only.
const UpgradeTestVersion = 90001

// FS returns the migrations of a dialect ("sqlite" or "postgres").
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "sqlite", "postgres":
		return fs.Sub(files, dialect)
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
}
