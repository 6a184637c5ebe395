package composer

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Params are the Service's dependencies.
type Params struct {
	fx.In
	Config Config
	Logger *zap.Logger
	Meta   metadata.Store
	CAS    cas.Store
	Cache  cache.Cache
	Locker cache.Locker
	Box    *secretbox.Box `optional:"true"` // nil: credentials and webhooks are refused
	Audit  audit.Recorder `optional:"true"` // nil: nothing recorded
}

// Service is the Composer repository: packages from uploads and git, the
// documents Composer reads, and the archives it downloads.
type Service struct {
	cfg    Config
	log    *zap.Logger
	meta   metadata.Store
	db     *sqldb.DB
	cas    cas.Store
	cache  cache.Cache
	locker cache.Locker
	box    *secretbox.Box
	loads  cache.Group
	now    func() time.Time
	queue  chan string // source ids waiting for a background sync
	audit  audit.Recorder

	// upstreams
	httpc      *http.Client // metadata and advisories
	distc      *http.Client // archives (bounded by their context)
	limiter    *rate.Limiter
	upFlight   singleflight.Group
	distFlight singleflight.Group
}

// New returns the Service.
func New(p Params) (*Service, error) {
	if p.Meta == nil || p.CAS == nil || p.Cache == nil || p.Locker == nil {
		return nil, errors.New("composer: metadata store, CAS, cache and locker are required")
	}
	if p.Logger == nil {
		p.Logger = zap.NewNop()
	}
	return &Service{
		cfg: p.Config, log: p.Logger, meta: p.Meta, db: p.Meta.DB(), cas: p.CAS, cache: p.Cache,
		locker: p.Locker, box: p.Box, now: func() time.Time { return time.Now().UTC() },
		queue: make(chan string, 256), audit: p.Audit,
		httpc:   &http.Client{Timeout: p.Config.Upstream.Timeout},
		distc:   &http.Client{},
		limiter: rate.NewLimiter(rate.Limit(p.Config.Upstream.RateLimit), max(p.Config.Upstream.Burst, 1)),
	}, nil
}

type orgRef struct{ ID, Name string }

func scope(org orgRef) string { return "composer:" + org.ID }

func (s *Service) org(ctx context.Context, name string) (orgRef, error) {
	o, err := s.meta.GetOrg(ctx, name)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return orgRef{}, errs.NotFoundf("organization %q not found", name)
		}
		return orgRef{}, err
	}
	return orgRef{ID: o.ID, Name: o.Name}, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// ---- documents ----

// Doc is a built document as served.
type Doc struct {
	Body    []byte // with the base URL placeholder
	ModTime time.Time
}

const (
	docFound   = 'D'
	docMissing = 'N'
)

func encodeDoc(d Doc) []byte {
	b := make([]byte, 9, 9+len(d.Body))
	b[0] = docFound
	binary.BigEndian.PutUint64(b[1:], uint64(d.ModTime.Unix()))
	return append(b, d.Body...)
}

// Document returns a built document of an organization's repository
// ("packages.json", "p2/vendor/name.json", "p2/vendor/name~dev.json") from
// the cache, loading it from the metadata store (one row) on a miss. The
// cache key carries the repository's generation, so a change made by any
// process is seen at once by every replica.
func (s *Service) Document(ctx context.Context, orgName, key string) (Doc, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return Doc{}, err
	}
	gen, err := s.meta.Generation(ctx, scope(org))
	if err != nil {
		return Doc{}, err
	}
	return s.documentAt(ctx, org, gen, key)
}

// write runs fn in a transaction of the organization's repository. The
// generation is bumped first, which serializes writers of one repository
// (a row lock on PostgreSQL; SQLite has one writer anyway); the documents
// of the packages fn touched, and packages.json, are rebuilt before commit.
func (s *Service) write(ctx context.Context, org orgRef, fn func(tx *sqldb.Tx, touched map[string]string) error) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := s.meta.BumpGeneration(ctx, tx, scope(org)); err != nil {
			return fmt.Errorf("bump generation: %w", err)
		}
		touched := map[string]string{}
		if err := fn(tx, touched); err != nil {
			return err
		}
		return s.rebuild(ctx, tx, org, touched)
	})
}

func (s *Service) rebuild(ctx context.Context, tx *sqldb.Tx, org orgRef, touched map[string]string) error {
	for id, name := range touched {
		rows, err := tx.Query(ctx, `SELECT normalized, entry FROM composer_versions WHERE package_id = ?`, id)
		if err != nil {
			return err
		}
		var vs []format.VersionEntry
		for rows.Next() {
			var n, e string
			if err := rows.Scan(&n, &e); err != nil {
				rows.Close()
				return err
			}
			o, err := format.ParseObject([]byte(e))
			if err != nil {
				rows.Close()
				return fmt.Errorf("stored entry of %s %s: %w", name, n, err)
			}
			vs = append(vs, format.VersionEntry{Normalized: n, Entry: o})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keys := []string{"p2/" + name + ".json", "p2/" + name + "~dev.json"}
		if len(vs) == 0 {
			if err := s.meta.DeleteDocuments(ctx, tx, scope(org), keys...); err != nil {
				return err
			}
			continue
		}
		stable, dev, err := format.BuildP2(name, vs)
		if err != nil {
			return err
		}
		if err := s.putDoc(ctx, tx, org, keys[0], stable); err != nil {
			return err
		}
		if err := s.putDoc(ctx, tx, org, keys[1], dev); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE composer_packages SET description = ?, updated_at = ? WHERE id = ?`,
			latestDescription(vs), micros(s.now()), id); err != nil {
			return err
		}
	}
	names, err := queryStrings(ctx, tx, `SELECT p.name FROM composer_packages p WHERE p.org_id = ?
		AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id) ORDER BY p.name`, org.ID)
	if err != nil {
		return err
	}
	var upstreams int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM composer_upstreams WHERE org_id = ?`, org.ID).Scan(&upstreams); err != nil {
		return err
	}
	root, err := format.RootDoc(org.Name, names)
	if upstreams > 0 {
		root, err = format.MirrorRootDoc(org.Name)
	}
	if err != nil {
		return err
	}
	return s.putDoc(ctx, tx, org, "packages.json", root)
}

func latestDescription(vs []format.VersionEntry) string {
	best := -1
	for i, v := range vs {
		if best < 0 || format.CompareNormalized(v.Normalized, vs[best].Normalized) > 0 && format.ParseStability(v.Normalized) != format.StabilityDev {
			best = i
		}
	}
	var d string
	if best >= 0 {
		_ = json.Unmarshal(vs[best].Entry.Get("description"), &d)
	}
	return d
}

// putDoc stores a document when its bytes changed. Its modification time
// only moves forward, by at least a second (Last-Modified has one-second
// precision, so two changes within a second must still differ).
func (s *Service) putDoc(ctx context.Context, tx *sqldb.Tx, org orgRef, key string, body []byte) error {
	mt := s.now().Truncate(time.Second)
	old, err := s.meta.GetDocument(ctx, scope(org), key)
	switch {
	case err == nil:
		if bytes.Equal(old.Body, body) {
			return nil
		}
		if prev := old.ModTime.Truncate(time.Second); !mt.After(prev) {
			mt = prev.Add(time.Second)
		}
	case !errors.Is(err, errs.ErrNotFound):
		return err
	}
	return s.meta.PutDocument(ctx, tx, metadata.Document{Scope: scope(org), Key: key, Body: body, ContentType: "application/json", ModTime: mt})
}

func queryStrings(ctx context.Context, q sqldb.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ensurePackage returns the id of an organization's package, creating it.
func (s *Service) ensurePackage(ctx context.Context, tx *sqldb.Tx, org orgRef, name string) (string, error) {
	var id string
	err := sqldb.MapErr(tx.QueryRow(ctx, `SELECT id FROM composer_packages WHERE org_id = ? AND name = ?`, org.ID, name).Scan(&id))
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return "", err
	}
	id = metadata.NewID()
	now := micros(s.now())
	if _, err := tx.Exec(ctx, `INSERT INTO composer_packages (id, org_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		id, org.ID, name, now, now); err != nil {
		return "", err
	}
	return id, nil
}

func distRef(packageID, reference string) string {
	return "composer:dist:" + packageID + ":" + reference
}

// addDist records an archive for (package, reference) unless one exists;
// an existing archive is never replaced, so its shasum never changes.
func (s *Service) addDist(ctx context.Context, tx *sqldb.Tx, packageID, reference string, d cas.Descriptor) error {
	res, err := tx.Exec(ctx, `INSERT INTO composer_dists (package_id, reference, digest, sha1, size, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, reference) DO NOTHING`,
		packageID, reference, d.Digest, d.Extra[cas.SHA1], d.Size, micros(s.now()))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return s.meta.AddBlobRef(ctx, tx, d.Digest, distRef(packageID, reference))
}

type distRow struct {
	Digest string
	SHA1   string
	Size   int64
}

func (s *Service) existingDist(ctx context.Context, q sqldb.Querier, packageID, reference string) (distRow, bool, error) {
	var d distRow
	err := sqldb.MapErr(q.QueryRow(ctx, `SELECT digest, sha1, size FROM composer_dists WHERE package_id = ? AND reference = ?`,
		packageID, reference).Scan(&d.Digest, &d.SHA1, &d.Size))
	if errors.Is(err, errs.ErrNotFound) {
		return d, false, nil
	}
	return d, err == nil, err
}

// ---- uploads ----

// UploadResult describes a published version.
type UploadResult struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Normalized string `json:"version_normalized"`
	Reference  string `json:"reference"`
	SHA1       string `json:"shasum"`
	Size       int64  `json:"size"`
}

// Upload publishes a zip archive holding a composer.json as a version of
// the package it names. version may be empty when composer.json has one.
// Nothing is stored when the archive or its composer.json is refused, and
// an existing version is never replaced.
func (s *Service) Upload(ctx context.Context, orgName, version string, body io.Reader) (UploadResult, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return UploadResult{}, err
	}
	f, err := os.CreateTemp("", "packyard-composer-upload-*")
	if err != nil {
		return UploadResult{}, fmt.Errorf("spool upload: %w", err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	n, err := io.Copy(f, io.LimitReader(body, s.cfg.MaxUploadSize+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return UploadResult{}, errs.TooLargef("the upload is larger than the limit of %d bytes", mbe.Limit)
		}
		return UploadResult{}, errs.Invalidf("reading the upload failed: %v", err)
	}
	if n > s.cfg.MaxUploadSize {
		return UploadResult{}, errs.TooLargef("the upload is larger than the limit of %d bytes", s.cfg.MaxUploadSize)
	}
	if n == 0 {
		return UploadResult{}, errs.Invalidf("the upload is empty; send a zip archive as the request body")
	}
	raw, err := format.InspectZip(f, n, s.cfg.Archive)
	if err != nil {
		return UploadResult{}, err
	}
	m, err := format.ParseManifest(raw, true)
	if err != nil {
		return UploadResult{}, err
	}
	version = strings.TrimSpace(version)
	switch {
	case version == "" && m.Version == "":
		return UploadResult{}, errs.Invalidf("no version: pass ?version=X.Y.Z or set \"version\" in composer.json")
	case version == "":
		version = m.Version
	}
	normalized, err := format.Normalize(version)
	if err != nil {
		return UploadResult{}, errs.Invalidf("version %q is not a valid Composer version", version)
	}
	if m.Version != "" {
		if mn, err := format.Normalize(m.Version); err != nil || mn != normalized {
			return UploadResult{}, errs.Invalidf("version %q does not match composer.json's version %q", version, m.Version)
		}
	}
	if err := s.checkVersionFree(ctx, org, m.Name, normalized, version); err != nil {
		return UploadResult{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return UploadResult{}, err
	}
	d, err := s.cas.Put(ctx, f, cas.WithDigests(cas.SHA1), cas.WithMaxSize(s.cfg.MaxUploadSize))
	if err != nil {
		return UploadResult{}, fmt.Errorf("store archive: %w", err)
	}
	ref := d.Extra[cas.SHA1]
	entry := format.Entry(org.Name, m, m.Name, version, normalized, ref, ref, s.now())
	entryJSON, _ := json.Marshal(entry)
	err = s.write(ctx, org, func(tx *sqldb.Tx, touched map[string]string) error {
		id, err := s.ensurePackage(ctx, tx, org, m.Name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO composer_versions (package_id, normalized, version, reference, entry, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, id, normalized, version, ref, string(entryJSON), micros(s.now())); err != nil {
			if errors.Is(err, errs.ErrAlreadyExists) {
				return versionExists(m.Name, version)
			}
			return err
		}
		if err := s.addDist(ctx, tx, id, ref, d); err != nil {
			return err
		}
		touched[id] = m.Name
		return nil
	})
	if err != nil {
		return UploadResult{}, err
	}
	s.log.Info("version uploaded", zap.String("org", org.Name), zap.String("package", m.Name), zap.String("version", version))
	s.record(ctx, audit.Event{Action: "composer.publish", Org: org.Name, Resource: m.Name + "@" + version,
		Details: map[string]string{"reference": ref}})
	return UploadResult{Name: m.Name, Version: version, Normalized: normalized, Reference: ref, SHA1: ref, Size: d.Size}, nil
}

func versionExists(name, version string) error {
	return errs.AlreadyExistsf("%s %s already exists: versions are immutable; publish a new version, or ask an admin to delete this one (packyard composer delete-version)", name, version)
}

func (s *Service) checkVersionFree(ctx context.Context, org orgRef, name, normalized, version string) error {
	var one int
	err := sqldb.MapErr(s.db.QueryRow(ctx, `SELECT 1 FROM composer_versions v JOIN composer_packages p ON p.id = v.package_id
		WHERE p.org_id = ? AND p.name = ? AND v.normalized = ?`, org.ID, name, normalized).Scan(&one))
	switch {
	case err == nil:
		return versionExists(name, version)
	case errors.Is(err, errs.ErrNotFound):
		return nil
	}
	return err
}

// DeleteVersion removes a version from the repository (its archive stays
// downloadable for lock files that pin it).
func (s *Service) DeleteVersion(ctx context.Context, orgName, name, version string) error {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return err
	}
	normalized, err := format.Normalize(version)
	if err != nil {
		return err
	}
	err = s.write(ctx, org, func(tx *sqldb.Tx, touched map[string]string) error {
		var id string
		var src sql.NullString
		err := sqldb.MapErr(tx.QueryRow(ctx, `SELECT p.id, v.source_id FROM composer_versions v JOIN composer_packages p ON p.id = v.package_id
			WHERE p.org_id = ? AND p.name = ? AND v.normalized = ?`, org.ID, name, normalized).Scan(&id, &src))
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NotFoundf("%s %s not found in %s", name, version, org.Name)
		}
		if err != nil {
			return err
		}
		if src.Valid {
			return errs.PreconditionFailedf("%s %s comes from a git source; delete the tag or branch there and sync (packyard composer sync)", name, version)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM composer_versions WHERE package_id = ? AND normalized = ?`, id, normalized); err != nil {
			return err
		}
		touched[id] = name
		return nil
	})
	if err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: "composer.version.delete", Org: org.Name, Resource: name + "@" + version})
	return nil
}

// ---- reads ----

// DistInfo describes a downloadable archive.
type DistInfo struct {
	Size      int64
	SHA1      string
	CreatedAt time.Time
}

// Dist opens the archive of a package at a reference.
func (s *Service) Dist(ctx context.Context, orgName, name, reference string) (io.ReadSeekCloser, DistInfo, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, DistInfo{}, err
	}
	var digest string
	var info DistInfo
	var created int64
	err = sqldb.MapErr(s.db.QueryRow(ctx, `SELECT d.digest, d.sha1, d.size, d.created_at FROM composer_dists d
		JOIN composer_packages p ON p.id = d.package_id WHERE p.org_id = ? AND p.name = ? AND d.reference = ?`,
		org.ID, name, reference).Scan(&digest, &info.SHA1, &info.Size, &created))
	if errors.Is(err, errs.ErrNotFound) {
		return nil, DistInfo{}, errs.NotFoundf("no archive of %s at %s", name, reference)
	}
	if err != nil {
		return nil, DistInfo{}, err
	}
	info.CreatedAt = fromMicros(created)
	rc, err := s.cas.Open(ctx, digest)
	if err != nil {
		return nil, DistInfo{}, fmt.Errorf("open archive of %s at %s: %w", name, reference, err)
	}
	return rc, info, nil
}

// Download is one entry of Composer's notify-batch body.
type Download struct {
	Name    string `json:"name"`
	Version string `json:"version"` // normalized
}

// RecordDownloads counts installs reported by Composer; unknown packages
// and versions are ignored.
func (s *Service) RecordDownloads(ctx context.Context, orgName string, ds []Download) error {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, err := s.db.Exec(ctx, `INSERT INTO composer_downloads (package_id, normalized, count)
			SELECT p.id, ?, 1 FROM composer_packages p WHERE p.org_id = ? AND p.name = ?
			AND EXISTS (SELECT 1 FROM composer_versions v WHERE v.package_id = p.id AND v.normalized = ?)
			ON CONFLICT (package_id, normalized) DO UPDATE SET count = composer_downloads.count + 1`,
			d.Version, org.ID, strings.ToLower(d.Name), d.Version); err != nil {
			return err
		}
	}
	return nil
}

// PackageVersion is one version in a listing.
type PackageVersion struct {
	Version    string `json:"version"`
	Normalized string `json:"version_normalized"`
	Reference  string `json:"reference"`
	Source     string `json:"source"` // "upload" or the git URL
	Ref        string `json:"ref,omitempty"`
	Downloads  int64  `json:"downloads"`
}

// PackageInfo is a package with its versions.
type PackageInfo struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Versions    []PackageVersion `json:"versions"`
}

// ListPackages lists an organization's packages with their versions (for
// the CLI and the API, not for Composer).
func (s *Service) ListPackages(ctx context.Context, orgName string) ([]PackageInfo, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.name, p.description, v.version, v.normalized, v.reference, COALESCE(src.url, ''), v.ref_name,
		COALESCE(d.count, 0)
		FROM composer_packages p JOIN composer_versions v ON v.package_id = p.id
		LEFT JOIN composer_sources src ON src.id = v.source_id
		LEFT JOIN composer_downloads d ON d.package_id = p.id AND d.normalized = v.normalized
		WHERE p.org_id = ? ORDER BY p.name`, org.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PackageInfo{}
	for rows.Next() {
		var name, desc string
		var v PackageVersion
		if err := rows.Scan(&name, &desc, &v.Version, &v.Normalized, &v.Reference, &v.Source, &v.Ref, &v.Downloads); err != nil {
			return nil, err
		}
		if v.Source == "" {
			v.Source = "upload"
		}
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, PackageInfo{Name: name, Description: desc})
		}
		p := &out[len(out)-1]
		p.Versions = append(p.Versions, v)
	}
	for i := range out {
		vs := out[i].Versions
		sortVersions(vs)
	}
	return out, rows.Err()
}

func sortVersions(vs []PackageVersion) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && format.CompareNormalized(vs[j].Normalized, vs[j-1].Normalized) > 0; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}
