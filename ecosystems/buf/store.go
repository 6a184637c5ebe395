package buf

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Owner kinds of a module.
const (
	OwnerOrg  = "org"
	OwnerUser = "user"
)

// Visibility and state values, numbered as in the registry API.
const (
	VisibilityPublic  = 1
	VisibilityPrivate = 2
	StateActive       = 1
	StateDeprecated   = 2
)

// ModuleRecord is a stored module.
type ModuleRecord struct {
	ID           string
	OwnerID      string
	OwnerKind    string // OwnerOrg or OwnerUser
	OwnerName    string // filled by the service
	Name         string
	Visibility   int
	State        int
	Description  string
	URL          string
	DefaultLabel string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// FullName is "owner/module".
func (m ModuleRecord) FullName() string { return m.OwnerName + "/" + m.Name }

// Commit is a stored, immutable commit.
type Commit struct {
	ID               string
	ModuleID         string
	OwnerID          string
	B5               string // hex
	B4               string // hex
	CreatedByUserID  string
	SourceControlURL string
	CreatedAt        time.Time
}

// CommitFile is one file of a commit: its content is the CAS blob Blob.
type CommitFile struct {
	Path     string
	Blob     string // sha256 hex
	Shake256 string // hex
	Size     int64  // bytes, from the blob index; -1 when not recorded
}

// Label is a stored label.
type Label struct {
	ID              string
	ModuleID        string
	OwnerID         string
	Name            string
	CommitID        string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	ArchivedAt      time.Time // zero: not archived
	UpdatedByUserID string
}

// Page selects a slice of a listing.
type Page struct {
	Offset int
	Limit  int
	Desc   bool
}

// store holds the buf_* tables.
type store struct{ db *sqldb.DB }

func toMicros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func notFoundErr(err error, format string, args ...any) error {
	err = sqldb.MapErr(err)
	if errors.Is(err, errs.ErrNotFound) {
		return errs.NotFoundf(format, args...)
	}
	return err
}

// ---- modules ----

const moduleCols = `id, owner_id, owner_kind, name, visibility, state, description, url, default_label, created_at, updated_at`

func scanModule(row scanner) (ModuleRecord, error) {
	var m ModuleRecord
	var c, u int64
	err := row.Scan(&m.ID, &m.OwnerID, &m.OwnerKind, &m.Name, &m.Visibility, &m.State, &m.Description, &m.URL, &m.DefaultLabel, &c, &u)
	m.CreatedAt, m.UpdatedAt = fromMicros(c), fromMicros(u)
	return m, err
}

func (s *store) createModule(ctx context.Context, q sqldb.Querier, m ModuleRecord) error {
	_, err := q.Exec(ctx, `INSERT INTO buf_modules (`+moduleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.OwnerID, m.OwnerKind, m.Name, m.Visibility, m.State, m.Description, m.URL, m.DefaultLabel,
		toMicros(m.CreatedAt), toMicros(m.UpdatedAt))
	if errors.Is(err, errs.ErrAlreadyExists) {
		return errs.AlreadyExistsf("module %s already exists", m.Name)
	}
	return err
}

func (s *store) moduleByName(ctx context.Context, ownerID, name string) (ModuleRecord, error) {
	m, err := scanModule(s.db.QueryRow(ctx, `SELECT `+moduleCols+` FROM buf_modules WHERE owner_id = ? AND name = ?`, ownerID, name))
	if err != nil {
		return ModuleRecord{}, notFoundErr(err, "module %s not found", name)
	}
	return m, nil
}

func (s *store) moduleByID(ctx context.Context, id string) (ModuleRecord, error) {
	m, err := scanModule(s.db.QueryRow(ctx, `SELECT `+moduleCols+` FROM buf_modules WHERE id = ?`, id))
	if err != nil {
		return ModuleRecord{}, notFoundErr(err, "module %s not found", id)
	}
	return m, nil
}

// modulesByID returns the modules of ids that exist.
func (s *store) modulesByID(ctx context.Context, ids []string) ([]ModuleRecord, error) {
	var out []ModuleRecord
	err := queryChunks(ctx, s.db, ids, func(in string) string {
		return `SELECT ` + moduleCols + ` FROM buf_modules WHERE id IN (` + in + `)`
	}, func(r scanner) error {
		m, err := scanModule(r)
		if err == nil {
			out = append(out, m)
		}
		return err
	})
	return out, err
}

func (s *store) listModules(ctx context.Context, ownerIDs []string, byUpdate bool, p Page) ([]ModuleRecord, error) {
	q := `SELECT ` + moduleCols + ` FROM buf_modules`
	var args []any
	if len(ownerIDs) > 0 {
		q += ` WHERE owner_id IN (` + placeholders(len(ownerIDs)) + `)`
		for _, id := range ownerIDs {
			args = append(args, id)
		}
	}
	col := "created_at"
	if byUpdate {
		col = "updated_at"
	}
	q += ` ORDER BY ` + col + direction(p.Desc) + `, id` + direction(p.Desc) + ` LIMIT ? OFFSET ?`
	args = append(args, p.Limit, p.Offset)
	return queryAll(ctx, s.db, q, args, scanModule)
}

// ownerModules counts an owner's modules (public ones only when
// publicOnly) whose name contains query, and lists a page of them by name
// (none when p.Limit is 0).
func (s *store) ownerModules(ctx context.Context, ownerID string, publicOnly bool, query string, p Page) ([]ModuleRecord, int, error) {
	where, args := ` FROM buf_modules WHERE owner_id = ?`, []any{ownerID}
	if publicOnly {
		where, args = where+` AND visibility = ?`, append(args, VisibilityPublic)
	}
	if query != "" {
		where, args = where+` AND name LIKE ? ESCAPE '\'`, append(args, likeContains(strings.ToLower(query)))
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*)`+where, args...).Scan(&n); err != nil || n == 0 || p.Limit == 0 {
		return nil, n, sqldb.MapErr(err)
	}
	mods, err := queryAll(ctx, s.db, `SELECT `+moduleCols+where+` ORDER BY name LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset), scanModule)
	return mods, n, err
}

func (s *store) countModules(ctx context.Context, ownerKind, ownerID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_modules WHERE owner_kind = ? AND owner_id = ?`, ownerKind, ownerID).Scan(&n)
	return n, sqldb.MapErr(err)
}

func (s *store) updateModule(ctx context.Context, q sqldb.Querier, m ModuleRecord) error {
	_, err := q.Exec(ctx, `UPDATE buf_modules SET visibility = ?, state = ?, description = ?, url = ?, default_label = ?, updated_at = ? WHERE id = ?`,
		m.Visibility, m.State, m.Description, m.URL, m.DefaultLabel, toMicros(m.UpdatedAt), m.ID)
	return err
}

// dependents lists the modules (at most limit) other than moduleID whose
// commits depend on a commit of moduleID.
func (s *store) dependents(ctx context.Context, moduleID string, limit int) ([]string, error) {
	return queryAll(ctx, s.db, `SELECT DISTINCT c.module_id FROM buf_commit_closure d
		JOIN buf_commits dc ON dc.id = d.dep_commit_id
		JOIN buf_commits c ON c.id = d.commit_id
		WHERE dc.module_id = ? AND c.module_id <> ? ORDER BY c.module_id LIMIT ?`, []any{moduleID, moduleID, limit}, scanString)
}

// ownerless lists the modules whose owner, an organization or a user, was
// deleted (the owner's rows do not cascade to modules).
func (s *store) ownerless(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.db, `SELECT m.id FROM buf_modules m
		WHERE (m.owner_kind = ? AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = m.owner_id))
		OR (m.owner_kind = ? AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.owner_id)) ORDER BY m.id`,
		[]any{OwnerOrg, OwnerUser}, scanString)
}

func scanString(r scanner) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}

// deleteModule deletes a module with its commits, files, edges and labels.
func (s *store) deleteModule(ctx context.Context, tx *sqldb.Tx, id string) error {
	for _, q := range []string{
		`DELETE FROM buf_label_history WHERE label_id IN (SELECT id FROM buf_labels WHERE module_id = ?)`,
		`DELETE FROM buf_labels WHERE module_id = ?`,
		`DELETE FROM buf_commit_deps WHERE commit_id IN (SELECT id FROM buf_commits WHERE module_id = ?)`,
		`DELETE FROM buf_commit_closure WHERE commit_id IN (SELECT id FROM buf_commits WHERE module_id = ?)`,
		`DELETE FROM buf_commit_files WHERE commit_id IN (SELECT id FROM buf_commits WHERE module_id = ?)`,
		`DELETE FROM buf_commit_encodings WHERE commit_id IN (SELECT id FROM buf_commits WHERE module_id = ?)`,
		`DELETE FROM buf_commits WHERE module_id = ?`,
		`DELETE FROM buf_modules WHERE id = ?`,
	} {
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// ---- commits ----

const commitCols = `c.id, c.module_id, m.owner_id, c.b5, c.b4, c.created_by_user_id, c.source_control_url, c.created_at`
const commitFrom = ` FROM buf_commits c JOIN buf_modules m ON m.id = c.module_id`

func scanCommit(row scanner) (Commit, error) {
	var c Commit
	var t int64
	err := row.Scan(commitDest(&c, &t)...)
	c.CreatedAt = fromMicros(t)
	return c, err
}

// commitDest is where commitCols scan to; *created is the creation time.
func commitDest(c *Commit, created *int64) []any {
	return []any{&c.ID, &c.ModuleID, &c.OwnerID, &c.B5, &c.B4, &c.CreatedByUserID, &c.SourceControlURL, created}
}

func (s *store) commit(ctx context.Context, id string) (Commit, error) {
	c, err := scanCommit(s.db.QueryRow(ctx, `SELECT `+commitCols+commitFrom+` WHERE c.id = ?`, id))
	if err != nil {
		return Commit{}, notFoundErr(err, "commit %s not found", id)
	}
	return c, nil
}

func (s *store) commits(ctx context.Context, ids []string) (map[string]Commit, error) {
	out := make(map[string]Commit, len(ids))
	err := queryChunks(ctx, s.db, ids, func(in string) string {
		return `SELECT ` + commitCols + commitFrom + ` WHERE c.id IN (` + in + `)`
	}, func(r scanner) error {
		c, err := scanCommit(r)
		if err != nil {
			return err
		}
		out[c.ID] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *store) commitByB5(ctx context.Context, q sqldb.Querier, moduleID, b5 string) (Commit, error) {
	c, err := scanCommit(q.QueryRow(ctx, `SELECT `+commitCols+commitFrom+` WHERE c.module_id = ? AND c.b5 = ?`, moduleID, b5))
	if err != nil {
		return Commit{}, notFoundErr(err, "commit not found")
	}
	return c, nil
}

func (s *store) latestCommit(ctx context.Context, moduleID string) (Commit, error) {
	c, err := scanCommit(s.db.QueryRow(ctx, `SELECT `+commitCols+commitFrom+` WHERE c.module_id = ? ORDER BY c.created_at DESC, c.id DESC LIMIT 1`, moduleID))
	if err != nil {
		return Commit{}, notFoundErr(err, "module has no commits")
	}
	return c, nil
}

func (s *store) listCommits(ctx context.Context, moduleID, idQuery string, p Page) ([]Commit, error) {
	q := `SELECT ` + commitCols + commitFrom + ` WHERE c.module_id = ?`
	args := []any{moduleID}
	if idQuery != "" {
		q += ` AND c.id LIKE ? ESCAPE '\'`
		args = append(args, likeContains(strings.ToLower(idQuery)))
	}
	q += ` ORDER BY c.created_at` + direction(p.Desc) + `, c.id` + direction(p.Desc) + ` LIMIT ? OFFSET ?`
	args = append(args, p.Limit, p.Offset)
	return s.queryCommits(ctx, q, args...)
}

func (s *store) queryCommits(ctx context.Context, q string, args ...any) ([]Commit, error) {
	return queryAll(ctx, s.db, q, args, scanCommit)
}

// insertCommit writes a commit with its files and edges, many rows per
// statement.
func (s *store) insertCommit(ctx context.Context, tx *sqldb.Tx, c Commit, files []CommitFile, deps, closure []string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO buf_commits (id, module_id, b5, b4, created_by_user_id, source_control_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ModuleID, c.B5, c.B4, c.CreatedByUserID, c.SourceControlURL, toMicros(c.CreatedAt)); err != nil {
		return err
	}
	rows := make([][]any, len(files))
	for i, f := range files {
		rows[i] = []any{c.ID, f.Path, f.Blob, f.Shake256}
	}
	if err := insertRows(ctx, tx, `INSERT INTO buf_commit_files (commit_id, path, blob, shake256) VALUES `, rows); err != nil {
		return err
	}
	for _, t := range []struct {
		table string
		ids   []string
	}{{"buf_commit_deps", deps}, {"buf_commit_closure", closure}} {
		rows := make([][]any, len(t.ids))
		for i, d := range t.ids {
			rows[i] = []any{c.ID, d}
		}
		if err := insertRows(ctx, tx, `INSERT INTO `+t.table+` (commit_id, dep_commit_id) VALUES `, rows); err != nil {
			return err
		}
	}
	return nil
}

// commitFiles lists a commit's files by path, with their sizes from the
// blob index.
func (s *store) commitFiles(ctx context.Context, commitID string) ([]CommitFile, error) {
	return queryAll(ctx, s.db, `SELECT f.path, f.blob, f.shake256, COALESCE(b.size, -1) FROM buf_commit_files f
		LEFT JOIN blobs b ON b.digest = f.blob WHERE f.commit_id = ? ORDER BY f.path`, []any{commitID},
		func(r scanner) (CommitFile, error) {
			var f CommitFile
			err := r.Scan(&f.Path, &f.Blob, &f.Shake256, &f.Size)
			return f, err
		})
}

// protoPaths returns the .proto paths of each commit.
func (s *store) protoPaths(ctx context.Context, ids []string) (map[string][]string, error) {
	return queryPairs(ctx, s.db, ids, func(in string) string {
		return `SELECT commit_id, path FROM buf_commit_files WHERE commit_id IN (` + in + `) AND path LIKE '%.proto'`
	})
}

// deps returns the direct dependencies of each commit.
func (s *store) deps(ctx context.Context, ids []string) (map[string][]string, error) {
	return s.edges(ctx, "buf_commit_deps", ids)
}

// closure returns every dependency of each commit, direct or not.
func (s *store) closure(ctx context.Context, ids []string) (map[string][]string, error) {
	return s.edges(ctx, "buf_commit_closure", ids)
}

func (s *store) edges(ctx context.Context, table string, ids []string) (map[string][]string, error) {
	return queryPairs(ctx, s.db, ids, func(in string) string {
		return `SELECT commit_id, dep_commit_id FROM ` + table + ` WHERE commit_id IN (` + in + `) ORDER BY commit_id, dep_commit_id`
	})
}

// ---- encodings ----

// encoding is a commit's stored encoding of one kind: its CAS blob and size.
type encoding struct {
	Blob string
	Size int64
}

// encodings returns the stored encodings of kind of the commits that have one.
func (s *store) encodings(ctx context.Context, ids []string, kind string) (map[string]encoding, error) {
	out := map[string]encoding{}
	err := queryChunks(ctx, s.db, ids, func(in string) string {
		return `SELECT commit_id, blob, size FROM buf_commit_encodings WHERE kind = '` + kind + `' AND commit_id IN (` + in + `)`
	}, func(r scanner) error {
		var id string
		var e encoding
		if err := r.Scan(&id, &e.Blob, &e.Size); err != nil {
			return err
		}
		out[id] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertEncoding records a commit's encoding, whose blob is complete in the
// CAS; an encoding already recorded stays.
func (s *store) insertEncoding(ctx context.Context, q sqldb.Querier, commitID, kind string, e encoding) error {
	_, err := q.Exec(ctx, `INSERT INTO buf_commit_encodings (commit_id, kind, blob, size) VALUES (?, ?, ?, ?)
		ON CONFLICT (commit_id, kind) DO NOTHING`, commitID, kind, e.Blob, e.Size)
	return err
}

// ---- labels ----

const labelCols = `l.id, l.module_id, m.owner_id, l.name, l.commit_id, l.created_at, l.updated_at, l.archived_at, l.updated_by_user_id`
const labelFrom = ` FROM buf_labels l JOIN buf_modules m ON m.id = l.module_id`

func scanLabel(row scanner) (Label, error) { return scanLabelAnd(row) }

// scanLabelAnd scans labelCols and then more.
func scanLabelAnd(row scanner, more ...any) (Label, error) {
	var l Label
	var c, u int64
	var a sql.NullInt64
	err := row.Scan(append([]any{&l.ID, &l.ModuleID, &l.OwnerID, &l.Name, &l.CommitID, &c, &u, &a, &l.UpdatedByUserID}, more...)...)
	l.CreatedAt, l.UpdatedAt = fromMicros(c), fromMicros(u)
	if a.Valid {
		l.ArchivedAt = fromMicros(a.Int64)
	}
	return l, err
}

func (s *store) label(ctx context.Context, q sqldb.Querier, moduleID, name string) (Label, error) {
	l, err := scanLabel(q.QueryRow(ctx, `SELECT `+labelCols+labelFrom+` WHERE l.module_id = ? AND l.name = ?`, moduleID, name))
	if err != nil {
		return Label{}, notFoundErr(err, "label %q not found", name)
	}
	return l, nil
}

// labelCommit returns a label of a module with the commit it points at, in one query.
func (s *store) labelCommit(ctx context.Context, moduleID, name string) (Label, Commit, error) {
	row := s.db.QueryRow(ctx, `SELECT `+labelCols+`, `+commitCols+labelFrom+` JOIN buf_commits c ON c.id = l.commit_id
		WHERE l.module_id = ? AND l.name = ?`, moduleID, name)
	var c Commit
	var t int64
	l, err := scanLabelAnd(row, commitDest(&c, &t)...)
	if err != nil {
		return Label{}, Commit{}, notFoundErr(err, "label %q not found", name)
	}
	c.CreatedAt = fromMicros(t)
	return l, c, nil
}

func (s *store) labelByID(ctx context.Context, id string) (Label, error) {
	l, err := scanLabel(s.db.QueryRow(ctx, `SELECT `+labelCols+labelFrom+` WHERE l.id = ?`, id))
	if err != nil {
		return Label{}, notFoundErr(err, "label %s not found", id)
	}
	return l, nil
}

// Archive filters of listLabels.
const (
	archivedExclude = iota
	archivedOnly
	archivedAll
)

// listLabels lists a module's labels (on commitID, whose name contains
// nameQuery, other than except, when set).
func (s *store) listLabels(ctx context.Context, moduleID, commitID, nameQuery, except string, archived int, byUpdate bool, p Page) ([]Label, error) {
	q := `SELECT ` + labelCols + labelFrom + ` WHERE l.module_id = ?`
	args := []any{moduleID}
	if except != "" {
		q, args = q+` AND l.name <> ?`, append(args, except)
	}
	if commitID != "" {
		q += ` AND l.commit_id = ?`
		args = append(args, commitID)
	}
	if nameQuery != "" {
		q += ` AND l.name LIKE ? ESCAPE '\'`
		args = append(args, likeContains(nameQuery))
	}
	switch archived {
	case archivedExclude:
		q += ` AND l.archived_at IS NULL`
	case archivedOnly:
		q += ` AND l.archived_at IS NOT NULL`
	}
	col := "l.created_at"
	if byUpdate {
		col = "l.updated_at"
	}
	q += ` ORDER BY ` + col + direction(p.Desc) + `, l.id` + direction(p.Desc) + ` LIMIT ? OFFSET ?`
	args = append(args, p.Limit, p.Offset)
	return queryAll(ctx, s.db, q, args, scanLabel)
}

// setLabel points a label at a commit, creating it if needed, unarchiving it,
// and appending to its history when the commit changes.
func (s *store) setLabel(ctx context.Context, tx *sqldb.Tx, moduleID, name, commitID, userID string, now time.Time) (Label, error) {
	l, err := s.label(ctx, tx, moduleID, name)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		l = Label{ID: metadata.NewID(), ModuleID: moduleID, Name: name, CommitID: commitID, CreatedAt: now, UpdatedAt: now, UpdatedByUserID: userID}
		if _, err := tx.Exec(ctx, `INSERT INTO buf_labels (id, module_id, name, commit_id, created_at, updated_at, updated_by_user_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.ID, moduleID, name, commitID, toMicros(now), toMicros(now), userID); err != nil {
			return Label{}, err
		}
	case err != nil:
		return Label{}, err
	default:
		changed := l.CommitID != commitID
		if !changed && l.ArchivedAt.IsZero() {
			return s.label(ctx, tx, moduleID, name)
		}
		if _, err := tx.Exec(ctx, `UPDATE buf_labels SET commit_id = ?, updated_at = ?, archived_at = NULL, updated_by_user_id = ? WHERE id = ?`,
			commitID, toMicros(now), userID, l.ID); err != nil {
			return Label{}, err
		}
		if !changed {
			return s.label(ctx, tx, moduleID, name)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO buf_label_history (id, label_id, commit_id, created_at) VALUES (?, ?, ?, ?)`,
		metadata.NewID(), l.ID, commitID, toMicros(now)); err != nil {
		return Label{}, err
	}
	return s.label(ctx, tx, moduleID, name)
}

func (s *store) setArchived(ctx context.Context, q sqldb.Querier, labelID string, at time.Time) error {
	var v any
	if !at.IsZero() {
		v = toMicros(at)
	}
	_, err := q.Exec(ctx, `UPDATE buf_labels SET archived_at = ?, updated_at = ? WHERE id = ?`, v, toMicros(nowUTC()), labelID)
	return err
}

// labelHistory lists the commits a label pointed at, newest first unless asc.
func (s *store) labelHistory(ctx context.Context, labelID string, p Page) ([]Commit, error) {
	dir := direction(p.Desc)
	return s.queryCommits(ctx, `SELECT `+commitCols+` FROM buf_label_history h JOIN buf_commits c ON c.id = h.commit_id JOIN buf_modules m ON m.id = c.module_id
		WHERE h.label_id = ? ORDER BY h.id`+dir+` LIMIT ? OFFSET ?`, labelID, p.Limit, p.Offset)
}

// countCommits counts a module's commits.
func (s *store) countCommits(ctx context.Context, moduleID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_commits WHERE module_id = ?`, moduleID).Scan(&n)
	return n, sqldb.MapErr(err)
}

// countLabels counts a module's unarchived labels.
func (s *store) countLabels(ctx context.Context, moduleID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_labels WHERE module_id = ? AND archived_at IS NULL`, moduleID).Scan(&n)
	return n, sqldb.MapErr(err)
}

// commitLabels returns the names of the unarchived labels on each commit.
func (s *store) commitLabels(ctx context.Context, ids []string) (map[string][]string, error) {
	return queryPairs(ctx, s.db, ids, func(in string) string {
		return `SELECT commit_id, name FROM buf_labels WHERE archived_at IS NULL AND commit_id IN (` + in + `) ORDER BY commit_id, name`
	})
}

func (s *store) hasPublicModule(ctx context.Context, ownerID string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_modules WHERE owner_id = ? AND visibility = ?`, ownerID, VisibilityPublic).Scan(&n)
	return n > 0, sqldb.MapErr(err)
}
