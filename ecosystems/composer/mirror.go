package composer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Metadata returns the p2 document of a package as the organization's
// repository serves it: the private document when the organization owns
// the name (uploads or git), otherwise the document of the first upstream,
// in priority order, that has the package. A private name never yields an
// upstream's versions, even when it has none of its own left.
func (s *Service) Metadata(ctx context.Context, orgName, name string, dev bool) (Doc, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return Doc{}, err
	}
	gen, err := s.meta.Generation(ctx, scope(org))
	if err != nil {
		return Doc{}, err
	}
	key := "p2/" + name + ".json"
	if dev {
		key = "p2/" + name + "~dev.json"
	}
	d, err := s.documentAt(ctx, org, gen, key)
	if err == nil || !errors.Is(err, errs.ErrNotFound) {
		return d, err
	}
	notFound := errs.NotFoundf("package %s not found", name)
	if private, err := s.isPrivate(ctx, org, gen, name); err != nil || private {
		if err != nil {
			return Doc{}, err
		}
		return Doc{}, notFound
	}
	ups, err := s.upstreamsAt(ctx, org, gen)
	if err != nil {
		return Doc{}, err
	}
	for _, u := range ups {
		st, ok, err := s.upstreamP2(ctx, u, name, dev)
		if err != nil {
			// A higher-priority upstream that cannot answer blocks the
			// lower ones: they must never stand in for it.
			return Doc{}, err
		}
		if ok {
			return s.proxiedDoc(ctx, org, u, key, name, st)
		}
	}
	return Doc{}, notFound
}

// documentAt is Document at a known generation.
func (s *Service) documentAt(ctx context.Context, org orgRef, gen int64, key string) (Doc, error) {
	ck := fmt.Sprintf("composer:doc:%s:%d:%s", org.ID, gen, key)
	v, err := cache.GetOrLoad(ctx, s.cache, &s.loads, ck, s.cfg.CacheTTL, func(ctx context.Context) ([]byte, error) {
		d, err := s.meta.GetDocument(ctx, scope(org), key)
		if errors.Is(err, errs.ErrNotFound) {
			return []byte{docMissing}, nil
		}
		if err != nil {
			return nil, err
		}
		return encodeDoc(Doc{Body: d.Body, ModTime: d.ModTime}), nil
	})
	if err != nil {
		return Doc{}, err
	}
	return decodeDoc(v, key)
}

func decodeDoc(v []byte, key string) (Doc, error) {
	if len(v) < 9 || v[0] != docFound {
		return Doc{}, errs.NotFoundf("%s not found", key)
	}
	return Doc{Body: v[9:], ModTime: time.Unix(int64(binary.BigEndian.Uint64(v[1:9])), 0).UTC()}, nil
}

// isPrivate reports whether the organization owns a package name (it was
// ever uploaded or synced from git), at a generation, from the cache.
func (s *Service) isPrivate(ctx context.Context, org orgRef, gen int64, name string) (bool, error) {
	ck := fmt.Sprintf("composer:private:%s:%d:%s", org.ID, gen, name)
	v, err := cache.GetOrLoad(ctx, s.cache, &s.loads, ck, s.cfg.CacheTTL, func(ctx context.Context) ([]byte, error) {
		owned, err := s.store.owns(ctx, org.ID, name)
		if err != nil {
			return nil, err
		}
		if owned {
			return []byte{'1'}, nil
		}
		return []byte{'0'}, nil
	})
	return len(v) == 1 && v[0] == '1', err
}

// upstreamP2 returns an upstream's p2 document of a package when the
// upstream has it (ok).
func (s *Service) upstreamP2(ctx context.Context, u upstreamRow, name string, dev bool) (upDoc, bool, error) {
	root, err := s.upstreamRoot(ctx, u)
	if err != nil {
		return upDoc{}, false, err
	}
	if !root.offers(name) {
		return upDoc{}, false, nil
	}
	key := "p2/" + name + ".json"
	if dev {
		key = "p2/" + name + "~dev.json"
	}
	d, err := s.upstreamDoc(ctx, u, key)
	if err != nil || d.Status != http.StatusOK {
		return d, false, err
	}
	vs, err := upstreamVersions(d.Body, name)
	if err != nil || vs == nil {
		return d, false, nil // Composer ignores a document without the package, so does packyard
	}
	return d, true, nil
}

// upstreamVersions returns the full (expanded) version objects of a
// package in an upstream p2 document; nil when the package is absent.
func upstreamVersions(body []byte, name string) ([]format.Object, error) {
	var doc struct {
		Packages map[string]json.RawMessage `json:"packages"`
		Minified string                     `json:"minified"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	for k, v := range doc.Packages {
		if strings.EqualFold(k, name) {
			raw = v
		}
	}
	if raw == nil {
		return nil, nil
	}
	var list []format.Object
	if err := json.Unmarshal(raw, &list); err != nil {
		// The older form: an object keyed by version.
		var byVersion format.Object
		if err2 := json.Unmarshal(raw, &byVersion); err2 != nil {
			return nil, fmt.Errorf("packages[%s]: %w", name, err)
		}
		for _, f := range byVersion {
			o, err := format.ParseObject(f.Value)
			if err != nil {
				return nil, err
			}
			list = append(list, o)
		}
		return list, nil
	}
	if doc.Minified == "composer/2.0" {
		list = format.Expand(list)
	}
	if list == nil {
		list = []format.Object{}
	}
	return list, nil
}

// proxiedDoc is an upstream's p2 document as packyard serves it, built once
// per upstream change and kept in the cache.
func (s *Service) proxiedDoc(ctx context.Context, org orgRef, u upstreamRow, key, name string, st upDoc) (Doc, error) {
	ck := fmt.Sprintf("composer:proxied:%s:%s:%s:%s", org.ID, u.ID, key, st.Digest)
	v, err := cache.GetOrLoad(ctx, s.cache, &s.loads, ck, s.cfg.CacheTTL, func(context.Context) ([]byte, error) {
		body, err := buildProxied(org.Name, name, st.Body)
		if err != nil {
			return nil, err
		}
		mt := fromMicros(st.Changed)
		if c := fromMicros(u.Created); c.After(mt) {
			mt = c
		}
		return encodeDoc(Doc{Body: body, ModTime: mt.Truncate(time.Second)}), nil
	})
	if err != nil {
		return Doc{}, err
	}
	return decodeDoc(v, key)
}

// buildProxied expands an upstream document (Composer's minified format
// included), points every dist at packyard's mirror while keeping the
// original URL as dist.upstream-url, drops notification-url (downloads are
// reported to packyard), and minifies the result again.
func buildProxied(org, name string, body []byte) ([]byte, error) {
	vs, err := upstreamVersions(body, name)
	if err != nil {
		return nil, fmt.Errorf("upstream document of %s: %w", name, err)
	}
	out := make([]format.Object, 0, len(vs))
	for _, v := range vs {
		out = append(out, rewriteVersion(org, name, v))
	}
	return json.Marshal(struct {
		Packages map[string][]format.Object `json:"packages"`
		Minified string                     `json:"minified"`
	}{map[string][]format.Object{name: format.Minify(out)}, "composer/2.0"})
}

type upstreamDist struct {
	Type      string `json:"type"`
	URL       string `json:"url"`
	Reference string `json:"reference"`
	Shasum    string `json:"shasum"`
}

func parseDist(v format.Object) (upstreamDist, format.Object, bool) {
	raw := v.Get("dist")
	if raw == nil {
		return upstreamDist{}, nil, false
	}
	obj, err := format.ParseObject(raw)
	if err != nil {
		return upstreamDist{}, nil, false
	}
	var d upstreamDist
	if json.Unmarshal(raw, &d) != nil || d.URL == "" {
		return upstreamDist{}, nil, false
	}
	return d, obj, true
}

var safeRef = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// distKey names an upstream archive in packyard's mirror URL: its reference
// when that is URL-safe, else a hash of its URL and reference.
func distKey(d upstreamDist) string {
	if safeRef.MatchString(d.Reference) {
		return d.Reference
	}
	sum := sha256.Sum256([]byte(d.URL + "\x00" + d.Reference))
	return "h" + hex.EncodeToString(sum[:20])
}

var safeExt = regexp.MustCompile(`^[a-z0-9]{1,10}$`)

func distExt(typ string) string {
	if safeExt.MatchString(typ) {
		return typ
	}
	return "bin"
}

// displayURL is an upstream URL without user information or query (which
// may carry the upstream's credentials).
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func rewriteVersion(org, name string, v format.Object) format.Object {
	v = v.Without("notification-url")
	d, obj, ok := parseDist(v)
	if !ok {
		return v
	}
	obj = obj.With("url", format.MustJSON(format.MirrorURL(org, name, distKey(d), distExt(d.Type))))
	obj = obj.With("upstream-url", format.MustJSON(displayURL(d.URL)))
	return v.With("dist", format.MustJSON(obj))
}

// ---- mirrored archives ----

// MirrorDist opens an upstream archive from the mirror, downloading it into
// the CAS on first use (its sha1 verified when the upstream gives one).
// Once mirrored, it is served without the upstream.
func (s *Service) MirrorDist(ctx context.Context, orgName, name, key string) (io.ReadSeekCloser, DistInfo, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, DistInfo{}, err
	}
	r, ok, err := s.store.mirrored(ctx, org.ID, name, key)
	if err != nil {
		return nil, DistInfo{}, err
	}
	if !ok {
		u, d, err := s.findUpstreamDist(ctx, org, name, key)
		if err != nil {
			return nil, DistInfo{}, err
		}
		if r, err = s.mirrorOne(ctx, org, u, name, key, d); err != nil {
			return nil, DistInfo{}, err
		}
	}
	rc, err := s.cas.Open(ctx, r.Digest)
	if err != nil {
		return nil, DistInfo{}, fmt.Errorf("open mirrored archive of %s: %w", name, err)
	}
	return rc, r.info(), nil
}

// packageVersions returns the upstream that serves a (non-private) package
// and its versions, stable and dev.
func (s *Service) packageVersions(ctx context.Context, org orgRef, name string) (upstreamRow, []format.Object, error) {
	gen, err := s.meta.Generation(ctx, scope(org))
	if err != nil {
		return upstreamRow{}, nil, err
	}
	if private, err := s.isPrivate(ctx, org, gen, name); err != nil || private {
		if err != nil {
			return upstreamRow{}, nil, err
		}
		return upstreamRow{}, nil, errs.NotFoundf("%s is a private package of %s: it is never taken from an upstream", name, org.Name)
	}
	ups, err := s.upstreamsAt(ctx, org, gen)
	if err != nil {
		return upstreamRow{}, nil, err
	}
	for _, u := range ups {
		var all []format.Object
		found := false
		for _, dev := range []bool{false, true} {
			st, ok, err := s.upstreamP2(ctx, u, name, dev)
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

func (s *Service) findUpstreamDist(ctx context.Context, org orgRef, name, key string) (upstreamRow, upstreamDist, error) {
	u, vs, err := s.packageVersions(ctx, org, name)
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
func (s *Service) mirrorOne(ctx context.Context, org orgRef, u upstreamRow, name, key string, d upstreamDist) (archiveRow, error) {
	fk := org.ID + ":" + name + ":" + key
	ch := s.distFlight.DoChan(fk, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*s.cfg.Upstream.Timeout)
		defer cancel()
		unlock, err := s.locker.Lock(fctx, "composer:distlock:"+fk, 10*s.cfg.Upstream.Timeout)
		if err != nil {
			return archiveRow{}, fmt.Errorf("lock archive: %w", err)
		}
		defer unlock()
		if r, ok, err := s.store.mirrored(fctx, org.ID, name, key); err != nil || ok {
			return r, err
		}
		return s.download(fctx, org, u, name, key, d)
	})
	select {
	case <-ctx.Done():
		return archiveRow{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return archiveRow{}, r.Err
		}
		return r.Val.(archiveRow), nil
	}
}

func (s *Service) download(ctx context.Context, org orgRef, u upstreamRow, name, key string, d upstreamDist) (archiveRow, error) {
	pw, err := s.upstreamPassword(ctx, u)
	if err != nil {
		return archiveRow{}, err
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return archiveRow{}, fmt.Errorf("upstream rate limit: %w", err)
	}
	req, err := s.newUpstreamRequest(ctx, u, pw, http.MethodGet, d.URL, nil)
	if err != nil {
		return archiveRow{}, errs.Unavailablef("archive of %s: bad upstream URL: %v", name, err)
	}
	res, err := s.distc.Do(req)
	if err != nil {
		return archiveRow{}, errs.Unavailablef("downloading the archive of %s from its upstream failed: %v", name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return archiveRow{}, errs.Unavailablef("downloading the archive of %s from its upstream failed: HTTP %d", name, res.StatusCode)
	}
	opts := []cas.PutOption{cas.WithDigests(cas.SHA1), cas.WithMaxSize(s.cfg.MaxDistSize)}
	if sum := strings.ToLower(d.Shasum); sum != "" {
		opts = append(opts, cas.WithExpected(cas.SHA1, sum))
	}
	desc, err := s.cas.Put(ctx, res.Body, opts...)
	if err != nil {
		if errors.Is(err, errs.ErrInvalidArgument) {
			return archiveRow{}, errs.Unavailablef("the upstream archive of %s was refused: %v", name, err)
		}
		return archiveRow{}, fmt.Errorf("store the archive of %s: %w", name, err)
	}
	r := archiveRow{Digest: desc.Digest, SHA1: desc.Extra[cas.SHA1], Size: desc.Size, Created: micros(s.now())}
	err = s.store.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if inserted, err := s.store.insertMirrored(ctx, tx, org.ID, name, key, d.URL, r); err != nil || !inserted {
			return err
		}
		return s.meta.AddBlobRef(ctx, tx, r.Digest, "composer:mirror:"+org.ID+":"+name+":"+key)
	})
	if err != nil {
		return archiveRow{}, err
	}
	s.log.Info("archive mirrored", zap.String("org", org.Name), zap.String("package", name), zap.String("key", key), zap.Int64("size", r.Size))
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
func (s *Service) MirrorPackage(ctx context.Context, orgName, name, version string) ([]MirrorResult, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if err := format.ValidatePackageName(name); err != nil {
		return nil, errs.Invalidf("%v", err)
	}
	want := ""
	if version != "" {
		if want, err = format.Normalize(version); err != nil {
			return nil, errs.Invalidf("version %q is not a valid Composer version", version)
		}
	}
	u, vs, err := s.packageVersions(ctx, org, name)
	if err != nil {
		return nil, err
	}
	out := []MirrorResult{}
	for _, v := range vs {
		var pretty, norm string
		_ = json.Unmarshal(v.Get("version"), &pretty)
		if norm, _ = format.Normalize(pretty); norm == "" {
			_ = json.Unmarshal(v.Get("version_normalized"), &norm)
		}
		if want != "" && norm != want {
			continue
		}
		d, _, ok := parseDist(v)
		if !ok {
			continue
		}
		out = append(out, s.mirrorResult(ctx, org, u, name, pretty, d))
	}
	if want != "" && len(out) == 0 {
		return nil, errs.NotFoundf("%s %s not found in its upstream", name, version)
	}
	return out, nil
}

func (s *Service) mirrorResult(ctx context.Context, org orgRef, u upstreamRow, name, pretty string, d upstreamDist) MirrorResult {
	res := MirrorResult{Name: name, Version: pretty, Reference: d.Reference}
	r, err := s.mirrorOne(ctx, org, u, name, distKey(d), d)
	if err != nil {
		res.Status, res.Error = "failed", errs.PublicMessage(err)
		return res
	}
	res.Status, res.Size = "mirrored", r.Size
	return res
}

// MirrorLock mirrors every upstream package a composer.lock pins, by the
// reference it pins. Private packages are reported and skipped.
func (s *Service) MirrorLock(ctx context.Context, orgName string, lock []byte) ([]MirrorResult, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	var l struct {
		Packages    []lockPackage `json:"packages"`
		PackagesDev []lockPackage `json:"packages-dev"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		return nil, errs.Invalidf("not a composer.lock: %v", err)
	}
	if l.Packages == nil && l.PackagesDev == nil {
		return nil, errs.Invalidf("not a composer.lock: no \"packages\"")
	}
	out := []MirrorResult{}
	for _, p := range append(l.Packages, l.PackagesDev...) {
		name := strings.ToLower(p.Name)
		res := MirrorResult{Name: name, Version: p.Version, Reference: p.Dist.Reference}
		if format.ValidatePackageName(name) != nil || p.Dist.URL == "" {
			res.Status, res.Error = "not-found", "no dist in the lock file"
			out = append(out, res)
			continue
		}
		gen, err := s.meta.Generation(ctx, scope(org))
		if err != nil {
			return nil, err
		}
		if private, err := s.isPrivate(ctx, org, gen, name); err != nil {
			return nil, err
		} else if private {
			res.Status = "private"
			out = append(out, res)
			continue
		}
		u, vs, err := s.packageVersions(ctx, org, name)
		switch {
		case err != nil:
			res.Status, res.Error = "not-found", errs.PublicMessage(err)
			out = append(out, res)
			continue
		}
		var match *upstreamDist
		for _, v := range vs {
			if d, _, ok := parseDist(v); ok && d.Reference == p.Dist.Reference && (d.Reference != "" || d.URL == p.Dist.URL) {
				match = &d
				break
			}
		}
		if match == nil {
			res.Status, res.Error = "not-found", "the locked reference is not in the upstream's metadata"
			out = append(out, res)
			continue
		}
		out = append(out, s.mirrorResult(ctx, org, u, name, p.Version, *match))
	}
	return out, nil
}

type lockPackage struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Dist    upstreamDist `json:"dist"`
}
