package composer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/sqldb"
)

// ---- mirrored archives ----

// MirrorDist opens an upstream archive from the mirror, downloading it into
// the CAS on first use (its sha1 verified when the upstream gives one).
// Once mirrored, it is served without the upstream.
func (p *Proxy) MirrorDist(ctx context.Context, orgName, name, key string) (io.ReadSeekCloser, DistInfo, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, DistInfo{}, err
	}
	r, ok, err := p.store.mirrored(ctx, org.ID, name, key)
	if err != nil {
		return nil, DistInfo{}, err
	}
	if !ok {
		u, d, err := p.findUpstreamDist(ctx, org, name, key)
		if err != nil {
			return nil, DistInfo{}, err
		}
		if r, err = p.mirrorOne(ctx, org, u, name, key, d); err != nil {
			return nil, DistInfo{}, err
		}
	}
	rc, err := p.cas.Open(ctx, r.Digest)
	if err != nil {
		return nil, DistInfo{}, fmt.Errorf("open mirrored archive of %s: %w", name, err)
	}
	return rc, r.info(), nil
}

// packageVersions returns the upstream that serves a (non-private) package
// and its versions, stable and dev.
func (p *Proxy) packageVersions(ctx context.Context, org orgRef, name string) (upstreamRow, []format.Object, error) {
	gen, err := p.repo.generation(ctx, org)
	if err != nil {
		return upstreamRow{}, nil, err
	}
	ups, private, err := p.upstreamsFor(ctx, org, gen, name)
	if err != nil {
		return upstreamRow{}, nil, err
	}
	if private {
		return upstreamRow{}, nil, errs.NotFoundf("%s is a private package of %s: it is never taken from an upstream", name, org.Name)
	}
	for _, u := range ups {
		var all []format.Object
		found := false
		for _, dev := range []bool{false, true} {
			st, ok, err := p.upstreamP2(ctx, u, name, dev)
			if err != nil {
				return upstreamRow{}, nil, err
			}
			if !ok {
				continue
			}
			found = true
			vs, err := upstreamVersions(st.Body, name)
			if err != nil {
				return upstreamRow{}, nil, err
			}
			all = append(all, vs...)
		}
		if found {
			return u, all, nil
		}
	}
	return upstreamRow{}, nil, errs.NotFoundf("package %s not found in the upstreams of %s", name, org.Name)
}

func (p *Proxy) findUpstreamDist(ctx context.Context, org orgRef, name, key string) (upstreamRow, upstreamDist, error) {
	u, vs, err := p.packageVersions(ctx, org, name)
	if err != nil {
		return upstreamRow{}, upstreamDist{}, err
	}
	for _, v := range vs {
		if d, _, ok := parseDist(v); ok && distKey(d) == key {
			return u, d, nil
		}
	}
	return upstreamRow{}, upstreamDist{}, errs.NotFoundf("no archive %s of %s in its upstream", key, name)
}

// mirrorOne downloads an upstream archive into the CAS once across every
// replica: singleflight in this process, the cache's lock across replicas,
// and a look at the table once the lock is held.
func (p *Proxy) mirrorOne(ctx context.Context, org orgRef, u upstreamRow, name, key string, d upstreamDist) (archiveRow, error) {
	fk := org.ID + ":" + name + ":" + key
	r, _, err := detached(ctx, &p.distFlight, fk, 10*p.cfg.Upstream.Timeout, func(ctx context.Context) (archiveRow, error) {
		unlock, err := p.locker.Lock(ctx, "composer:distlock:"+fk, 10*p.cfg.Upstream.Timeout)
		if err != nil {
			return archiveRow{}, fmt.Errorf("lock archive: %w", err)
		}
		defer unlock()
		if r, ok, err := p.store.mirrored(ctx, org.ID, name, key); err != nil || ok {
			return r, err
		}
		return p.download(ctx, org, u, name, key, d)
	})
	return r, err
}

func (p *Proxy) download(ctx context.Context, org orgRef, u upstreamRow, name, key string, d upstreamDist) (archiveRow, error) {
	pw, err := p.client.password(ctx, u)
	if err != nil {
		return archiveRow{}, err
	}
	if err := p.client.wait(ctx); err != nil {
		return archiveRow{}, err
	}
	req, err := newRequest(ctx, u, pw, http.MethodGet, d.URL, nil)
	if err != nil {
		p.log.Warn("bad upstream archive URL", zap.String("package", name), zap.Error(err))
		return archiveRow{}, fmt.Errorf("downloading the archive of %s: %w", name, outbound.Unreachable(err))
	}
	res, err := p.client.distc.Do(req)
	if err != nil {
		p.log.Warn("upstream archive download failed", zap.String("package", name), zap.String("detail", outbound.Detail(err)))
		return archiveRow{}, fmt.Errorf("downloading the archive of %s: %w", name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return archiveRow{}, errs.Unavailablef("downloading the archive of %s from its upstream failed: HTTP %d", name, res.StatusCode)
	}
	opts := []cas.PutOption{cas.WithDigests(cas.SHA1), cas.WithMaxSize(p.cfg.MaxDistSize)}
	if sum := strings.ToLower(d.Shasum); sum != "" {
		opts = append(opts, cas.WithExpected(cas.SHA1, sum))
	}
	desc, err := p.cas.Put(ctx, res.Body, opts...)
	if err != nil {
		if errors.Is(err, errs.ErrInvalidArgument) {
			return archiveRow{}, errs.Wrap(errs.ErrUnavailable, fmt.Sprintf("the upstream archive of %s was refused: %s", name, errs.PublicMessage(err)), err)
		}
		return archiveRow{}, fmt.Errorf("store the archive of %s: %w", name, err)
	}
	r := archiveRow{Digest: desc.Digest, SHA1: desc.Extra[cas.SHA1], Size: desc.Size, Created: micros(p.repo.now())}
	err = p.store.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if inserted, err := p.store.insertMirrored(ctx, tx, org.ID, name, key, d.URL, r); err != nil || !inserted {
			return err
		}
		return p.refs.AddBlobRef(ctx, tx, r.Digest, "composer:mirror:"+org.ID+":"+name+":"+key)
	})
	if err != nil {
		return archiveRow{}, err
	}
	p.log.Info("archive mirrored", zap.String("org", org.Name), zap.String("package", name), zap.String("key", key), zap.Int64("size", r.Size))
	return r, nil
}

// ---- eager mirroring ----

// MirrorResult is the outcome of mirroring one version.
type MirrorResult struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Reference string `json:"reference,omitempty"`
	Status    string `json:"status"` // mirrored, private, not-found, failed
	Size      int64  `json:"size,omitempty"`
	Error     string `json:"error,omitempty"`
}

// MirrorPackage mirrors every version of an upstream package (or only the
// one named by version) into the CAS now.
func (p *Proxy) MirrorPackage(ctx context.Context, orgName, name, version string) ([]MirrorResult, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if err := format.ValidatePackageName(name); err != nil {
		return nil, err
	}
	want := ""
	if version != "" {
		if want, err = format.Normalize(version); err != nil {
			return nil, errs.Invalidf("version %q is not a valid Composer version", version)
		}
	}
	u, vs, err := p.packageVersions(ctx, org, name)
	if err != nil {
		return nil, err
	}
	out := []MirrorResult{}
	exact := false // version is one's pretty version: that one only (1.x-dev, not v1.x-dev)
	for _, v := range vs {
		exact = exact || (version != "" && prettyVersion(v) == version)
	}
	for _, v := range vs {
		pretty, norm := prettyVersion(v), ""
		if norm, _ = format.Normalize(pretty); norm == "" {
			_ = json.Unmarshal(v.Get("version_normalized"), &norm)
		}
		if want != "" && (norm != want || exact && pretty != version) {
			continue
		}
		d, _, ok := parseDist(v)
		if !ok {
			continue
		}
		out = append(out, p.mirrorResult(ctx, org, u, name, pretty, d))
	}
	if want != "" && len(out) == 0 {
		return nil, errs.NotFoundf("%s %s not found in its upstream", name, version)
	}
	return out, nil
}

// prettyVersion is an upstream version's pretty version.
func prettyVersion(v format.Object) string {
	var pretty string
	_ = json.Unmarshal(v.Get("version"), &pretty)
	return pretty
}

func (p *Proxy) mirrorResult(ctx context.Context, org orgRef, u upstreamRow, name, pretty string, d upstreamDist) MirrorResult {
	res := MirrorResult{Name: name, Version: pretty, Reference: d.Reference}
	r, err := p.mirrorOne(ctx, org, u, name, distKey(d), d)
	if err != nil {
		res.Status, res.Error = "failed", errs.PublicMessage(err)
		return res
	}
	res.Status, res.Size = "mirrored", r.Size
	return res
}

// MirrorLock mirrors every upstream package a composer.lock pins, by the
// reference it pins. Private packages are reported and skipped.
func (p *Proxy) MirrorLock(ctx context.Context, orgName string, lock []byte) ([]MirrorResult, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	pkgs, err := parseLock(lock)
	if err != nil {
		return nil, err
	}
	out := []MirrorResult{}
	for _, pkg := range pkgs {
		res, err := p.mirrorLocked(ctx, org, pkg)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

type lockPackage struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Dist    upstreamDist `json:"dist"`
}

// parseLock returns the packages a composer.lock pins, dev ones last.
func parseLock(lock []byte) ([]lockPackage, error) {
	var l struct {
		Packages    []lockPackage `json:"packages"`
		PackagesDev []lockPackage `json:"packages-dev"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		return nil, fmt.Errorf("not a composer.lock: %w", errs.BadJSON(err))
	}
	if l.Packages == nil && l.PackagesDev == nil {
		return nil, errs.Invalidf("not a composer.lock: no \"packages\"")
	}
	return append(l.Packages, l.PackagesDev...), nil
}

// mirrorLocked mirrors the archive a lock file pins for one package; the
// error is for failures that stop the whole run.
func (p *Proxy) mirrorLocked(ctx context.Context, org orgRef, pkg lockPackage) (MirrorResult, error) {
	name := strings.ToLower(pkg.Name)
	res := MirrorResult{Name: name, Version: pkg.Version, Reference: pkg.Dist.Reference}
	if format.ValidatePackageName(name) != nil || pkg.Dist.URL == "" {
		res.Status, res.Error = "not-found", "no dist in the lock file"
		return res, nil
	}
	gen, err := p.repo.generation(ctx, org)
	if err != nil {
		return res, err
	}
	if private, err := p.repo.isPrivate(ctx, org, gen, name); err != nil || private {
		res.Status = "private"
		return res, err
	}
	u, vs, err := p.packageVersions(ctx, org, name)
	if err != nil {
		res.Status, res.Error = "not-found", errs.PublicMessage(err)
		return res, nil
	}
	for _, v := range vs {
		if d, _, ok := parseDist(v); ok && d.Reference == pkg.Dist.Reference && (d.Reference != "" || d.URL == pkg.Dist.URL) {
			return p.mirrorResult(ctx, org, u, name, pkg.Version, d), nil
		}
	}
	res.Status, res.Error = "not-found", "the locked reference is not in the upstream's metadata"
	return res, nil
}
