package composer

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// The rows store.go reads and writes, and the helpers its statements
// share: time encoding, NULLs, scanning rows and LIKE patterns.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullable is s, or nil (SQL NULL, JSON null) when s is empty.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// collect scans every row of a query, closes the rows and reports their
// error; a query without rows gives an empty, non-nil slice.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanString(r *sql.Rows) (string, error) {
	var s string
	return s, r.Scan(&s)
}

// found maps a row that is not there to ok=false.
func found(err error) (bool, error) {
	err = sqldb.MapErr(err)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// likeEscape escapes LIKE's wildcards (the queries say ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(s))
}

// versionRow is one version of a package as stored: a package has one
// version of each pretty version (Version); two git branches may give
// versions of one normalized version (1.x-dev and v1.x-dev).
type versionRow struct {
	Normalized, Version, Reference, RefName, Entry string
}

// namedVersion is a version a request names, with its package and whether
// a git source gives it.
type namedVersion struct {
	PackageID, Normalized, Version string
	FromGit                        bool
}

// archiveRow is an archive in the CAS: a version's dist, or a mirrored
// upstream archive.
type archiveRow struct {
	Digest, SHA1 string
	Size         int64
	Created      int64
}

// sourceRow is a git source as stored (credentials sealed).
type sourceRow struct {
	ID, OrgID, URL, Username, Kind, KnownHosts, Package, DefaultBranch, Status, LastError string
	Credential, WebhookSecret                                                             []byte
	SyncedAt                                                                              sql.NullInt64
	SyncMillis                                                                            int64 // how long the last sync took
}

// storedRef is a git ref of a source as last synced: the version it gave
// (Normalized, Version, Entry) or why it gave none (Warning).
type storedRef struct {
	Name, Hash, Commit, Normalized, Version, Entry, Warning string
}

// upstreamRow is an upstream as the request path needs it (cached per
// generation; the sealed password is read only when a request is made).
type upstreamRow struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	Username string `json:"username"`
	HasCred  bool   `json:"has_cred"`
	Priority int    `json:"priority"`
	Created  int64  `json:"created"`
	State    string `json:"state"` // upstreamChecking, upstreamOK or upstreamFailed
}

// storedVersion is a version with its origin, installs and archive (an
// empty Digest when it has none).
type storedVersion struct {
	Version, Normalized, Reference, Source, Ref, Entry string
	Created, Downloads                                 int64
	Digest, SHA1                                       string
	Size                                               int64
}
