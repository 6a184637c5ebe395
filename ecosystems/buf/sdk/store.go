package sdk

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// store holds the package's SQL: the buf_sdk_zips table, and the reads of
// the buf registry's commits and labels an SDK version is made of (the
// caller has already been allowed to read the module).
type store struct{ db *sqldb.DB }

// zipRecord is a generated SDK.
type zipRecord struct {
	CommitID    string
	PluginOwner string
	PluginName  string
	Version     string
	Blob        string // sha256 hex of the zip in the CAS
	Size        int64
	GoMod       []byte
	CreatedAt   time.Time
}

// zip returns the SDK generated for a commit, plugin and version; errs.ErrNotFound when none was.
func (st *store) zip(ctx context.Context, commitID, pluginOwner, pluginName, version string) (zipRecord, error) {
	r := zipRecord{CommitID: commitID, PluginOwner: pluginOwner, PluginName: pluginName, Version: version}
	var mod string
	var created int64
	err := st.db.QueryRow(ctx, `SELECT blob, size, go_mod, created_at FROM buf_sdk_zips
		WHERE commit_id = ? AND plugin_owner = ? AND plugin_name = ? AND version = ?`,
		commitID, pluginOwner, pluginName, version).Scan(&r.Blob, &r.Size, &mod, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return zipRecord{}, errs.ErrNotFound
	}
	if err != nil {
		return zipRecord{}, sqldb.MapErr(err)
	}
	r.GoMod, r.CreatedAt = []byte(mod), time.UnixMicro(created).UTC()
	return r, nil
}

// insertZip records a generated SDK; recording the same one again changes nothing.
func (st *store) insertZip(ctx context.Context, q sqldb.Querier, r zipRecord) error {
	_, err := q.Exec(ctx, `INSERT INTO buf_sdk_zips (commit_id, plugin_owner, plugin_name, version, blob, size, go_mod, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (commit_id, plugin_owner, plugin_name, version) DO NOTHING`,
		r.CommitID, r.PluginOwner, r.PluginName, r.Version, r.Blob, r.Size, string(r.GoMod), r.CreatedAt.UnixMicro())
	return sqldb.MapErr(err)
}

// defaultLabelSQL selects the commits the module's default label has ever
// pointed at.
const defaultLabelSQL = `SELECT h.commit_id FROM buf_label_history h
	JOIN buf_labels l ON l.id = h.label_id
	JOIN buf_modules m ON m.id = l.module_id AND l.name = m.default_label
	WHERE m.id = ?`

// onDefaultLabel reports whether the module's default label has ever
// pointed at the commit.
func (st *store) onDefaultLabel(ctx context.Context, moduleID, commitID string) (bool, error) {
	var n int
	err := st.db.QueryRow(ctx, `SELECT COUNT(*) FROM (`+defaultLabelSQL+` AND h.commit_id = ?) x`, moduleID, commitID).Scan(&n)
	return n > 0, sqldb.MapErr(err)
}

// commitRow is a commit's id and time.
type commitRow struct {
	ID        string
	CreatedAt time.Time
}

// defaultLabelCommits lists the commits the module's default label has
// ever pointed at, oldest first, at most limit of them.
func (st *store) defaultLabelCommits(ctx context.Context, moduleID string, limit int) ([]commitRow, error) {
	return st.commits(ctx, `SELECT c.id, c.created_at FROM buf_commits c WHERE c.id IN (`+defaultLabelSQL+`)
		ORDER BY c.created_at, c.id LIMIT ?`, moduleID, limit)
}

// commitsByPrefix lists the module's commits whose id starts with prefix
// (lower-case hex).
func (st *store) commitsByPrefix(ctx context.Context, moduleID, prefix string) ([]commitRow, error) {
	if strings.ContainsAny(prefix, `%_\`) {
		return nil, nil
	}
	return st.commits(ctx, `SELECT c.id, c.created_at FROM buf_commits c WHERE c.module_id = ? AND c.id LIKE ?
		ORDER BY c.created_at, c.id LIMIT 10`, moduleID, prefix+"%")
}

func (st *store) commits(ctx context.Context, q string, args ...any) ([]commitRow, error) {
	rows, err := st.db.Query(ctx, q, args...)
	if err != nil {
		return nil, sqldb.MapErr(err)
	}
	defer rows.Close()
	var out []commitRow
	for rows.Next() {
		var r commitRow
		var created int64
		if err := rows.Scan(&r.ID, &created); err != nil {
			return nil, sqldb.MapErr(err)
		}
		r.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, r)
	}
	return out, sqldb.MapErr(rows.Err())
}
