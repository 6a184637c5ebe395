package composer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
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
	store  *store
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
		cfg: p.Config, log: p.Logger, meta: p.Meta, store: &store{db: p.Meta.DB()}, cas: p.CAS, cache: p.Cache,
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
	return s.store.db.InTx(ctx, func(tx *sqldb.Tx) error {
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
		rows, err := s.store.versions(ctx, tx, id)
		if err != nil {
			return err
		}
		var vs []format.VersionEntry
		for _, r := range rows {
			o, err := format.ParseObject([]byte(r.Entry))
			if err != nil {
				return fmt.Errorf("stored entry of %s %s: %w", name, r.Normalized, err)
			}
			vs = append(vs, format.VersionEntry{Normalized: r.Normalized, Entry: o})
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
		if err := s.store.setDescription(ctx, tx, id, latestDescription(vs), micros(s.now())); err != nil {
			return err
		}
	}
	names, err := s.store.publishedNames(ctx, tx, org.ID, "%")
	if err != nil {
		return err
	}
	upstreams, err := s.store.countUpstreams(ctx, tx, org.ID)
	if err != nil {
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

// ensurePackage returns the id of an organization's package, creating it.
func (s *Service) ensurePackage(ctx context.Context, tx *sqldb.Tx, org orgRef, name string) (string, error) {
	id, err := s.store.packageID(ctx, tx, org.ID, name)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return "", err
	}
	id = metadata.NewID()
	return id, s.store.insertPackage(ctx, tx, id, org.ID, name, micros(s.now()))
}

func distRef(packageID, reference string) string {
	return "composer:dist:" + packageID + ":" + reference
}

// addDist records an archive for (package, reference) unless one exists;
// an existing archive is never replaced, so its shasum never changes.
func (s *Service) addDist(ctx context.Context, tx *sqldb.Tx, packageID, reference string, d cas.Descriptor) error {
	a := archiveRow{Digest: d.Digest, SHA1: d.Extra[cas.SHA1], Size: d.Size, Created: micros(s.now())}
	if inserted, err := s.store.insertDist(ctx, tx, packageID, reference, a); err != nil || !inserted {
		return err
	}
	return s.meta.AddBlobRef(ctx, tx, d.Digest, distRef(packageID, reference))
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
		v := versionRow{Normalized: normalized, Version: version, Reference: ref, Entry: string(entryJSON)}
		if err := s.store.insertVersion(ctx, tx, id, "", v, micros(s.now())); err != nil {
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
	taken, err := s.store.hasVersion(ctx, org.ID, name, normalized)
	if taken {
		return versionExists(name, version)
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
		id, fromGit, err := s.store.versionOrigin(ctx, tx, org.ID, name, normalized)
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NotFoundf("%s %s not found in %s", name, version, org.Name)
		}
		if err != nil {
			return err
		}
		if fromGit {
			return errs.PreconditionFailedf("%s %s comes from a git source; delete the tag or branch there and sync (packyard composer sync)", name, version)
		}
		if err := s.store.deleteVersion(ctx, tx, id, normalized); err != nil {
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
	a, ok, err := s.store.distOf(ctx, org.ID, name, reference)
	if err != nil {
		return nil, DistInfo{}, err
	}
	if !ok {
		return nil, DistInfo{}, errs.NotFoundf("no archive of %s at %s", name, reference)
	}
	rc, err := s.cas.Open(ctx, a.Digest)
	if err != nil {
		return nil, DistInfo{}, fmt.Errorf("open archive of %s at %s: %w", name, reference, err)
	}
	return rc, a.info(), nil
}

func (a archiveRow) info() DistInfo {
	return DistInfo{Size: a.Size, SHA1: a.SHA1, CreatedAt: fromMicros(a.Created)}
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
		if err := s.store.countDownload(ctx, org.ID, strings.ToLower(d.Name), d.Version); err != nil {
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
	out, err := s.store.listPackages(ctx, org.ID)
	for i := range out {
		for j := range out[i].Versions {
			if v := &out[i].Versions[j]; v.Source == "" {
				v.Source = "upload"
			}
		}
		slices.SortStableFunc(out[i].Versions, func(a, b PackageVersion) int {
			return format.CompareNormalized(b.Normalized, a.Normalized)
		})
	}
	return out, err
}
