//go:build !packyard_test_upgrade

package migrations

import "github.com/pressly/goose/v3"

// extraMigrations is empty: only a test binary built with the
// packyard_test_upgrade tag adds a migration (upgradetest.go).
func extraMigrations() []*goose.Migration { return nil }
