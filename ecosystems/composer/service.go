package composer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/jobs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/pkg/spool"
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
	// Outbound is the policy of every request to an upstream or a git
	// server; nil is the default policy (public addresses only).
	Outbound *outbound.Guard `optional:"true"`
	// Spool holds every temporary file: upload spools, git clones,
	// known_hosts lists (PACKYARD_DATA_DIR/tmp, PACKYARD_TMP_MAX_SIZE).
	Spool *spool.Spool
	// Jobs is the durable job queue and the periodic-job leases; nil builds
	// them over Meta's database with the defaults.
	Jobs *jobs.Runner `optional:"true"`
	// Lifecycle stops the background checks of new upstreams with the
	// application; nil leaves them to their deadline.
	Lifecycle fx.Lifecycle `optional:"true"`
}

// Service is the Composer repository: packages from uploads and git, the
// documents Composer reads, and the archives it downloads. What comes from
// upstream repositories is its Proxy's.
type Service struct {
	cfg     Config
	log     *zap.Logger
	repo    *repository
	store   *store
	refs    blobRefs
	cas     cas.Store
	locker  cache.Locker
	box     *secretbox.Box
	audit   audit.Recorder // nil: nothing recorded
	jobs    *jobs.Runner
	syncs   *jobs.Worker // queued syncs (jobs of kind syncJob, keyed by source id)
	mirrors *mirrors     // git mirrors of the sources synced by this process
	proxy   *Proxy
	guard   *outbound.Guard
	net     vcs.Network // how git servers are reached
	tmp     *spool.Spool
	ready   *readyCache // documents as sent
}

// readyBudget is the memory the documents as sent may take.
const readyBudget = 32 << 20

// New returns the Service, with its Proxy.
func New(p Params) (*Service, error) {
	if p.Meta == nil || p.CAS == nil || p.Cache == nil || p.Locker == nil || p.Spool == nil {
		return nil, errors.New("composer: metadata store, CAS, cache, locker and spool are required")
	}
	if p.Logger == nil {
		p.Logger = zap.NewNop()
	}
	if p.Outbound == nil {
		p.Outbound = outbound.New(outbound.Config{})
	}
	st := &store{db: p.Meta.DB()}
	repo := &repository{meta: p.Meta, store: st, cache: p.Cache, ttl: p.Config.CacheTTL, now: func() time.Time { return time.Now().UTC() },
		parse: format.ParseObject}
	proxy := newProxy(p, repo, st)
	if p.Lifecycle != nil {
		p.Lifecycle.Append(fx.StopHook(func(ctx context.Context) { proxy.checks.stop(ctx) }))
	}
	if p.Jobs == nil {
		p.Jobs = jobs.NewRunner(jobs.NewSQL(p.Meta.DB()), p.Logger.Named("jobs"))
	}
	s := &Service{
		cfg: p.Config, log: p.Logger, repo: repo, store: st, refs: p.Meta, cas: p.CAS, locker: p.Locker, box: p.Box,
		audit: p.Audit, jobs: p.Jobs, proxy: proxy, guard: p.Outbound,
		net: vcs.Network{HTTP: p.Outbound.HTTPClient(outbound.ClientOptions{}), Dial: p.Outbound.DialContext, Spool: p.Spool},
		tmp: p.Spool, ready: newReadyCache(readyBudget), mirrors: &mirrors{m: map[string]*vcs.Mirror{}},
	}
	s.syncs = p.Jobs.Worker(syncJob, jobs.WorkerOptions{
		Concurrency: p.Config.SyncConcurrency, Backoff: p.Config.SyncRetry, MaxAttempts: p.Config.SyncAttempts,
	}, s.runSyncJob)
	return s, nil
}

// Proxy is the part of the repository that comes from upstreams.
func (s *Service) Proxy() *Proxy { return s.proxy }

func distRef(packageID, reference string) string {
	return "composer:dist:" + packageID + ":" + reference
}

// addDist records an archive for (package, reference) unless one exists;
// an existing archive is never replaced, so its shasum never changes.
func (s *Service) addDist(ctx context.Context, tx *sqldb.Tx, packageID, reference string, d cas.Descriptor) error {
	a := archiveRow{Digest: d.Digest, SHA1: d.Extra[cas.SHA1], Size: d.Size, Created: micros(s.repo.now())}
	if inserted, err := s.store.insertDist(ctx, tx, packageID, reference, a); err != nil || !inserted {
		return err
	}
	return s.refs.AddBlobRef(ctx, tx, d.Digest, distRef(packageID, reference))
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
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return UploadResult{}, err
	}
	f, n, err := s.spool(ctx, body)
	if err != nil {
		return UploadResult{}, err
	}
	defer f.Close() // removes it
	raw, err := format.InspectZip(f, n, s.cfg.Archive)
	if err != nil {
		return UploadResult{}, err
	}
	m, err := format.ParseManifest(raw, true)
	if err != nil {
		return UploadResult{}, err
	}
	version, normalized, err := uploadVersion(version, m)
	if err != nil {
		return UploadResult{}, err
	}
	if err := s.checkVersionFree(ctx, s.store.db, org, m.Name, normalized, version); err != nil {
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
	entry, _ := json.Marshal(format.Entry(org.Name, m, m.Name, version, normalized, ref, ref, s.repo.now()))
	v := versionRow{Normalized: normalized, Version: version, Reference: ref, Entry: string(entry)}
	if err := s.publish(ctx, org, m.Name, v, d); err != nil {
		return UploadResult{}, err
	}
	s.log.Info("version uploaded", zap.String("org", org.Name), zap.String("package", m.Name), zap.String("version", version))
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: "composer.publish", Org: org.Name, Resource: m.Name + "@" + version,
		Details: map[string]string{"reference": ref}})
	return UploadResult{Name: m.Name, Version: version, Normalized: normalized, Reference: ref, SHA1: ref, Size: d.Size}, nil
}

// spool copies an upload to a spool file (the caller closes it, which
// removes it), up to the upload limit. The spool's cap refuses it with its
// own error, which names PACKYARD_TMP_MAX_SIZE.
func (s *Service) spool(ctx context.Context, body io.Reader) (*spool.File, int64, error) {
	f, err := s.tmp.Create(ctx, "packyard-composer-upload-*.zip")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, io.LimitReader(body, s.cfg.MaxUploadSize+1))
	switch {
	case errors.Is(err, errs.ErrTooLarge), errors.Is(err, errs.ErrResourceExhausted): // the spool's cap
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = errs.TooLargef("the upload is larger than the limit of %d bytes", mbe.Limit)
		} else {
			err = errs.Wrap(errs.ErrInvalidArgument, "reading the upload failed", err)
		}
	case n > s.cfg.MaxUploadSize:
		err = errs.TooLargef("the upload is larger than the limit of %d bytes", s.cfg.MaxUploadSize)
	case n == 0:
		err = errs.Invalidf("the upload is empty; send a zip archive as the request body")
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// uploadVersion is the version an upload publishes: the one asked for,
// else composer.json's; when both are given they must agree.
func uploadVersion(asked string, m format.Manifest) (version, normalized string, err error) {
	version = strings.TrimSpace(asked)
	switch {
	case version == "" && m.Version == "":
		return "", "", errs.Invalidf("no version: pass ?version=X.Y.Z or set \"version\" in composer.json")
	case version == "":
		version = m.Version
	}
	normalized, err = format.Normalize(version)
	if err != nil {
		return "", "", errs.Invalidf("version %q is not a valid Composer version", version)
	}
	if m.Version != "" {
		if mn, err := format.Normalize(m.Version); err != nil || mn != normalized {
			return "", "", errs.Invalidf("version %q does not match composer.json's version %q", version, m.Version)
		}
	}
	return version, normalized, nil
}

// publish adds an uploaded version with its archive; a version is never
// replaced, nor given a second time under another pretty version of the
// same normalized version (v1.0.0 when 1.0.0 exists).
func (s *Service) publish(ctx context.Context, org orgRef, name string, v versionRow, d cas.Descriptor) error {
	added := map[string]predict{name: func(current []versionRow) []versionRow { return append(current, v) }}
	return s.repo.write(ctx, org, added, func(tx *sqldb.Tx, touched map[string]string) error {
		id, err := s.repo.ensurePackage(ctx, tx, org, name)
		if err != nil {
			return err
		}
		if err := s.checkVersionFree(ctx, tx, org, name, v.Normalized, v.Version); err != nil {
			return err
		}
		if err := s.store.insertVersion(ctx, tx, id, "", v, micros(s.repo.now())); err != nil {
			if errors.Is(err, errs.ErrAlreadyExists) {
				return versionExists(name, v.Version)
			}
			return err
		}
		if err := s.addDist(ctx, tx, id, v.Reference, d); err != nil {
			return err
		}
		touched[id] = name
		return nil
	})
}

func versionExists(name, version string) error {
	return errs.AlreadyExistsf("%s %s already exists: versions are immutable; publish a new version, or ask an admin to delete this one (packyard composer delete-version)", name, version)
}

// checkVersionFree refuses a version whose normalized version the package
// has, under any pretty version.
func (s *Service) checkVersionFree(ctx context.Context, q sqldb.Querier, org orgRef, name, normalized, version string) error {
	taken, err := s.store.hasVersion(ctx, q, org.ID, name, normalized)
	if taken {
		return versionExists(name, version)
	}
	return err
}

// DeleteVersion removes a version from the repository (its archive stays
// downloadable for lock files that pin it). version is the pretty version,
// or any spelling of its normalized version when one version has it
// (v1.0.0 names 1.0.0).
func (s *Service) DeleteVersion(ctx context.Context, orgName, name, version string) error {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	normalized, nerr := format.Normalize(version)
	removed := map[string]predict{name: func(current []versionRow) []versionRow {
		named := make([]namedVersion, len(current))
		for i, v := range current {
			named[i] = namedVersion{Normalized: v.Normalized, Version: v.Version}
		}
		if v, err := pickVersion(named, version, normalized); err == nil {
			return slices.DeleteFunc(current, func(c versionRow) bool { return c.Version == v.Version })
		}
		return current
	}}
	err = s.repo.write(ctx, org, removed, func(tx *sqldb.Tx, touched map[string]string) error {
		named, err := s.store.versionsNamed(ctx, tx, org.ID, name, version, normalized)
		if err != nil {
			return err
		}
		v, err := pickVersion(named, version, normalized)
		switch {
		case errors.Is(err, errs.ErrNotFound) && nerr != nil:
			return nerr
		case errors.Is(err, errs.ErrNotFound):
			return errs.NotFoundf("%s %s not found in %s", name, version, org.Name)
		case err != nil:
			return err
		case v.FromGit:
			return errs.PreconditionFailedf("%s %s comes from a git source; delete the tag or branch there and sync (packyard composer sync)", name, v.Version)
		}
		if err := s.store.deleteVersion(ctx, tx, v.PackageID, v.Version); err != nil {
			return err
		}
		touched[v.PackageID] = name
		return nil
	})
	if err != nil {
		return err
	}
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: "composer.version.delete", Org: org.Name, Resource: name + "@" + version})
	return nil
}

// pickVersion is the version asked names among vs: the one whose pretty
// version it is, else the only one of its normalized version (normalized;
// "" when asked is not a version). Two of one normalized version (git
// branches 1.x and v1.x) are named by their pretty versions only.
func pickVersion(vs []namedVersion, asked, normalized string) (namedVersion, error) {
	var same []namedVersion
	for _, v := range vs {
		if v.Version == asked {
			return v, nil
		}
		if normalized != "" && v.Normalized == normalized {
			same = append(same, v)
		}
	}
	switch len(same) {
	case 0:
		return namedVersion{}, errs.NotFoundf("version %s not found", asked)
	case 1:
		return same[0], nil
	}
	names := make([]string, len(same))
	for i, v := range same {
		names[i] = v.Version
	}
	slices.Sort(names)
	return namedVersion{}, errs.Invalidf("%s names %d versions (%s): give the version as listed", asked, len(same), strings.Join(names, ", "))
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
	org, err := s.repo.org(ctx, orgName)
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

// RecordDownloads counts installs reported by Composer, in one
// transaction (its rows updated in name order, so that concurrent reports
// cannot deadlock); unknown packages and versions are ignored.
func (s *Service) RecordDownloads(ctx context.Context, orgName string, ds []Download) error {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	versions := make([][2]string, len(ds))
	for i, d := range ds {
		versions[i] = [2]string{strings.ToLower(d.Name), d.Version}
	}
	slices.SortFunc(versions, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	return s.store.countDownloads(ctx, org.ID, versions, s.repo.now().Unix()/86400)
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
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	out, err := s.store.listPackages(ctx, org.ID)
	for i := range out {
		attributeDownloads(out[i].Versions, func(v *PackageVersion) (string, string, *int64) { return v.Normalized, v.Version, &v.Downloads })
		for j := range out[i].Versions {
			if v := &out[i].Versions[j]; v.Source == "" {
				v.Source = "upload"
			}
		}
		slices.SortStableFunc(out[i].Versions, func(a, b PackageVersion) int {
			return cmp.Or(format.CompareNormalized(b.Normalized, a.Normalized), strings.Compare(a.Version, b.Version))
		})
	}
	return out, err
}
