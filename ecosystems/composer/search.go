package composer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
func (s *Service) Search(ctx context.Context, orgName, q, typ string) ([]SearchResult, error) {
	typ, err := checkSearch(q, typ)
	if err != nil {
		return nil, err
	}
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	out, err := s.searchPrivate(ctx, org, q, typ)
	if err != nil {
		return nil, err
	}
	up, err := s.upstreamHits(ctx, org, "search", q, typ)
	if err != nil {
		return nil, err
	}
	return mergeHits(out, up), nil
}

func (s *Service) searchPrivate(ctx context.Context, org orgRef, q, typ string) ([]SearchResult, error) {
	terms := strings.Fields(q)
	if len(terms) > 8 {
		terms = terms[:8]
	}
	ids, out, err := s.store.searchPackages(ctx, org.ID, terms)
	if err != nil || typ == "" {
		return out, err
	}
	kept := out[:0]
	for i, r := range out {
		entry, err := s.store.latestEntry(ctx, ids[i])
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
func (s *Service) ListNames(ctx context.Context, orgName, filter string) ([]string, error) {
	if len(filter) > maxSearchQuery {
		return nil, errs.Invalidf("filter longer than %d bytes", maxSearchQuery)
	}
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	pattern := "%"
	if filter != "" {
		pattern = strings.ReplaceAll(likeEscape(filter), "*", "%")
	}
	names, err := s.store.publishedNames(ctx, s.store.db, org.ID, pattern)
	if err != nil {
		return nil, err
	}
	if strings.Trim(filter, "*") == "" {
		return names, nil
	}
	up, err := s.upstreamHits(ctx, org, "list", strings.ToLower(filter), "")
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	for _, h := range up {
		if !seen[h.Name] {
			seen[h.Name] = true
			names = append(names, h.Name)
		}
	}
	return names, nil
}

// mergeHits appends upstream hits to private ones, each name once.
func mergeHits(private, up []SearchResult) []SearchResult {
	seen := make(map[string]bool, len(private))
	for _, r := range private {
		seen[r.Name] = true
	}
	for _, h := range up {
		if !seen[h.Name] {
			seen[h.Name] = true
			private = append(private, h)
		}
	}
	return private
}

// upstreamHits returns what the organization's upstreams answer to a search
// (kind "search": q and typ) or a name listing (kind "list": q is the
// filter): merged in priority order, each name once, without the names the
// organization owns, at most maxUpstreamResults. Upstreams that advertise
// no such endpoint are skipped, and so are upstreams that fail (logged).
// The result is cached per repository generation and query, so repeated
// searches do not reach the upstreams, and one search runs at a time per
// query in this process.
func (s *Service) upstreamHits(ctx context.Context, org orgRef, kind, q, typ string) ([]SearchResult, error) {
	gen, err := s.meta.Generation(ctx, scope(org))
	if err != nil {
		return nil, err
	}
	ups, err := s.upstreamsAt(ctx, org, gen)
	if err != nil || len(ups) == 0 {
		return nil, err
	}
	sum := sha256.Sum256([]byte(kind + "\x00" + q + "\x00" + typ))
	ck := fmt.Sprintf("composer:upsearch:%s:%d:%s", org.ID, gen, hex.EncodeToString(sum[:16]))
	if v, err := s.cache.Get(ctx, ck); err == nil {
		var hits []SearchResult
		if err := json.Unmarshal(v, &hits); err == nil {
			return hits, nil
		}
	}
	ch := s.upFlight.DoChan(ck, func() (any, error) {
		// The searches outlive one impatient client: the others still wait.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.Upstream.Timeout)
		defer cancel()
		hits, failed := s.askUpstreams(fctx, ups, kind, q, typ)
		hits, err := s.dropPrivate(fctx, org, hits)
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
			_ = s.cache.Set(fctx, ck, b, ttl)
		}
		return hits, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]SearchResult), nil // shared: callers only read it
	}
}

// askUpstreams asks every upstream at once and merges their answers in
// priority order, each name once. failed reports that one of them failed.
func (s *Service) askUpstreams(ctx context.Context, ups []upstreamRow, kind, q, typ string) (hits []SearchResult, failed bool) {
	answers := make([][]SearchResult, len(ups))
	failures := make([]error, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Go(func() { answers[i], failures[i] = s.askUpstream(ctx, u, kind, q, typ) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, u := range ups {
		if failures[i] != nil {
			failed = true
			s.log.Warn("upstream "+kind+" failed; its results are left out", zap.String("upstream", u.URL), zap.Error(failures[i]))
			continue
		}
		for _, h := range answers[i] {
			if !seen[h.Name] {
				seen[h.Name] = true
				hits = append(hits, h)
			}
		}
	}
	return hits, failed
}

// askUpstream asks one upstream's search or list endpoint, as advertised in
// its packages.json (nothing when it advertises none). The request is built
// from scratch with the upstream's own credentials only, under the
// upstream rate limit and timeout.
func (s *Service) askUpstream(ctx context.Context, u upstreamRow, kind, q, typ string) ([]SearchResult, error) {
	root, err := s.upstreamRoot(ctx, u)
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
	pw, err := s.upstreamPassword(ctx, u)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Upstream.Timeout)
	defer cancel()
	if err := s.limiter.Wait(rctx); err != nil {
		return nil, fmt.Errorf("upstream rate limit: %w", err)
	}
	req, err := s.newUpstreamRequest(rctx, u, pw, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", displayURL(target), res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxUpstreamListing+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", displayURL(target), err)
	}
	if len(body) > maxUpstreamListing {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", displayURL(target), maxUpstreamListing)
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
func (s *Service) dropPrivate(ctx context.Context, org orgRef, hits []SearchResult) ([]SearchResult, error) {
	private := map[string]bool{}
	for start := 0; start < len(hits); start += 200 {
		var chunk []string
		for _, h := range hits[start:min(start+200, len(hits))] {
			chunk = append(chunk, h.Name)
		}
		names, err := s.store.owned(ctx, org.ID, chunk)
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
