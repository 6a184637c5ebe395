//go:build packyard_test_upgrade

package migrations

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// upgradeTestSQL adds a nullable column to a table every request reads and a
// table of its own: what a real schema change does while older replicas run.
var upgradeTestSQL = []string{
	`ALTER TABLE tokens ADD COLUMN upgrade_test_note TEXT`,
	`CREATE TABLE upgrade_test_marker (id INTEGER PRIMARY KEY, applied_by TEXT NOT NULL)`,
	`INSERT INTO upgrade_test_marker (id, applied_by) VALUES (1, 'packyard_test_upgrade')`,
}

var upgradeTestDownSQL = []string{
	`DROP TABLE upgrade_test_marker`,
	`ALTER TABLE tokens DROP COLUMN upgrade_test_note`,
}

// extraMigrations returns the upgrade test's migration.
func extraMigrations() []*goose.Migration {
	run := func(stmts []string) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return []*goose.Migration{goose.NewGoMigration(UpgradeTestVersion, run(upgradeTestSQL), run(upgradeTestDownSQL))}
}
