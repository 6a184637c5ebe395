package plugin

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/sqldb"
)

// store holds the buf_plugins table: all of the package's SQL.
type store struct{ db *sqldb.DB }

const pluginCols = `p.id, o.name, p.name, p.version, p.revision, p.wasm_digest, p.go_deps, p.base_plugin, p.go_min_version, p.created_at`

const pluginFrom = ` FROM buf_plugins p JOIN orgs o ON o.id = p.owner_id`

type scanner interface{ Scan(...any) error }

func scanPlugin(row scanner) (Plugin, error) {
	var p Plugin
	var deps string
	var created int64
	err := row.Scan(&p.ID, &p.Owner, &p.Name, &p.Version, &p.Revision, &p.WasmDigest, &deps, &p.BasePlugin, &p.GoMinVersion, &created)
	if deps != "" {
		p.GoDeps = strings.Split(deps, "\n")
	}
	p.CreatedAt = time.UnixMicro(created).UTC()
	return p, err
}

func (s *store) query(ctx context.Context, where string, args ...any) ([]Plugin, error) {
	rows, err := s.db.Query(ctx, `SELECT `+pluginCols+pluginFrom+` WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Plugin
	for rows.Next() {
		p, err := scanPlugin(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// byName lists every revision of every version of owner/name.
func (s *store) byName(ctx context.Context, ownerID, name string) ([]Plugin, error) {
	return s.query(ctx, `p.owner_id = ? AND p.name = ?`, ownerID, name)
}

// byOwner lists every revision of every plugin of an organization ("" for all).
func (s *store) byOwner(ctx context.Context, ownerID string) ([]Plugin, error) {
	if ownerID == "" {
		return s.query(ctx, `1 = 1`)
	}
	return s.query(ctx, `p.owner_id = ?`, ownerID)
}

// insert adds a revision in tx.
func (s *store) insert(ctx context.Context, tx *sqldb.Tx, ownerID string, p Plugin) error {
	_, err := tx.Exec(ctx, `INSERT INTO buf_plugins (id, owner_id, name, version, revision, wasm_digest, go_deps, base_plugin, go_min_version, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, ownerID, p.Name, p.Version, p.Revision, p.WasmDigest, strings.Join(p.GoDeps, "\n"), p.BasePlugin, p.GoMinVersion, p.CreatedAt.UnixMicro())
	return err
}

// delete removes the revisions with the ids in tx.
func (s *store) delete(ctx context.Context, tx *sqldb.Tx, ids []string) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `DELETE FROM buf_plugins WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// uses reports whether some revision is made of the module with the digest.
func (s *store) uses(ctx context.Context, digest string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_plugins WHERE wasm_digest = ?`, digest).Scan(&n)
	return n > 0, err
}

// SweepRefs removes the CAS references of plugin revisions whose row is
// gone (deleting an organization cascades to its plugins' rows).
func (s *store) SweepRefs(ctx context.Context) (int64, error) {
	cond, arg := sqldb.HasPrefix(s.db.Dialect(), "ref", refPrefix)
	return sqldb.Affected(s.db.Exec(ctx, `DELETE FROM blob_refs WHERE `+cond+` AND NOT EXISTS (
		SELECT 1 FROM buf_plugins p WHERE p.id = substr(blob_refs.ref, `+strconv.Itoa(len(refPrefix)+1)+`))`, arg))
}
