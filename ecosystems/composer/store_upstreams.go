package composer

import (
	"context"
	"database/sql"

	"github.com/packyard/packyard/pkg/sqldb"
)

// The SQL of upstreams, their stored answers, and advisories (the store
// type and the rest of the Composer SQL are in store.go).

// ---- upstreams ----

// lastUpstreamPriority is the highest priority among an organization's
// upstreams, -10 when it has none.
func (s *store) lastUpstreamPriority(ctx context.Context, tx *sqldb.Tx, orgID string) (int, error) {
	var p int
	err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(priority), -10) FROM composer_upstreams WHERE org_id = ?`, orgID).Scan(&p)
	return p, err
}

func (s *store) insertUpstream(ctx context.Context, tx *sqldb.Tx, orgID string, u upstreamRow, sealed []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO composer_upstreams (id, org_id, url, username, credential, priority, created_at, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, u.ID, orgID, u.URL, u.Username, sealed, u.Priority, u.Created, u.State)
	return err
}

// setUpstreamState records the outcome of an upstream's check; false when
// the upstream is gone.
func (s *store) setUpstreamState(ctx context.Context, q sqldb.Querier, id, state string) (bool, error) {
	res, err := q.Exec(ctx, `UPDATE composer_upstreams SET state = ? WHERE id = ?`, state, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// uncheckedUpstreams lists the upstreams of every organization that have
// not passed their check, with their organization.
func (s *store) uncheckedUpstreams(ctx context.Context) ([]orgUpstream, error) {
	rows, err := s.db.Query(ctx, `SELECT o.id, o.name, u.id, u.url, u.username, u.credential IS NOT NULL, u.priority, u.created_at, u.state
		FROM composer_upstreams u JOIN orgs o ON o.id = u.org_id WHERE u.state <> ? ORDER BY u.created_at, u.id`, upstreamOK)
	return collect(rows, err, func(r *sql.Rows) (o orgUpstream, err error) {
		u := &o.Upstream
		return o, r.Scan(&o.Org.ID, &o.Org.Name, &u.ID, &u.URL, &u.Username, &u.HasCred, &u.Priority, &u.Created, &u.State)
	})
}

// deleteUpstream removes an organization's upstream named by URL or id and
// returns both.
func (s *store) deleteUpstream(ctx context.Context, tx *sqldb.Tx, orgID, urlOrID string) (id, url string, err error) {
	err = sqldb.MapErr(tx.QueryRow(ctx, `SELECT id, url FROM composer_upstreams WHERE org_id = ? AND (url = ? OR id = ?)`,
		orgID, urlOrID, urlOrID).Scan(&id, &url))
	if err != nil {
		return "", "", err
	}
	_, err = tx.Exec(ctx, `DELETE FROM composer_upstreams WHERE id = ?`, id)
	return id, url, err
}

func (s *store) countUpstreams(ctx context.Context, q sqldb.Querier, orgID string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM composer_upstreams WHERE org_id = ?`, orgID).Scan(&n)
	return n, err
}

// upstreams lists an organization's upstreams in the order they are asked.
func (s *store) upstreams(ctx context.Context, orgID string) ([]upstreamRow, error) {
	rows, err := s.db.Query(ctx, `SELECT id, url, username, credential IS NOT NULL, priority, created_at, state FROM composer_upstreams
		WHERE org_id = ? ORDER BY priority, created_at, id`, orgID)
	return collect(rows, err, func(r *sql.Rows) (upstreamRow, error) {
		var u upstreamRow
		return u, r.Scan(&u.ID, &u.URL, &u.Username, &u.HasCred, &u.Priority, &u.Created, &u.State)
	})
}

func (s *store) upstreamCredential(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	err := s.db.QueryRow(ctx, `SELECT credential FROM composer_upstreams WHERE id = ?`, id).Scan(&sealed)
	return sealed, sqldb.MapErr(err)
}

// upstreamDoc is the last answer of an upstream for one document.
func (s *store) upstreamDoc(ctx context.Context, upstreamID, key string) (upDoc, bool, error) {
	var d upDoc
	ok, err := found(s.db.QueryRow(ctx, `SELECT status, body, digest, last_modified, checked_at, changed_at FROM composer_upstream_docs
		WHERE upstream_id = ? AND doc_key = ?`, upstreamID, key).Scan(&d.Status, &d.Body, &d.Digest, &d.LastMod, &d.Checked, &d.Changed))
	return d, ok, err
}

func (s *store) putUpstreamDoc(ctx context.Context, q sqldb.Querier, upstreamID, key string, d upDoc) error {
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	_, err := q.Exec(ctx, `INSERT INTO composer_upstream_docs (upstream_id, doc_key, status, body, digest, last_modified, checked_at, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upstream_id, doc_key) DO UPDATE SET status = excluded.status, body = excluded.body,
		digest = excluded.digest, last_modified = excluded.last_modified, checked_at = excluded.checked_at, changed_at = excluded.changed_at`,
		upstreamID, key, d.Status, body, d.Digest, d.LastMod, d.Checked, d.Changed)
	return err
}

// ---- advisories ----

func (s *store) insertAdvisory(ctx context.Context, orgID string, a Advisory) error {
	_, err := s.db.Exec(ctx, `INSERT INTO composer_advisories (id, org_id, package, versions, title, cve, link, severity, reported_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, orgID, a.Package, a.Versions, a.Title, a.CVE, a.Link, a.Severity, micros(a.ReportedAt))
	return err
}

// deleteAdvisory removes an advisory; deleted is false when there was none.
func (s *store) deleteAdvisory(ctx context.Context, orgID, id string) (deleted bool, err error) {
	n, err := sqldb.Affected(s.db.Exec(ctx, `DELETE FROM composer_advisories WHERE org_id = ? AND id = ?`, orgID, id))
	return n > 0, err
}

// advisories lists an organization's advisories, of every package or of names.
func (s *store) advisories(ctx context.Context, orgID string, names []string) ([]Advisory, error) {
	q := `SELECT id, package, versions, title, cve, link, severity, reported_at FROM composer_advisories WHERE org_id = ?`
	args := []any{orgID}
	if len(names) > 0 {
		q += ` AND package IN (` + placeholders(len(names)) + `)`
		for _, n := range names {
			args = append(args, n)
		}
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY package, reported_at, id`, args...)
	return collect(rows, err, func(r *sql.Rows) (Advisory, error) {
		var a Advisory
		var at int64
		err := r.Scan(&a.ID, &a.Package, &a.Versions, &a.Title, &a.CVE, &a.Link, &a.Severity, &at)
		a.ReportedAt = fromMicros(at)
		return a, err
	})
}
