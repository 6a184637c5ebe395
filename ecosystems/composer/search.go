package composer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
)

const (
	// maxUpstreamResults caps the upstream entries one search or listing
	// adds to the organization's own.
	maxUpstreamResults = 100
	// upstreamSearchTTL is how long merged upstream results are kept:
	// repeated searches do not reach the upstreams.
	upstreamSearchTTL = 3 * time.Minute
	// upstreamSearchRetry is how long results are kept when an upstream
	// failed, so it is asked again soon but not on every search.
	upstreamSearchRetry = 30 * time.Second
	// maxUpstreamListing bounds one upstream search or list answer.
	maxUpstreamListing = 8 << 20
	maxSearchQuery     = 256
)

// SearchResult is one hit of Composer's search endpoint.
type SearchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

var validType = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// checkSearch validates a search query and package type ("" for any).
func checkSearch(q, typ string) (string, error) {
	if len(q) > maxSearchQuery {
		return "", errs.Invalidf("search query longer than %d bytes", maxSearchQuery)
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ != "" && !validType.MatchString(typ) {
		return "", errs.Invalidf("package type %q: expected letters, digits, '-', '_' or '.'", typ)
	}
	return typ, nil
}

// Search finds packages whose name or description contains every word of q
// (and, when typ is given, whose latest version has that type): the
// organization's own first, then its upstreams' (asked through their own
// search endpoints, in priority order, never a private name; see
// upstreamHits).
func (p *Proxy) Search(ctx context.Context, orgName, q, typ string) ([]SearchResult, error) {
	typ, err := checkSearch(q, typ)
	if err != nil {
		return nil, err
	}
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	out, err := p.searchPrivate(ctx, org, q, typ)
	if err != nil {
		return nil, err
	}
	up, err := p.upstreamHits(ctx, org, "search", q, typ)
	if err != nil {
		return nil, err
	}
	return mergeHits(out, up), nil
}

func (p *Proxy) searchPrivate(ctx context.Context, org orgRef, q, typ string) ([]SearchResult, error) {
	terms := strings.Fields(q)
	if len(terms) > 8 {
		terms = terms[:8]
	}
	ids, out, err := p.store.searchPackages(ctx, org.ID, terms)
	if err != nil || typ == "" {
		return out, err
	}
	kept := out[:0]
	for i, r := range out {
		entry, err := p.store.latestEntry(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		if entryType([]byte(entry)) == typ {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// entryType is a version's package type; Composer's default is "library".
func entryType(entry []byte) string {
	var v struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(entry, &v) != nil || v.Type == "" {
		return "library"
	}
	return strings.ToLower(v.Type)
}

// ListNames lists package names matching a filter with "*" wildcards ("" for
// all): the organization's own first, then its upstreams' (through their
// list endpoints, never a private name). A listing of every name ("" or
// "*") is the organization's own only: an upstream such as the public
// repository has far too many.
func (p *Proxy) ListNames(ctx context.Context, orgName, filter string) ([]string, error) {
	if len(filter) > maxSearchQuery {
		return nil, errs.Invalidf("filter longer than %d bytes", maxSearchQuery)
	}
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	pattern := "%"
	if filter != "" {
		pattern = strings.ReplaceAll(likeEscape(filter), "*", "%")
	}
	names, err := p.store.publishedNames(ctx, p.store.db, org.ID, pattern)
	if err != nil {
		return nil, err
	}
	if strings.Trim(filter, "*") == "" {
		return names, nil
	}
	up, err := p.upstreamHits(ctx, org, "list", strings.ToLower(filter), "")
	if err != nil {
		return nil, err
	}
	upNames := make([]string, 0, len(up))
	for _, h := range up {
		upNames = append(upNames, h.Name)
	}
	return appendNew(names, upNames, func(n string) string { return n }), nil
}

// mergeHits appends upstream hits to private ones, each name once.
func mergeHits(private, up []SearchResult) []SearchResult {
	return appendNew(private, up, func(h SearchResult) string { return h.Name })
}

// appendNew appends the items of more whose key is not among dst's (nor
// earlier in more).
func appendNew[T any](dst, more []T, key func(T) string) []T {
	seen := make(map[string]bool, len(dst)+len(more))
	for _, v := range dst {
		seen[key(v)] = true
	}
	for _, v := range more {
		if k := key(v); !seen[k] {
			seen[k] = true
			dst = append(dst, v)
		}
	}
	return dst
}

// upstreamHits returns what the organization's upstreams answer to a search
// (kind "search": q and typ) or a name listing (kind "list": q is the
// filter): merged in priority order, each name once, without the names the
// organization owns, at most maxUpstreamResults. Upstreams that advertise
// no such endpoint are skipped, and so are upstreams that fail (logged).
// The result is cached per repository generation and query, so repeated
// searches do not reach the upstreams, and one search runs at a time per
// query in this process.
func (p *Proxy) upstreamHits(ctx context.Context, org orgRef, kind, q, typ string) ([]SearchResult, error) {
	gen, ups, err := p.currentUpstreams(ctx, org)
	if err != nil || len(ups) == 0 {
		return nil, err
	}
	sum := sha256.Sum256([]byte(kind + "\x00" + q + "\x00" + typ))
	ck := fmt.Sprintf("composer:upsearch:%s:%d:%s", org.ID, gen, hex.EncodeToString(sum[:16]))
	if v, err := p.cache.Get(ctx, ck); err == nil {
		var hits []SearchResult
		if err := json.Unmarshal(v, &hits); err == nil {
			return hits, nil
		}
	}
	hits, _, err := detached(ctx, &p.docFlight, ck, 2*p.cfg.Upstream.Timeout, func(ctx context.Context) ([]SearchResult, error) {
		hits, failed := p.askUpstreams(ctx, ups, kind, q, typ)
		hits, err := p.dropPrivate(ctx, org, hits)
		if err != nil {
			return nil, err
		}
		if len(hits) > maxUpstreamResults {
			hits = hits[:maxUpstreamResults]
		}
		ttl := upstreamSearchTTL
		if failed {
			ttl = upstreamSearchRetry
		}
		if b, err := json.Marshal(hits); err == nil {
			_ = p.cache.Set(ctx, ck, b, ttl)
		}
		return hits, nil
	})
	return hits, err // shared: callers only read it
}

// askUpstreams asks every upstream at once and merges their answers in
// priority order, each name once. failed reports that one of them failed.
func (p *Proxy) askUpstreams(ctx context.Context, ups []upstreamRow, kind, q, typ string) (hits []SearchResult, failed bool) {
	answers := make([][]SearchResult, len(ups))
	failures := make([]error, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Go(func() { answers[i], failures[i] = p.askUpstream(ctx, u, kind, q, typ) })
	}
	wg.Wait()
	for i, u := range ups {
		if failures[i] != nil {
			failed = true
			p.log.Warn("upstream "+kind+" failed; its results are left out", zap.String("upstream", u.URL), zap.Error(failures[i]))
			continue
		}
		hits = mergeHits(hits, answers[i])
	}
	return hits, failed
}

// askUpstream asks one upstream's search or list endpoint, as advertised in
// its packages.json (nothing when it advertises none). The request is built
// from scratch with the upstream's own credentials only, under the
// upstream rate limit and timeout.
func (p *Proxy) askUpstream(ctx context.Context, u upstreamRow, kind, q, typ string) ([]SearchResult, error) {
	root, err := p.upstreamRoot(ctx, u)
	if err != nil {
		return nil, err
	}
	var target string
	switch kind {
	case "search":
		if root.searchURL == "" {
			return nil, nil
		}
		target = strings.NewReplacer("%query%", url.QueryEscape(q), "%type%", url.QueryEscape(typ)).Replace(root.searchURL)
	default:
		if root.listURL == "" {
			return nil, nil
		}
		sep := "?"
		if strings.Contains(root.listURL, "?") {
			sep = "&"
		}
		target = root.listURL + sep + "filter=" + url.QueryEscape(q)
	}
	pw, err := p.client.password(ctx, u)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Upstream.Timeout)
	defer cancel()
	res, err := p.client.call(rctx, u, pw, http.MethodGet, target, nil, "Accept", "application/json")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", displayURL(target), res.StatusCode)
	}
	body, err := readLimited(res.Body, maxUpstreamListing)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", displayURL(target), err)
	}
	var hits []SearchResult
	if kind == "search" {
		hits, err = parseUpstreamSearch(body)
	} else {
		hits, err = parseUpstreamList(body)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", displayURL(target), err)
	}
	kept := hits[:0]
	for _, h := range hits {
		if root.offers(h.Name) {
			kept = append(kept, h)
		}
	}
	return kept, nil
}

// maxUpstreamAnswer bounds the entries read from one upstream answer.
const maxUpstreamAnswer = 1000

// parseUpstreamSearch reads a search answer: {"results": [{"name",
// "description", "url", "virtual"}]}. Virtual packages (which Composer
// hides), invalid names and repeated names are dropped; names are lower
// cased, URLs other than http(s) dropped and stripped of user information.
func parseUpstreamSearch(body []byte) ([]SearchResult, error) {
	var doc struct {
		Results []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			URL         string `json:"url"`
			Virtual     any    `json:"virtual"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a search answer: %w", err)
	}
	out := []SearchResult{}
	seen := map[string]bool{}
	for _, r := range doc.Results {
		name := strings.ToLower(strings.TrimSpace(r.Name))
		if v, ok := r.Virtual.(bool); (ok && v) || (r.Virtual != nil && !ok) || seen[name] || format.ValidatePackageName(name) != nil {
			continue
		}
		seen[name] = true
		h := SearchResult{Name: name, Description: truncate(r.Description, 1000)}
		if u, err := url.Parse(r.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			u.User = nil
			h.URL = u.String()
		}
		out = append(out, h)
		if len(out) == maxUpstreamAnswer {
			break
		}
	}
	return out, nil
}

// parseUpstreamList reads a list answer: {"packageNames": [...]}.
func parseUpstreamList(body []byte) ([]SearchResult, error) {
	var doc struct {
		Names *[]string `json:"packageNames"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a list answer: %w", err)
	}
	if doc.Names == nil {
		return nil, errors.New("not a list answer: no packageNames")
	}
	out := []SearchResult{}
	seen := map[string]bool{}
	for _, n := range *doc.Names {
		name := strings.ToLower(strings.TrimSpace(n))
		if seen[name] || format.ValidatePackageName(name) != nil {
			continue
		}
		seen[name] = true
		out = append(out, SearchResult{Name: name})
		if len(out) == maxUpstreamAnswer {
			break
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// dropPrivate removes the names the organization owns (uploaded or from a
// git source, with or without versions left): a public package is never
// offered under a private name.
func (p *Proxy) dropPrivate(ctx context.Context, org orgRef, hits []SearchResult) ([]SearchResult, error) {
	private := map[string]bool{}
	for start := 0; start < len(hits); start += 200 {
		var chunk []string
		for _, h := range hits[start:min(start+200, len(hits))] {
			chunk = append(chunk, h.Name)
		}
		names, err := p.store.owned(ctx, org.ID, chunk)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			private[n] = true
		}
	}
	out := make([]SearchResult, 0, len(hits))
	for _, h := range hits {
		if !private[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}
