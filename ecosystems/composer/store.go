package composer

import (
	"context"
	"database/sql"

	"github.com/packyard/packyard/pkg/sqldb"
)

// store holds the composer_* tables: every SQL statement of the Composer
// ecosystem is here or, for upstreams and advisories, in store_upstreams.go. A method that takes a Querier or a Tx runs in the
// caller's transaction, the others on the database. Times are stored as
// microseconds since the epoch.
type store struct{ db *sqldb.DB }

// ---- packages and versions ----

func (s *store) packageID(ctx context.Context, q sqldb.Querier, orgID, name string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT id FROM composer_packages WHERE org_id = ? AND name = ?`, orgID, name).Scan(&id)
	return id, sqldb.MapErr(err)
}

func (s *store) insertPackage(ctx context.Context, tx *sqldb.Tx, id, orgID, name string, now int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO composer_packages (id, org_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		id, orgID, name, now, now)
	return err
}

func (s *store) setDescription(ctx context.Context, tx *sqldb.Tx, packageID, description string, now int64) error {
	_, err := tx.Exec(ctx, `UPDATE composer_packages SET description = ?, updated_at = ? WHERE id = ?`, description, now, packageID)
	return err
}

// owns reports whether an organization has a package of that name, or a
// git source that gives it (with or without versions left).
func (s *store) owns(ctx context.Context, orgID, name string) (bool, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM composer_packages WHERE org_id = ? AND name = ?`, orgID, name).Scan(&n); err != nil || n > 0 {
		return n > 0, err
	}
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM composer_sources WHERE org_id = ? AND package_name = ?`, orgID, name).Scan(&n)
	return n > 0, err
}

// owned is the names among names the organization owns (see owns).
func (s *store) owned(ctx context.Context, orgID string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	args := []any{orgID}
	for _, n := range names {
		args = append(args, n)
	}
	args = append(args, args...)
	marks := placeholders(len(names))
	rows, err := s.db.Query(ctx, `SELECT name FROM composer_packages WHERE org_id = ? AND name IN (`+marks+`)
			UNION SELECT package_name FROM composer_sources WHERE org_id = ? AND package_name IN (`+marks+`)`, args...)
	return collect(rows, err, scanString)
}

// publishedNames lists the names of an organization's packages that have
// versions and match like (a LIKE pattern; "%" for every name).
func (s *store) publishedNames(ctx context.Context, q sqldb.Querier, orgID, like string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT p.name FROM composer_packages p WHERE p.org_id = ? AND p.name LIKE ? ESCAPE '\'
		AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id) ORDER BY p.name`, orgID, like)
	return collect(rows, err, scanString)
}

// versions lists a package's versions (versions and entry only).
func (s *store) versions(ctx context.Context, q sqldb.Querier, packageID string) ([]versionRow, error) {
	rows, err := q.Query(ctx, `SELECT normalized, version, entry FROM composer_versions WHERE package_id = ?`, packageID)
	return collect(rows, err, func(r *sql.Rows) (versionRow, error) {
		var v versionRow
		return v, r.Scan(&v.Normalized, &v.Version, &v.Entry)
	})
}

// sourceVersions are the versions a git source gives, by pretty version.
func (s *store) sourceVersions(ctx context.Context, q sqldb.Querier, sourceID string) (map[string]versionRow, error) {
	rows, err := q.Query(ctx, `SELECT normalized, version, entry, reference FROM composer_versions WHERE source_id = ?`, sourceID)
	vs, err := collect(rows, err, func(r *sql.Rows) (versionRow, error) {
		var v versionRow
		return v, r.Scan(&v.Normalized, &v.Version, &v.Entry, &v.Reference)
	})
	out := make(map[string]versionRow, len(vs))
	for _, v := range vs {
		out[v.Version] = v
	}
	return out, err
}

// otherVersions are a package's versions held by uploads or other sources.
func (s *store) otherVersions(ctx context.Context, tx *sqldb.Tx, packageID, sourceID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT normalized FROM composer_versions WHERE package_id = ? AND (source_id IS NULL OR source_id <> ?)`,
		packageID, sourceID)
	return collect(rows, err, scanString)
}

// hasVersion reports whether an organization's package has a version of
// that normalized version.
func (s *store) hasVersion(ctx context.Context, q sqldb.Querier, orgID, name, normalized string) (bool, error) {
	var one int
	return found(q.QueryRow(ctx, `SELECT 1 FROM composer_versions v JOIN composer_packages p ON p.id = v.package_id
		WHERE p.org_id = ? AND p.name = ? AND v.normalized = ? LIMIT 1`, orgID, name, normalized).Scan(&one))
}

// versionsNamed are the versions of an organization's package whose pretty
// version is asked or whose normalized version is normalized, with their
// package and whether a git source gives them.
func (s *store) versionsNamed(ctx context.Context, tx *sqldb.Tx, orgID, name, asked, normalized string) ([]namedVersion, error) {
	rows, err := tx.Query(ctx, `SELECT p.id, v.normalized, v.version, v.source_id IS NOT NULL FROM composer_versions v
		JOIN composer_packages p ON p.id = v.package_id WHERE p.org_id = ? AND p.name = ? AND (v.version = ? OR v.normalized = ?)`,
		orgID, name, asked, normalized)
	return collect(rows, err, func(r *sql.Rows) (namedVersion, error) {
		var v namedVersion
		return v, r.Scan(&v.PackageID, &v.Normalized, &v.Version, &v.FromGit)
	})
}

// insertVersion adds a version, uploaded (sourceID "") or from a git source.
func (s *store) insertVersion(ctx context.Context, tx *sqldb.Tx, packageID, sourceID string, v versionRow, created int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO composer_versions (package_id, normalized, version, reference, source_id, ref_name, entry, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, packageID, v.Normalized, v.Version, v.Reference, nullable(sourceID), v.RefName, v.Entry, created)
	return err
}

func (s *store) updateVersion(ctx context.Context, tx *sqldb.Tx, packageID string, v versionRow) error {
	_, err := tx.Exec(ctx, `UPDATE composer_versions SET normalized = ?, reference = ?, ref_name = ?, entry = ? WHERE package_id = ? AND version = ?`,
		v.Normalized, v.Reference, v.RefName, v.Entry, packageID, v.Version)
	return err
}

func (s *store) deleteVersion(ctx context.Context, tx *sqldb.Tx, packageID, version string) error {
	_, err := tx.Exec(ctx, `DELETE FROM composer_versions WHERE package_id = ? AND version = ?`, packageID, version)
	return err
}

// countDownloads counts installs of normalized versions (name, normalized; all Composer reports of
// each), and of their packages on a day (days since the epoch, UTC), in one transaction; unknown versions are ignored.
func (s *store) countDownloads(ctx context.Context, orgID string, versions [][2]string, day int64) error {
	const known = ` FROM composer_packages p WHERE p.org_id = ? AND p.name = ?
			AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id AND v.normalized = ?)`
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, v := range versions {
			res, err := tx.Exec(ctx, `INSERT INTO composer_downloads (package_id, normalized, count) SELECT p.id, ?, 1`+known+`
					ON CONFLICT (package_id, normalized) DO UPDATE SET count = composer_downloads.count + 1`, v[1], orgID, v[0], v[1])
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO composer_download_days (package_id, day, count) SELECT p.id, ?, 1`+known+`
					ON CONFLICT (package_id, day) DO UPDATE SET count = composer_download_days.count + 1`, day, orgID, v[0], v[1]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// downloadDays is a package's installs per day from a day on.
func (s *store) downloadDays(ctx context.Context, packageID string, from int64) ([]DayCount, error) {
	rows, err := s.db.Query(ctx, `SELECT day, count FROM composer_download_days WHERE package_id = ? AND day >= ? ORDER BY day`,
		packageID, from)
	return collect(rows, err, func(r *sql.Rows) (DayCount, error) {
		var d DayCount
		return d, r.Scan(&d.Day, &d.Count)
	})
}

// summaryFilter selects an organization's packages with versions whose
// name or description contains like's text.
const summaryFilter = ` FROM composer_packages p WHERE p.org_id = ?
	AND (p.name LIKE ? ESCAPE '\' OR LOWER(p.description) LIKE ? ESCAPE '\')
	AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id)`

// countSummaries counts the packages summaries would list without limits.
func (s *store) countSummaries(ctx context.Context, orgID, like string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*)`+summaryFilter, orgID, like, like).Scan(&n)
	return n, err
}

// summaries lists a page of an organization's packages by name (see
// summaryFilter), with their version count, installs and last addition.
func (s *store) summaries(ctx context.Context, orgID, like string, limit, offset int) ([]PackageSummary, error) {
	rows, err := s.db.Query(ctx, `SELECT p.name, p.description,
		(SELECT COUNT(*) FROM composer_versions v WHERE v.package_id = p.id),
		(SELECT COALESCE(SUM(d.count), 0) FROM composer_downloads d WHERE d.package_id = p.id),
		(SELECT MAX(v.created_at) FROM composer_versions v WHERE v.package_id = p.id)`+summaryFilter+`
		ORDER BY p.name LIMIT ? OFFSET ?`, orgID, like, like, limit, offset)
	return collect(rows, err, func(r *sql.Rows) (PackageSummary, error) {
		var x PackageSummary
		var at int64
		err := r.Scan(&x.Name, &x.Description, &x.Versions, &x.Downloads, &at)
		x.Updated = fromMicros(at)
		return x, err
	})
}

// packageRow is a package's id and description.
func (s *store) packageRow(ctx context.Context, orgID, name string) (id, description string, err error) {
	err = s.db.QueryRow(ctx, `SELECT id, description FROM composer_packages WHERE org_id = ? AND name = ?`, orgID, name).Scan(&id, &description)
	return id, description, sqldb.MapErr(err)
}

// versionDetails lists a package's versions with their origin, installs and
// archive (in no particular order).
func (s *store) versionDetails(ctx context.Context, packageID string) ([]storedVersion, error) {
	rows, err := s.db.Query(ctx, `SELECT v.version, v.normalized, v.reference, COALESCE(src.url, ''), v.ref_name, v.entry, v.created_at,
		COALESCE(d.count, 0), COALESCE(x.digest, ''), COALESCE(x.sha1, ''), COALESCE(x.size, 0)
		FROM composer_versions v LEFT JOIN composer_sources src ON src.id = v.source_id
		LEFT JOIN composer_downloads d ON d.package_id = v.package_id AND d.normalized = v.normalized
		LEFT JOIN composer_dists x ON x.package_id = v.package_id AND x.reference = v.reference
		WHERE v.package_id = ?`, packageID)
	return collect(rows, err, func(r *sql.Rows) (storedVersion, error) {
		var x storedVersion
		return x, r.Scan(&x.Version, &x.Normalized, &x.Reference, &x.Source, &x.Ref, &x.Entry, &x.Created,
			&x.Downloads, &x.Digest, &x.SHA1, &x.Size)
	})
}

// listPackages lists an organization's packages, each with its versions
// (in no particular order).
func (s *store) listPackages(ctx context.Context, orgID string) ([]PackageInfo, error) {
	type row struct {
		name, desc string
		v          PackageVersion
	}
	rows, err := s.db.Query(ctx, `SELECT p.name, p.description, v.version, v.normalized, v.reference, COALESCE(src.url, ''), v.ref_name,
		COALESCE(d.count, 0)
		FROM composer_packages p JOIN composer_versions v ON v.package_id = p.id
		LEFT JOIN composer_sources src ON src.id = v.source_id
		LEFT JOIN composer_downloads d ON d.package_id = p.id AND d.normalized = v.normalized
		WHERE p.org_id = ? ORDER BY p.name`, orgID)
	rs, err := collect(rows, err, func(r *sql.Rows) (row, error) {
		var x row
		return x, r.Scan(&x.name, &x.desc, &x.v.Version, &x.v.Normalized, &x.v.Reference, &x.v.Source, &x.v.Ref, &x.v.Downloads)
	})
	out := []PackageInfo{}
	for _, x := range rs {
		if len(out) == 0 || out[len(out)-1].Name != x.name {
			out = append(out, PackageInfo{Name: x.name, Description: x.desc})
		}
		p := &out[len(out)-1]
		p.Versions = append(p.Versions, x.v)
	}
	return out, err
}

// searchPackages finds an organization's packages with versions whose name
// or description contains every term (at most 200, by name).
func (s *store) searchPackages(ctx context.Context, orgID string, terms []string) (ids []string, hits []SearchResult, err error) {
	query := `SELECT p.id, p.name, p.description FROM composer_packages p WHERE p.org_id = ?
		AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id)`
	args := []any{orgID}
	for _, t := range terms {
		query += ` AND (p.name LIKE ? ESCAPE '\' OR LOWER(p.description) LIKE ? ESCAPE '\')`
		args = append(args, "%"+likeEscape(t)+"%", "%"+likeEscape(t)+"%")
	}
	rows, err := s.db.Query(ctx, query+` ORDER BY p.name LIMIT 200`, args...)
	hits, err = collect(rows, err, func(r *sql.Rows) (SearchResult, error) {
		var id string
		var h SearchResult
		err := r.Scan(&id, &h.Name, &h.Description)
		ids = append(ids, id)
		return h, err
	})
	return ids, hits, err
}

// latestEntry is the entry of a package's most recently added version.
func (s *store) latestEntry(ctx context.Context, packageID string) (string, error) {
	var entry string
	err := s.db.QueryRow(ctx, `SELECT entry FROM composer_versions WHERE package_id = ? ORDER BY created_at DESC, normalized DESC, version LIMIT 1`,
		packageID).Scan(&entry)
	return entry, err
}

// ---- archives ----

// insertDist records a package's archive at a reference unless one is
// there; inserted reports whether this one was recorded.
func (s *store) insertDist(ctx context.Context, tx *sqldb.Tx, packageID, reference string, a archiveRow) (inserted bool, err error) {
	n, err := sqldb.Affected(tx.Exec(ctx, `INSERT INTO composer_dists (package_id, reference, digest, sha1, size, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, reference) DO NOTHING`,
		packageID, reference, a.Digest, a.SHA1, a.Size, a.Created))
	return n > 0, err
}

func (s *store) dist(ctx context.Context, packageID, reference string) (archiveRow, bool, error) {
	var a archiveRow
	ok, err := found(s.db.QueryRow(ctx, `SELECT digest, sha1, size, created_at FROM composer_dists WHERE package_id = ? AND reference = ?`,
		packageID, reference).Scan(&a.Digest, &a.SHA1, &a.Size, &a.Created))
	return a, ok, err
}

func (s *store) distOf(ctx context.Context, orgID, name, reference string) (archiveRow, bool, error) {
	var a archiveRow
	ok, err := found(s.db.QueryRow(ctx, `SELECT d.digest, d.sha1, d.size, d.created_at FROM composer_dists d
		JOIN composer_packages p ON p.id = d.package_id WHERE p.org_id = ? AND p.name = ? AND d.reference = ?`,
		orgID, name, reference).Scan(&a.Digest, &a.SHA1, &a.Size, &a.Created))
	return a, ok, err
}

func (s *store) mirrored(ctx context.Context, orgID, name, key string) (archiveRow, bool, error) {
	var a archiveRow
	ok, err := found(s.db.QueryRow(ctx, `SELECT digest, sha1, size, created_at FROM composer_mirror_dists WHERE org_id = ? AND name = ? AND dist_key = ?`,
		orgID, name, key).Scan(&a.Digest, &a.SHA1, &a.Size, &a.Created))
	return a, ok, err
}

// mirroredKeys are the archive keys of a package stored in the mirror.
func (s *store) mirroredKeys(ctx context.Context, orgID, name string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT dist_key FROM composer_mirror_dists WHERE org_id = ? AND name = ?`, orgID, name)
	return collect(rows, err, scanString)
}

// insertMirrored records a mirrored archive unless one is there; inserted
// reports whether this one was recorded.
func (s *store) insertMirrored(ctx context.Context, tx *sqldb.Tx, orgID, name, key, url string, a archiveRow) (inserted bool, err error) {
	res, err := tx.Exec(ctx, `INSERT INTO composer_mirror_dists (org_id, name, dist_key, url, digest, sha1, size, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name, dist_key) DO NOTHING`,
		orgID, name, key, url, a.Digest, a.SHA1, a.Size, a.Created)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SweepRefs removes the CAS references of archives whose rows are gone (an
// organization's deletion cascades to them): "composer:dist:PACKAGE:REF"
// without its composer_dists row, "composer:mirror:ORG:NAME:KEY" once ORG
// has no mirrored archive left. Ids have 32 characters (metadata.NewID).
func (s *store) SweepRefs(ctx context.Context) (int64, error) {
	dists, distArg := sqldb.HasPrefix(s.db.Dialect(), "ref", "composer:dist:")
	n, err := sqldb.Affected(s.db.Exec(ctx, `DELETE FROM blob_refs WHERE `+dists+` AND substr(ref, 47, 1) = ':' AND NOT EXISTS (
		SELECT 1 FROM composer_dists d WHERE d.package_id = substr(blob_refs.ref, 15, 32) AND d.reference = substr(blob_refs.ref, 48))`, distArg))
	if err != nil {
		return n, err
	}
	mirrors, mirrorArg := sqldb.HasPrefix(s.db.Dialect(), "ref", "composer:mirror:")
	m, err := sqldb.Affected(s.db.Exec(ctx, `DELETE FROM blob_refs WHERE `+mirrors+` AND substr(ref, 49, 1) = ':' AND NOT EXISTS (
		SELECT 1 FROM composer_mirror_dists m WHERE m.org_id = substr(blob_refs.ref, 17, 32))`, mirrorArg))
	return n + m, err
}

// ---- git sources and their refs ----

const sourceCols = `id, org_id, url, username, credential_kind, credential, known_hosts, webhook_secret, package_name, default_branch, status, last_error, synced_at, sync_duration_ms`

func scanSource(r interface{ Scan(...any) error }) (sourceRow, error) {
	var x sourceRow
	err := r.Scan(&x.ID, &x.OrgID, &x.URL, &x.Username, &x.Kind, &x.Credential, &x.KnownHosts, &x.WebhookSecret,
		&x.Package, &x.DefaultBranch, &x.Status, &x.LastError, &x.SyncedAt, &x.SyncMillis)
	return x, sqldb.MapErr(err)
}

func (s *store) insertSource(ctx context.Context, r sourceRow, created int64) error {
	_, err := s.db.Exec(ctx, `INSERT INTO composer_sources (id, org_id, url, username, credential_kind, credential, known_hosts, webhook_secret, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.OrgID, r.URL, r.Username, r.Kind, r.Credential, r.KnownHosts, r.WebhookSecret, created)
	return err
}

func (s *store) sourceByURL(ctx context.Context, orgID, url string) (sourceRow, error) {
	return scanSource(s.db.QueryRow(ctx, `SELECT `+sourceCols+` FROM composer_sources WHERE org_id = ? AND url = ?`, orgID, url))
}

func (s *store) sourceByID(ctx context.Context, id string) (sourceRow, error) {
	return scanSource(s.db.QueryRow(ctx, `SELECT `+sourceCols+` FROM composer_sources WHERE id = ?`, id))
}

func (s *store) sources(ctx context.Context, orgID string) ([]sourceRow, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sourceCols+` FROM composer_sources WHERE org_id = ? ORDER BY url`, orgID)
	return collect(rows, err, func(r *sql.Rows) (sourceRow, error) { return scanSource(r) })
}

// sourceIDs lists an organization's sources by URL, or every source
// (orgID "") least recently synced first.
func (s *store) sourceIDs(ctx context.Context, orgID string) ([]string, error) {
	if orgID == "" {
		rows, err := s.db.Query(ctx, `SELECT id FROM composer_sources ORDER BY synced_at`)
		return collect(rows, err, scanString)
	}
	rows, err := s.db.Query(ctx, `SELECT id FROM composer_sources WHERE org_id = ? ORDER BY url`, orgID)
	return collect(rows, err, scanString)
}

func (s *store) syncedAt(ctx context.Context, id string) (sql.NullInt64, error) {
	var at sql.NullInt64
	err := s.db.QueryRow(ctx, `SELECT synced_at FROM composer_sources WHERE id = ?`, id).Scan(&at)
	return at, err
}

// sourcePackages are the packages a source gives versions of (id → name).
func (s *store) sourcePackages(ctx context.Context, tx *sqldb.Tx, sourceID string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT p.id, p.name FROM composer_versions v JOIN composer_packages p ON p.id = v.package_id WHERE v.source_id = ?`, sourceID)
	pairs, err := collect(rows, err, func(r *sql.Rows) ([2]string, error) {
		var p [2]string
		return p, r.Scan(&p[0], &p[1])
	})
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p[0]] = p[1]
	}
	return out, err
}

// deleteSource removes a source with the versions it gives.
func (s *store) deleteSource(ctx context.Context, tx *sqldb.Tx, sourceID string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM composer_versions WHERE source_id = ?`, sourceID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM composer_sources WHERE id = ?`, sourceID)
	return err
}

// syncFailed records a failed sync on its source.
func (s *store) syncFailed(ctx context.Context, id, message string, at int64) error {
	_, err := s.db.Exec(ctx, `UPDATE composer_sources SET status = 'error', last_error = ?, synced_at = ? WHERE id = ?`, message, at, id)
	return err
}

// setSyncDuration records how long a source's last sync took.
func (s *store) setSyncDuration(ctx context.Context, id string, millis int64) error {
	_, err := s.db.Exec(ctx, `UPDATE composer_sources SET sync_duration_ms = ? WHERE id = ?`, millis, id)
	return err
}

// syncUnchanged records a sync that found nothing new.
func (s *store) syncUnchanged(ctx context.Context, id string, at int64) error {
	_, err := s.db.Exec(ctx, `UPDATE composer_sources SET status = 'ok', last_error = '', synced_at = ? WHERE id = ?`, at, id)
	return err
}

// syncDone records a sync, with the package name and default branch it found.
func (s *store) syncDone(ctx context.Context, tx *sqldb.Tx, id, pkg, defaultBranch string, at int64) error {
	_, err := tx.Exec(ctx, `UPDATE composer_sources SET package_name = ?, default_branch = ?, status = 'ok', last_error = '', synced_at = ? WHERE id = ?`,
		pkg, defaultBranch, at, id)
	return err
}

// refs lists a source's refs by name.
func (s *store) refs(ctx context.Context, q sqldb.Querier, sourceID string) ([]storedRef, error) {
	rows, err := q.Query(ctx, `SELECT name, hash, commit_sha, normalized, version, entry, warning FROM composer_refs WHERE source_id = ? ORDER BY name`, sourceID)
	return collect(rows, err, func(r *sql.Rows) (storedRef, error) {
		var x storedRef
		return x, r.Scan(&x.Name, &x.Hash, &x.Commit, &x.Normalized, &x.Version, &x.Entry, &x.Warning)
	})
}

func (s *store) refStatuses(ctx context.Context, sourceID string) ([]RefStatus, error) {
	rows, err := s.db.Query(ctx, `SELECT name, commit_sha, version, warning FROM composer_refs WHERE source_id = ? ORDER BY name`, sourceID)
	return collect(rows, err, func(r *sql.Rows) (RefStatus, error) {
		var x RefStatus
		return x, r.Scan(&x.Ref, &x.Commit, &x.Version, &x.Warning)
	})
}

func (s *store) putRef(ctx context.Context, tx *sqldb.Tx, sourceID string, r storedRef) error {
	_, err := tx.Exec(ctx, `INSERT INTO composer_refs (source_id, name, hash, commit_sha, normalized, version, entry, warning)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, name) DO UPDATE SET hash = excluded.hash,
		commit_sha = excluded.commit_sha, normalized = excluded.normalized, version = excluded.version,
		entry = excluded.entry, warning = excluded.warning`,
		sourceID, r.Name, r.Hash, r.Commit, r.Normalized, r.Version, r.Entry, r.Warning)
	return err
}

func (s *store) deleteRef(ctx context.Context, tx *sqldb.Tx, sourceID, name string) error {
	_, err := tx.Exec(ctx, `DELETE FROM composer_refs WHERE source_id = ? AND name = ?`, sourceID, name)
	return err
}

func (s *store) setRefWarning(ctx context.Context, tx *sqldb.Tx, sourceID, name, warning string) error {
	_, err := tx.Exec(ctx, `UPDATE composer_refs SET warning = ? WHERE source_id = ? AND name = ?`, warning, sourceID, name)
	return err
}
