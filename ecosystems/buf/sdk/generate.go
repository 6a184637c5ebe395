package sdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// ZipFile is a stored SDK zip, open for reading.
type ZipFile struct {
	io.ReadSeekCloser
	Size    int64
	Digest  string // sha256 hex
	ModTime time.Time
}

// generateLockTTL is how long a generation holds the lock if its replica
// dies; generations still running then are expected to have failed.
const generateLockTTL = 10 * time.Minute

// ensure returns the SDK of t, generating it first when no replica has:
// one generation at a time per SDK across replicas, the others wait and
// then find it stored.
func (s *Service) ensure(ctx context.Context, t target) (zipRecord, error) {
	find := func() (zipRecord, error) {
		return s.st.zip(ctx, t.commit.ID, t.plugin.Owner, t.plugin.Name, t.version.String())
	}
	rec, err := find()
	if errs.Category(err) != errs.ErrNotFound {
		return rec, err
	}
	unlock, err := s.locker.Lock(ctx, "buf:sdk:"+t.commit.ID+":"+t.path.String()+"@"+t.version.String(), generateLockTTL)
	if err != nil {
		return zipRecord{}, err
	}
	defer unlock()
	if rec, err := find(); errs.Category(err) != errs.ErrNotFound {
		return rec, err
	}
	start := time.Now()
	files, goMod, err := s.generate(ctx, t)
	if err != nil {
		return zipRecord{}, err
	}
	rec, err = s.store(ctx, t, files, goMod)
	if err != nil {
		return zipRecord{}, err
	}
	s.log.Info("generated an SDK", zap.String("module", t.path.String()), zap.String("version", rec.Version),
		zap.Int("files", len(files)), zap.Int64("bytes", rec.Size), zap.Duration("took", time.Since(start)))
	return rec, nil
}

// store writes the zip to the CAS and records it, referenced by the module
// so that deleting the module releases it.
func (s *Service) store(ctx context.Context, t target, files []File, goMod []byte) (zipRecord, error) {
	mod, version := t.path.String(), t.version.String()
	body, err := ZipBytes(mod, version, append(files, File{Path: "go.mod", Content: goMod}))
	if err != nil {
		return zipRecord{}, err
	}
	d, err := s.cas.Put(ctx, bytes.NewReader(body), cas.WithMaxSize(maxZipSize))
	if err != nil {
		return zipRecord{}, err
	}
	rec := zipRecord{CommitID: t.commit.ID, PluginOwner: t.plugin.Owner, PluginName: t.plugin.Name, Version: version,
		Blob: d.Digest, Size: d.Size, GoMod: goMod, CreatedAt: s.now()}
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.st.insertZip(ctx, tx, rec); err != nil {
			return err
		}
		return s.meta.AddBlobRef(ctx, tx, d.Digest, buf.BlobRef(t.module.ID))
	})
	if err != nil {
		return zipRecord{}, err
	}
	// Another writer may have recorded it first (the lock fell back to
	// one process while the cache was down): answer what is recorded.
	return s.st.zip(ctx, rec.CommitID, rec.PluginOwner, rec.PluginName, rec.Version)
}

// dep is a dependency of the commit an SDK is generated from.
type dep struct {
	module buf.ModuleRecord
	commit buf.Commit
}

// generate runs the plugin on the commit and its dependencies and returns
// the SDK's files and go.mod, in phases: plan (the dependencies and the
// plugins whose packages the files go to), read (the files), compile, run.
func (s *Service) generate(ctx context.Context, t target) ([]File, []byte, error) {
	deps, err := s.deps(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	// Messages live in the base plugin's SDK when there is one: the
	// connect-go SDK imports the protocolbuffers-go SDK's packages.
	pkgPlugin := t.plugin
	if t.plugin.BasePlugin != "" {
		owner, name, ok := strings.Cut(t.plugin.BasePlugin, "/")
		if !ok {
			return nil, nil, errs.PreconditionFailedf("plugin %s/%s has an invalid base plugin %q", t.plugin.Owner, t.plugin.Name, t.plugin.BasePlugin)
		}
		if pkgPlugin, err = s.plugin(ctx, owner, name, "", 0); err != nil {
			return nil, nil, err
		}
	}
	goMod, err := s.goMod(ctx, t, pkgPlugin, deps)
	if err != nil {
		return nil, nil, err
	}
	sources, err := s.read(ctx, t, deps)
	if err != nil {
		return nil, nil, err
	}
	compiled, err := Compile(ctx, sources[0], sources[1:])
	if err != nil {
		return nil, nil, err
	}
	base := t.path.WithPlugin(pkgPlugin.Owner, pkgPlugin.Name)
	SetGoPackages(compiled, func(i int) ModulePath {
		return base.WithModule(sources[i].Owner, sources[i].Module)
	})
	req := s.request(compiled.Files, compiled.Generate, "paths=source_relative")
	resp, err := s.runner.Run(ctx, t.plugin, req)
	if err != nil {
		return nil, nil, err
	}
	files, err := responseFiles(t.plugin, resp)
	return files, goMod, err
}

// deps lists the commits the commit's graph pins, with their modules.
func (s *Service) deps(ctx context.Context, t target) ([]dep, error) {
	g, err := s.reg.Graph(ctx, []buf.ResourceRef{{ID: t.commit.ID}})
	if err != nil {
		return nil, err
	}
	var out []dep
	for _, c := range g.Commits {
		if c.ID == t.commit.ID {
			continue
		}
		_, res, err := s.reg.ResolveCommit(ctx, buf.ResourceRef{ID: c.ID})
		if err != nil {
			return nil, err
		}
		out = append(out, dep{module: res.Module, commit: c})
	}
	return out, nil
}

// goVersionRE is a go line's version.
var goVersionRE = regexp.MustCompile(`^1\.[0-9]{1,3}(\.[0-9]{1,3})?$`)

// goMod renders the SDK's go.mod: the plugin's Go dependencies, the base
// plugin's SDK of the same commit, and the SDKs of every dependency at the
// commit the graph pins (by this plugin and by the base plugin).
func (s *Service) goMod(ctx context.Context, t target, pkgPlugin Plugin, deps []dep) ([]byte, error) {
	name := t.plugin.Owner + "/" + t.plugin.Name
	if t.plugin.GoMinVersion != "" && !goVersionRE.MatchString(t.plugin.GoMinVersion) {
		return nil, errs.PreconditionFailedf("plugin %s declares an invalid minimum Go version %q", name, t.plugin.GoMinVersion)
	}
	var reqs []Require
	for _, d := range t.plugin.GoDeps {
		r, err := ParseGoDep(d)
		if err != nil {
			return nil, errs.Wrap(errs.ErrFailedPrecondition, "plugin "+name+" declares an invalid Go dependency", err)
		}
		reqs = append(reqs, r)
	}
	plugins := []Plugin{t.plugin}
	if pkgPlugin.ID != t.plugin.ID || pkgPlugin.Name != t.plugin.Name || pkgPlugin.Owner != t.plugin.Owner {
		plugins = append(plugins, pkgPlugin)
		v, err := s.versionOf(ctx, t.module, t.commit, pkgPlugin)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, Require{Path: t.path.WithPlugin(pkgPlugin.Owner, pkgPlugin.Name).String(), Version: v.String()})
	}
	for _, d := range deps {
		for _, p := range plugins {
			v, err := s.versionOf(ctx, d.module, d.commit, p)
			if err != nil {
				return nil, err
			}
			mp := t.path.WithModule(d.module.OwnerName, d.module.Name).WithPlugin(p.Owner, p.Name)
			reqs = append(reqs, Require{Path: mp.String(), Version: v.String()})
		}
	}
	return GoMod(t.path.String(), t.plugin.GoMinVersion, reqs), nil
}

// read downloads the .proto files of the commit (first) and of its
// dependencies, one commit at a time so that each stays within the
// registry's response limit.
func (s *Service) read(ctx context.Context, t target, deps []dep) ([]Source, error) {
	all := append([]dep{{module: t.module, commit: t.commit}}, deps...)
	out := make([]Source, len(all))
	for i, d := range all {
		got, err := s.reg.DownloadFiles(ctx, []buf.DownloadRequest{{
			Ref: buf.ResourceRef{ID: d.commit.ID}, Types: []module.FileType{module.FileTypeProto},
		}})
		if err != nil {
			return nil, err
		}
		files := map[string][]byte{}
		for _, g := range got {
			for _, f := range g.Files {
				files[f.Path] = f.Content
			}
		}
		out[i] = Source{Owner: d.module.OwnerName, Module: d.module.Name, Files: files}
	}
	return out, nil
}

// responseFiles checks a plugin's answer and returns its files.
func responseFiles(p Plugin, resp *pluginpb.CodeGeneratorResponse) ([]File, error) {
	name := fmt.Sprintf("%s/%s:%s (revision %d)", p.Owner, p.Name, p.Version, p.Revision)
	if resp == nil {
		return nil, errs.PreconditionFailedf("plugin %s gave no response", name)
	}
	if resp.Error != nil {
		return nil, errs.PreconditionFailedf("plugin %s failed: %s", name, resp.GetError())
	}
	seen := map[string]bool{}
	files := make([]File, 0, len(resp.File))
	for _, f := range resp.File {
		n := f.GetName()
		switch {
		case f.GetInsertionPoint() != "":
			return nil, errs.PreconditionFailedf("plugin %s wrote to insertion point %q, which SDKs do not support", name, f.GetInsertionPoint())
		case n == "" || path.Clean(n) != n || path.IsAbs(n) || strings.HasPrefix(n, "../") || n == "go.mod":
			return nil, errs.PreconditionFailedf("plugin %s wrote a file named %q, which an SDK cannot hold", name, n)
		case seen[n]:
			return nil, errs.PreconditionFailedf("plugin %s wrote %q twice", name, n)
		}
		seen[n] = true
		files = append(files, File{Path: n, Content: []byte(f.GetContent())})
	}
	return files, nil
}
