package sdk

import (
	"context"
	"errors"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// registry is what SDKs read of the buf registry; every call checks that
// the caller may read what it names.
type registry interface {
	ResolveCommit(ctx context.Context, r buf.ResourceRef) (buf.Commit, buf.Resolved, error)
	Graph(ctx context.Context, refs []buf.ResourceRef) (buf.GraphResult, error)
	DownloadFiles(ctx context.Context, reqs []buf.DownloadRequest) ([]buf.Downloaded, error)
}

// Params are the Service's dependencies.
type Params struct {
	fx.In

	Log     *zap.Logger
	Config  Config
	Buf     *buf.Service
	Meta    metadata.Store
	CAS     cas.Store
	Locker  cache.Locker
	Authz   access.Authorizer
	Catalog Catalog
	Runner  Runner
	Request RequestFunc
}

// Service generates and serves SDKs.
type Service struct {
	log     *zap.Logger
	cfg     Config
	reg     registry
	meta    metadata.Store
	cas     cas.Store
	locker  cache.Locker
	authz   access.Authorizer
	catalog Catalog
	runner  Runner
	request RequestFunc
	st      *store
	now     func() time.Time
}

// New returns the Service.
func New(p Params) (*Service, error) {
	if p.Buf == nil || p.Meta == nil || p.CAS == nil || p.Locker == nil || p.Authz == nil ||
		p.Catalog == nil || p.Runner == nil || p.Request == nil {
		return nil, errors.New("sdk: the buf registry, metadata store, CAS, locker, authorizer, plugin catalog, runner and request builder are required")
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{log: log, cfg: p.Config, reg: p.Buf, meta: p.Meta, cas: p.CAS, locker: p.Locker,
		authz: p.Authz, catalog: p.Catalog, runner: p.Runner, request: p.Request,
		st: &store{db: p.Meta.DB()}, now: func() time.Time { return time.Now().UTC() }}, nil
}

// target is one SDK version resolved: the module, the commit, the plugin
// revision and the version they make.
type target struct {
	path    ModulePath
	module  buf.ModuleRecord
	commit  buf.Commit
	plugin  Plugin
	version Version
}

// Info is a version's .info document.
type Info struct {
	Version string
	Time    time.Time
}

func (t target) info() Info { return Info{Version: t.version.String(), Time: t.commit.CreatedAt.UTC()} }

// plugin finds a plugin revision the caller may read: plugins follow their
// organization's read rules, and one the caller may not read is absent.
func (s *Service) plugin(ctx context.Context, owner, name, version string, revision int) (Plugin, error) {
	full := owner + "/" + name
	p, _ := access.PrincipalFrom(ctx)
	err := s.authz.Authorize(ctx, p, access.ActionRead, access.Resource{Org: owner, Kind: "buf plugin", Name: full})
	if err == nil {
		var pl Plugin
		pl, err = s.catalog.Resolve(ctx, owner, name, version, revision)
		if err == nil {
			return pl, nil
		}
	}
	switch errs.Category(err) {
	case errs.ErrNotFound, errs.ErrUnauthenticated, errs.ErrPermissionDenied:
		if p == nil {
			return Plugin{}, errs.Wrap(errs.ErrUnauthenticated, "plugin "+full+" not found; sign in to use private plugins", err)
		}
		return Plugin{}, errs.Wrap(errs.ErrNotFound, "plugin "+full+" not found", err)
	}
	return Plugin{}, err
}

// versionOf is the SDK version of a commit of module m by plugin p.
func (s *Service) versionOf(ctx context.Context, m buf.ModuleRecord, c buf.Commit, p Plugin) (Version, error) {
	on, err := s.st.onDefaultLabel(ctx, m.ID, c.ID)
	if err != nil {
		return Version{}, err
	}
	return NewVersion(p.Version, p.Revision, c.ID, c.CreatedAt, on), nil
}

// resolveRef resolves an SDK at a reference of its module (a label, a
// commit id, or "" for the default label) with the plugin's latest revision.
func (s *Service) resolveRef(ctx context.Context, mp ModulePath, ref string) (target, error) {
	r := buf.ResourceRef{Owner: mp.Owner, Module: mp.Module}
	if ref != "" {
		r.Ref, r.HasRef = ref, true
	}
	c, res, err := s.reg.ResolveCommit(ctx, r)
	if err != nil {
		return target{}, err
	}
	p, err := s.plugin(ctx, mp.PluginOwner, mp.Plugin, "", 0)
	if err != nil {
		return target{}, err
	}
	v, err := s.versionOf(ctx, res.Module, c, p)
	if err != nil {
		return target{}, err
	}
	return target{path: mp, module: res.Module, commit: c, plugin: p, version: v}, nil
}

// resolveVersion resolves a canonical SDK version. The timestamp must be
// the commit's own when the commit is on the default label; a commit's
// zero-timestamp version stays valid after it joins the label.
func (s *Service) resolveVersion(ctx context.Context, mp ModulePath, v Version) (target, error) {
	_, res, err := s.reg.ResolveCommit(ctx, buf.ResourceRef{Owner: mp.Owner, Module: mp.Module})
	if err != nil && errs.Category(err) != errs.ErrFailedPrecondition {
		return target{}, err
	}
	if err != nil {
		return target{}, errs.NotFoundf("%s has no version %s", mp, v)
	}
	rows, err := s.st.commitsByPrefix(ctx, res.Module.ID, v.CommitPrefix)
	if err != nil {
		return target{}, err
	}
	p, err := s.plugin(ctx, mp.PluginOwner, mp.Plugin, v.Plugin, v.Revision)
	if err != nil {
		return target{}, err
	}
	for _, row := range rows {
		c, _, err := s.reg.ResolveCommit(ctx, buf.ResourceRef{ID: row.ID})
		if err != nil {
			return target{}, err
		}
		canonical, err := s.versionOf(ctx, res.Module, c, p)
		if err != nil {
			return target{}, err
		}
		if canonical.String() == v.String() || v.Time.IsZero() {
			return target{path: mp, module: res.Module, commit: c, plugin: p, version: v}, nil
		}
	}
	return target{}, errs.NotFoundf("%s has no version %s", mp, v)
}

// resolveQuery resolves what the Go command asks .info for: a canonical
// version, else a commit id or a label of the module.
func (s *Service) resolveQuery(ctx context.Context, mp ModulePath, q string) (target, error) {
	if v, err := ParseVersion(q); err == nil {
		return s.resolveVersion(ctx, mp, v)
	}
	if q == "" {
		return target{}, errs.NotFoundf("%s has no version %q", mp, q)
	}
	t, err := s.resolveRef(ctx, mp, q)
	if errs.Category(err) == errs.ErrFailedPrecondition {
		return target{}, errs.NotFoundf("%s has no version %q", mp, q)
	}
	return t, err
}

// maxListed bounds the versions @v/list answers.
const maxListed = 1000

// List answers @v/list: the version of every commit the default label has
// pointed at, with the plugin's latest revision.
func (s *Service) List(ctx context.Context, mp ModulePath) ([]string, error) {
	_, res, err := s.reg.ResolveCommit(ctx, buf.ResourceRef{Owner: mp.Owner, Module: mp.Module})
	if err != nil && errs.Category(err) != errs.ErrFailedPrecondition {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	p, err := s.plugin(ctx, mp.PluginOwner, mp.Plugin, "", 0)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.defaultLabelCommits(ctx, res.Module.ID, maxListed)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, NewVersion(p.Version, p.Revision, r.ID, r.CreatedAt, true).String())
	}
	return out, nil
}

// Latest answers @latest: the default label's commit with the plugin's
// latest revision.
func (s *Service) Latest(ctx context.Context, mp ModulePath) (Info, error) {
	t, err := s.resolveRef(ctx, mp, "")
	if errs.Category(err) == errs.ErrFailedPrecondition {
		return Info{}, errs.NotFoundf("%s has no versions", mp)
	}
	if err != nil {
		return Info{}, err
	}
	return t.info(), nil
}

// Info answers @v/{query}.info with the canonical version.
func (s *Service) Info(ctx context.Context, mp ModulePath, query string) (Info, error) {
	t, err := s.resolveQuery(ctx, mp, query)
	if err != nil {
		return Info{}, err
	}
	return t.info(), nil
}

// GoMod answers @v/{version}.mod: the go.mod of the SDK, generated on
// first request like its zip.
func (s *Service) GoMod(ctx context.Context, mp ModulePath, version string) ([]byte, error) {
	rec, err := s.sdk(ctx, mp, version)
	if err != nil {
		return nil, err
	}
	return rec.GoMod, nil
}

// Zip answers @v/{version}.zip: the SDK's zip from the CAS, generated on
// first request.
func (s *Service) Zip(ctx context.Context, mp ModulePath, version string) (ZipFile, error) {
	rec, err := s.sdk(ctx, mp, version)
	if err != nil {
		return ZipFile{}, err
	}
	rc, err := s.cas.Open(ctx, rec.Blob)
	if err != nil {
		return ZipFile{}, err
	}
	return ZipFile{ReadSeekCloser: rc, Size: rec.Size, Digest: rec.Blob, ModTime: rec.CreatedAt}, nil
}

// sdk resolves a canonical version and returns its generated SDK.
func (s *Service) sdk(ctx context.Context, mp ModulePath, version string) (zipRecord, error) {
	v, err := ParseVersion(version)
	if err != nil {
		return zipRecord{}, errs.NotFoundf("%s has no version %q", mp, version)
	}
	t, err := s.resolveVersion(ctx, mp, v)
	if err != nil {
		return zipRecord{}, err
	}
	return s.ensure(ctx, t)
}
