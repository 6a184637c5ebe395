package composer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
)

// metadata returns an upstream's p2 document of a package the organization
// does not own, from the first upstream, in priority order, that has it.
func (p *Proxy) metadata(ctx context.Context, org orgRef, gen int64, name string, dev bool) (Doc, error) {
	notFound := errs.NotFoundf("package %s not found", name)
	ups, private, err := p.upstreamsFor(ctx, org, gen, name)
	if err != nil {
		return Doc{}, err
	}
	if private {
		return Doc{}, notFound
	}
	for _, u := range ups {
		st, ok, err := p.upstreamP2(ctx, u, name, dev)
		if err != nil {
			// A higher-priority upstream that cannot answer blocks the
			// lower ones: they must never stand in for it.
			return Doc{}, err
		}
		if ok {
			return p.proxiedDoc(ctx, org, u, p2Key(name, dev), name, st)
		}
	}
	return Doc{}, notFound
}

// upstreamP2 returns an upstream's p2 document of a package when the
// upstream has it (ok).
func (p *Proxy) upstreamP2(ctx context.Context, u upstreamRow, name string, dev bool) (upDoc, bool, error) {
	root, err := p.upstreamRoot(ctx, u)
	if err != nil {
		return upDoc{}, false, err
	}
	if !root.offers(name) {
		return upDoc{}, false, nil
	}
	d, err := p.upstreamDoc(ctx, u, p2Key(name, dev))
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
func (p *Proxy) proxiedDoc(ctx context.Context, org orgRef, u upstreamRow, key, name string, st upDoc) (Doc, error) {
	ck := fmt.Sprintf("composer:proxieddoc:%s:%s:%s:%s", org.ID, u.ID, key, st.Digest)
	v, err := cache.GetOrLoad(ctx, p.cache, &p.loads, ck, p.cfg.CacheTTL, func(context.Context) ([]byte, error) {
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
// original URL as dist.upstream-url, keeps only the fields a registry
// serves (format.Served: no notification-url, downloads are reported to
// packyard), and minifies the result again.
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
	v = format.Served(v)
	d, obj, ok := parseDist(v)
	if !ok {
		return v
	}
	obj = obj.With("url", format.MustJSON(format.MirrorURL(org, name, distKey(d), distExt(d.Type))))
	obj = obj.With("upstream-url", format.MustJSON(displayURL(d.URL)))
	return v.With("dist", format.MustJSON(obj))
}
