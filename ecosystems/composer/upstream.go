package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// ---- upstream documents ----

// upDoc is the last answer of an upstream for one document.
type upDoc struct {
	Status  int    `json:"s"` // 200 or 404
	LastMod string `json:"lm,omitempty"`
	Checked int64  `json:"c"` // µs: when the upstream last answered (or failed, see refresh)
	Changed int64  `json:"m"` // µs: when the body last changed
	Digest  string `json:"d,omitempty"`
	Body    []byte `json:"-"`
}

// encodeUpDoc frames an upstream's answer for the cache: its JSON fields
// as the header.
func encodeUpDoc(d upDoc) []byte { return frame(d, d.Body) }

func decodeUpDoc(b []byte) (upDoc, error) {
	var d upDoc
	body, err := unframe(b, &d)
	if err != nil {
		return upDoc{}, fmt.Errorf("cached upstream document: %w", err)
	}
	d.Body = body
	return d, nil
}

func (p *Proxy) fresh(d upDoc) bool {
	return p.repo.now().Sub(fromMicros(d.Checked)) < p.cfg.Upstream.MaxAge
}

func upDocKey(upstreamID, key string) string { return "composer:updoc:" + upstreamID + ":" + key }

// rootURL is where a repository URL's root document is: the URL itself when
// its path names a .json file, as Composer does.
func rootURL(repo string) string {
	if u, err := url.Parse(repo); err == nil && strings.Contains(u.Path, ".json") {
		return repo
	}
	return repo + "/packages.json"
}

// upstreamDoc returns an upstream's document, from the cache while it is
// fresh, otherwise revalidated with the upstream (If-Modified-Since). At
// most one request per document is in flight in this process (singleflight)
// and across replicas (the cache's lock; the cache is looked at again once
// the lock is held). When the upstream fails, the last good answer is
// served.
func (p *Proxy) upstreamDoc(ctx context.Context, u upstreamRow, key string) (upDoc, error) {
	ck := upDocKey(u.ID, key)
	if v, err := p.cache.Get(ctx, ck); err == nil {
		if d, err := decodeUpDoc(v); err == nil && p.fresh(d) {
			return d, nil
		}
	}
	d, shared, err := detached(ctx, &p.docFlight, ck, 2*p.cfg.Upstream.Timeout, func(ctx context.Context) (upDoc, error) {
		return p.refresh(ctx, u, key)
	})
	if shared {
		d.Body = bytes.Clone(d.Body)
	}
	return d, err
}

func (p *Proxy) refresh(ctx context.Context, u upstreamRow, key string) (upDoc, error) {
	ck := upDocKey(u.ID, key)
	unlock, err := p.locker.Lock(ctx, "composer:uplock:"+u.ID+":"+key, 3*p.cfg.Upstream.Timeout)
	if err != nil {
		return upDoc{}, fmt.Errorf("lock upstream document: %w", err)
	}
	defer unlock()
	if v, err := p.cache.Get(ctx, ck); err == nil {
		if d, err := decodeUpDoc(v); err == nil && p.fresh(d) {
			return d, nil // another replica refreshed it while this one waited
		}
	}
	old, hasOld, err := p.store.upstreamDoc(ctx, u.ID, key)
	if err != nil {
		return upDoc{}, err
	}
	if hasOld && p.fresh(old) {
		_ = p.cache.Set(ctx, ck, encodeUpDoc(old), p.cfg.CacheTTL)
		return old, nil
	}
	target := rootURL(u.URL)
	if key != "packages.json" {
		root, err := p.upstreamRoot(ctx, u)
		if err != nil {
			return p.serveStale(ctx, u, key, old, hasOld, err)
		}
		target = root.p2URL(strings.TrimSuffix(strings.TrimPrefix(key, "p2/"), ".json"))
	}
	pw, err := p.client.password(ctx, u)
	if err != nil {
		return upDoc{}, err
	}
	lastMod := ""
	if hasOld && old.Status == http.StatusOK {
		lastMod = old.LastMod
	}
	got, err := p.client.fetchDoc(ctx, u, pw, target, lastMod)
	if err != nil {
		return p.serveStale(ctx, u, key, old, hasOld, err)
	}
	now := micros(p.repo.now())
	switch {
	case got.Status == http.StatusNotModified:
		got = old
	case hasOld && old.Status == got.Status && old.Digest == got.Digest:
		got.Changed = old.Changed
	default:
		got.Changed = now
	}
	got.Checked = now
	if err := p.storeDoc(ctx, p.store.db, u.ID, key, got); err != nil {
		return upDoc{}, err
	}
	_ = p.cache.Set(ctx, ck, encodeUpDoc(got), p.cfg.CacheTTL)
	return got, nil
}

// serveStale answers with the last good copy when the upstream failed, and keeps
// it "fresh" for a short while so an unreachable upstream is not asked on
// every request.
func (p *Proxy) serveStale(ctx context.Context, u upstreamRow, key string, old upDoc, hasOld bool, cause error) (upDoc, error) {
	if !hasOld {
		return upDoc{}, errs.Unavailablef("upstream %s failed and packyard has no copy of its %s yet: %v", u.URL, key, cause)
	}
	p.log.Warn("upstream failed; serving the last good copy", zap.String("upstream", u.URL), zap.String("doc", key), zap.Error(cause))
	backoff := min(p.cfg.Upstream.MaxAge, 30*time.Second)
	old.Checked = micros(p.repo.now().Add(backoff - p.cfg.Upstream.MaxAge))
	_ = p.cache.Set(ctx, upDocKey(u.ID, key), encodeUpDoc(old), p.cfg.CacheTTL)
	return old, nil
}

func (p *Proxy) storeDoc(ctx context.Context, q sqldb.Querier, upstreamID, key string, d upDoc) error {
	if d.Checked == 0 {
		d.Checked = micros(p.repo.now())
	}
	if d.Changed == 0 {
		d.Changed = d.Checked
	}
	return p.store.putUpstreamDoc(ctx, q, upstreamID, key, d)
}

// ---- an upstream's packages.json ----

type upstreamRoot struct {
	base        string // scheme://host of the upstream
	metadataURL string // absolute, with %package%
	available   map[string]bool
	patterns    []*regexp.Regexp
	advisoryAPI string
	advisoryP2  bool
	searchURL   string // absolute, with %query% (and %type%); "" when none
	listURL     string // absolute; "" when none
}

func parseUpstreamRoot(repoURL string, body []byte) (upstreamRoot, error) {
	var raw struct {
		MetadataURL       string   `json:"metadata-url"`
		AvailablePackages []string `json:"available-packages"`
		AvailablePatterns []string `json:"available-package-patterns"`
		Advisories        *struct {
			Metadata bool   `json:"metadata"`
			APIURL   string `json:"api-url"`
		} `json:"security-advisories"`
		Search string `json:"search"`
		List   string `json:"list"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return upstreamRoot{}, fmt.Errorf("packages.json: %w", err)
	}
	if raw.MetadataURL == "" || !strings.Contains(raw.MetadataURL, "%package%") {
		return upstreamRoot{}, errors.New("not a Composer 2 repository (its packages.json has no metadata-url)")
	}
	u, err := url.Parse(repoURL)
	if err != nil {
		return upstreamRoot{}, err
	}
	r := upstreamRoot{base: u.Scheme + "://" + u.Host, metadataURL: raw.MetadataURL}
	if strings.HasPrefix(r.metadataURL, "/") {
		r.metadataURL = r.base + r.metadataURL
	}
	if raw.AvailablePackages != nil {
		r.available = map[string]bool{}
		for _, n := range raw.AvailablePackages {
			r.available[strings.ToLower(n)] = true
		}
	}
	for _, p := range raw.AvailablePatterns {
		re, err := regexp.Compile("^" + strings.ReplaceAll(regexp.QuoteMeta(strings.ToLower(p)), `\*`, ".*") + "$")
		if err == nil {
			r.patterns = append(r.patterns, re)
		}
	}
	if raw.Advisories != nil {
		r.advisoryAPI = raw.Advisories.APIURL
		r.advisoryP2 = raw.Advisories.Metadata
	}
	if strings.Contains(raw.Search, "%query%") {
		r.searchURL = r.absolute(raw.Search)
	}
	if raw.List != "" {
		r.listURL = r.absolute(raw.List)
	}
	return r, nil
}

// absolute resolves an endpoint the upstream advertises as Composer does:
// a path is on the upstream's host; anything but http(s) is dropped.
func (r upstreamRoot) absolute(ref string) string {
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") {
		return r.base + ref
	}
	if u, err := url.Parse(ref); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return ref
}

func (r upstreamRoot) p2URL(pkg string) string {
	return strings.ReplaceAll(r.metadataURL, "%package%", pkg)
}

// offers reports whether the upstream may have a package: false only when
// it lists what it has and the name is not among it.
func (r upstreamRoot) offers(name string) bool {
	if r.available == nil && r.patterns == nil {
		return true
	}
	if r.available[name] {
		return true
	}
	for _, p := range r.patterns {
		if p.MatchString(name) {
			return true
		}
	}
	return false
}

func (p *Proxy) upstreamRoot(ctx context.Context, u upstreamRow) (upstreamRoot, error) {
	d, err := p.upstreamDoc(ctx, u, "packages.json")
	if err != nil {
		return upstreamRoot{}, err
	}
	if d.Status != http.StatusOK {
		return upstreamRoot{}, fmt.Errorf("upstream %s has no packages.json", u.URL)
	}
	return parseUpstreamRoot(u.URL, d.Body)
}
