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

// FS returns the migrations of a dialect ("sqlite" or "postgres").
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "sqlite", "postgres":
		return fs.Sub(files, dialect)
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
}
