package composer

import (
	"bytes"
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
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// PublicRepositoryURL is the public Composer repository: the default of
// PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL, which `add-upstream --packagist`
// adds.
const PublicRepositoryURL = "https://repo.packagist.org"

// maxUpstreamDoc bounds one upstream metadata document.
const maxUpstreamDoc = 64 << 20

// UpstreamInput registers an upstream Composer repository.
type UpstreamInput struct {
	URL      string
	Public   bool   // instead of URL: the public Composer repository (PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL)
	Username string // http-basic user name, sent only to the upstream's own origin
	Password string // http-basic password (stored sealed)
	Priority *int   // lower is asked first; nil puts it after the others
}

// Upstream is a registered upstream repository (never with its password).
type Upstream struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	Username   string    `json:"username,omitempty"`
	Credential bool      `json:"credential"`
	Priority   int       `json:"priority"`
	CreatedAt  time.Time `json:"created_at"`
}

func upstreamSealContext(id string) string { return "composer-upstream:" + id }

// checkUpstreamURL accepts absolute http(s) URLs without credentials,
// query or fragment.
func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errs.Invalidf("upstream URL %q: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return errs.Invalidf("upstream URL %q: must start with https:// (or http://)", raw)
	case u.Host == "":
		return errs.Invalidf("upstream URL %q: no host", raw)
	case u.User != nil:
		return errs.Invalidf("upstream URL: put credentials in --username and --password-file, not in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return errs.Invalidf("upstream URL %q: no query or fragment allowed", raw)
	}
	return nil
}

// AddUpstream registers an upstream Composer 2 repository for an
// organization. The upstream is asked for its packages.json first (with the
// given credentials); nothing is stored when that fails.
func (s *Service) AddUpstream(ctx context.Context, orgName string, in UpstreamInput) (Upstream, error) {
	switch {
	case in.Public && in.URL != "":
		return Upstream{}, errs.Invalidf("give either a URL or the public Composer repository switch, not both")
	case in.Public:
		in.URL = s.cfg.Upstream.PublicURL
	case in.URL == "":
		return Upstream{}, errs.Invalidf("a URL (or the public Composer repository switch) is required")
	}
	org, err := s.org(ctx, orgName)
	if err != nil {
		return Upstream{}, err
	}
	in.URL = strings.TrimRight(strings.TrimSpace(in.URL), "/")
	if err := checkUpstreamURL(in.URL); err != nil {
		return Upstream{}, err
	}
	if in.Password != "" && in.Username == "" {
		return Upstream{}, errs.Invalidf("a password needs a user name (--username)")
	}
	if in.Username != "" && in.Password == "" {
		return Upstream{}, errs.Invalidf("a user name needs a password (--password-file)")
	}
	id := metadata.NewID()
	row := upstreamRow{ID: id, URL: in.URL, Username: in.Username, HasCred: in.Password != "", Created: micros(s.now())}
	var sealed []byte
	if in.Password != "" {
		if sealed, err = s.box.Seal([]byte(in.Password), upstreamSealContext(id)); err != nil {
			return Upstream{}, err
		}
	}
	// Check that the upstream answers as a Composer 2 repository.
	st, err := s.fetchDoc(ctx, row, in.Password, "packages.json", rootURL(in.URL), "")
	if err != nil {
		return Upstream{}, errs.Invalidf("upstream %s: %v", in.URL, err)
	}
	if st.Status != http.StatusOK {
		return Upstream{}, errs.Invalidf("upstream %s: no packages.json (HTTP %d)", in.URL, st.Status)
	}
	if _, err := parseUpstreamRoot(in.URL, st.Body); err != nil {
		return Upstream{}, errs.Invalidf("upstream %s: %v", in.URL, err)
	}
	err = s.write(ctx, org, func(tx *sqldb.Tx, _ map[string]string) error {
		if in.Priority != nil {
			row.Priority = *in.Priority
		} else {
			last, err := s.store.lastUpstreamPriority(ctx, tx, org.ID)
			if err != nil {
				return err
			}
			row.Priority = last + 10
		}
		err := s.store.insertUpstream(ctx, tx, org.ID, row, sealed)
		if errors.Is(err, errs.ErrAlreadyExists) {
			return errs.AlreadyExistsf("%s is already an upstream of %s", in.URL, org.Name)
		}
		if err != nil {
			return err
		}
		return s.storeDoc(ctx, tx, row.ID, "packages.json", st)
	})
	if err != nil {
		return Upstream{}, err
	}
	s.record(ctx, audit.Event{Action: "composer.upstream.add", Org: org.Name, Resource: "upstream/" + id,
		Details: map[string]string{"url": in.URL, "priority": fmt.Sprint(row.Priority)}})
	s.log.Info("upstream added", zap.String("org", org.Name), zap.String("url", in.URL), zap.Int("priority", row.Priority))
	return row.public(), nil
}

func (r upstreamRow) public() Upstream {
	return Upstream{ID: r.ID, URL: r.URL, Username: r.Username, Credential: r.HasCred, Priority: r.Priority, CreatedAt: fromMicros(r.Created)}
}

// RemoveUpstream unregisters an upstream (by URL or id); its packages leave
// the repository, the archives already mirrored stay for lock files.
func (s *Service) RemoveUpstream(ctx context.Context, orgName, urlOrID string) error {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return err
	}
	key := strings.TrimRight(strings.TrimSpace(urlOrID), "/")
	var id, u string
	err = s.write(ctx, org, func(tx *sqldb.Tx, _ map[string]string) error {
		var err error
		id, u, err = s.store.deleteUpstream(ctx, tx, org.ID, key)
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NotFoundf("%s is not an upstream of %s (see packyard composer list-upstreams)", key, org.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: "composer.upstream.remove", Org: org.Name, Resource: "upstream/" + id, Details: map[string]string{"url": u}})
	return nil
}

// Upstreams lists an organization's upstreams in the order they are asked.
func (s *Service) Upstreams(ctx context.Context, orgName string) ([]Upstream, error) {
	org, err := s.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.upstreams(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Upstream, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.public())
	}
	return out, nil
}

// upstreamsAt returns the upstreams of a repository at a generation, from
// the cache.
func (s *Service) upstreamsAt(ctx context.Context, org orgRef, gen int64) ([]upstreamRow, error) {
	ck := fmt.Sprintf("composer:upstreams:%s:%d", org.ID, gen)
	v, err := cache.GetOrLoad(ctx, s.cache, &s.loads, ck, s.cfg.CacheTTL, func(ctx context.Context) ([]byte, error) {
		rows, err := s.store.upstreams(ctx, org.ID)
		if err != nil {
			return nil, err
		}
		return json.Marshal(rows)
	})
	if err != nil {
		return nil, err
	}
	var rows []upstreamRow
	if err := json.Unmarshal(v, &rows); err != nil {
		return nil, fmt.Errorf("cached upstreams: %w", err)
	}
	return rows, nil
}

func (s *Service) upstreamPassword(ctx context.Context, u upstreamRow) (string, error) {
	if !u.HasCred {
		return "", nil
	}
	sealed, err := s.store.upstreamCredential(ctx, u.ID)
	if err != nil {
		return "", err
	}
	pw, err := s.box.Open(sealed, upstreamSealContext(u.ID))
	if err != nil {
		return "", err
	}
	return string(pw), nil
}

func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.audit == nil {
		return
	}
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.Warn("audit record", zap.String("action", e.Action), zap.Error(err))
	}
}

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

func encodeUpDoc(d upDoc) []byte {
	h, _ := json.Marshal(d)
	return append(append(h, '\n'), d.Body...)
}

func decodeUpDoc(b []byte) (upDoc, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return upDoc{}, errors.New("cached upstream document: no header")
	}
	var d upDoc
	if err := json.Unmarshal(b[:i], &d); err != nil {
		return upDoc{}, fmt.Errorf("cached upstream document: %w", err)
	}
	d.Body = b[i+1:]
	return d, nil
}

func (s *Service) fresh(d upDoc) bool {
	return s.now().Sub(fromMicros(d.Checked)) < s.cfg.Upstream.MaxAge
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
func (s *Service) upstreamDoc(ctx context.Context, u upstreamRow, key string) (upDoc, error) {
	ck := upDocKey(u.ID, key)
	if v, err := s.cache.Get(ctx, ck); err == nil {
		if d, err := decodeUpDoc(v); err == nil && s.fresh(d) {
			return d, nil
		}
	}
	ch := s.upFlight.DoChan(ck, func() (any, error) {
		// The fetch outlives one impatient client: the others still wait.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.Upstream.Timeout)
		defer cancel()
		return s.refresh(fctx, u, key)
	})
	select {
	case <-ctx.Done():
		return upDoc{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return upDoc{}, r.Err
		}
		d := r.Val.(upDoc)
		if r.Shared {
			d.Body = bytes.Clone(d.Body)
		}
		return d, nil
	}
}

func (s *Service) refresh(ctx context.Context, u upstreamRow, key string) (upDoc, error) {
	ck := upDocKey(u.ID, key)
	unlock, err := s.locker.Lock(ctx, "composer:uplock:"+u.ID+":"+key, 3*s.cfg.Upstream.Timeout)
	if err != nil {
		return upDoc{}, fmt.Errorf("lock upstream document: %w", err)
	}
	defer unlock()
	if v, err := s.cache.Get(ctx, ck); err == nil {
		if d, err := decodeUpDoc(v); err == nil && s.fresh(d) {
			return d, nil // another replica refreshed it while this one waited
		}
	}
	old, hasOld, err := s.store.upstreamDoc(ctx, u.ID, key)
	if err != nil {
		return upDoc{}, err
	}
	if hasOld && s.fresh(old) {
		_ = s.cache.Set(ctx, ck, encodeUpDoc(old), s.cfg.CacheTTL)
		return old, nil
	}
	target := rootURL(u.URL)
	if key != "packages.json" {
		root, err := s.upstreamRoot(ctx, u)
		if err != nil {
			return s.serveStale(ctx, u, key, old, hasOld, err)
		}
		target = root.p2URL(strings.TrimSuffix(strings.TrimPrefix(key, "p2/"), ".json"))
	}
	pw, err := s.upstreamPassword(ctx, u)
	if err != nil {
		return upDoc{}, err
	}
	lastMod := ""
	if hasOld && old.Status == http.StatusOK {
		lastMod = old.LastMod
	}
	got, err := s.fetchDoc(ctx, u, pw, key, target, lastMod)
	if err != nil {
		return s.serveStale(ctx, u, key, old, hasOld, err)
	}
	now := micros(s.now())
	switch {
	case got.Status == http.StatusNotModified:
		got = old
	case hasOld && old.Status == got.Status && old.Digest == got.Digest:
		got.Changed = old.Changed
	default:
		got.Changed = now
	}
	got.Checked = now
	if err := s.storeDoc(ctx, s.store.db, u.ID, key, got); err != nil {
		return upDoc{}, err
	}
	_ = s.cache.Set(ctx, ck, encodeUpDoc(got), s.cfg.CacheTTL)
	return got, nil
}

// serveStale answers with the last good copy when the upstream failed, and keeps
// it "fresh" for a short while so an unreachable upstream is not asked on
// every request.
func (s *Service) serveStale(ctx context.Context, u upstreamRow, key string, old upDoc, hasOld bool, cause error) (upDoc, error) {
	if !hasOld {
		return upDoc{}, errs.Unavailablef("upstream %s failed and packyard has no copy of its %s yet: %v", u.URL, key, cause)
	}
	s.log.Warn("upstream failed; serving the last good copy", zap.String("upstream", u.URL), zap.String("doc", key), zap.Error(cause))
	backoff := min(s.cfg.Upstream.MaxAge, 30*time.Second)
	old.Checked = micros(s.now().Add(backoff - s.cfg.Upstream.MaxAge))
	_ = s.cache.Set(ctx, upDocKey(u.ID, key), encodeUpDoc(old), s.cfg.CacheTTL)
	return old, nil
}

func (s *Service) storeDoc(ctx context.Context, q sqldb.Querier, upstreamID, key string, d upDoc) error {
	if d.Checked == 0 {
		d.Checked = micros(s.now())
	}
	if d.Changed == 0 {
		d.Changed = d.Checked
	}
	return s.store.putUpstreamDoc(ctx, q, upstreamID, key, d)
}

// sameOrigin reports whether target is on the upstream's scheme, host and
// port: only there are the upstream's credentials sent.
func sameOrigin(upstream, target string) bool {
	a, err1 := url.Parse(upstream)
	b, err2 := url.Parse(target)
	return err1 == nil && err2 == nil && a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

// newUpstreamRequest builds a request to an upstream from scratch: nothing
// of the client's request (its credentials above all) is ever forwarded.
func (s *Service) newUpstreamRequest(ctx context.Context, u upstreamRow, password, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "packyard (Composer mirror)")
	if u.Username != "" && sameOrigin(u.URL, target) {
		req.SetBasicAuth(u.Username, password)
	}
	return req, nil
}

// fetchDoc asks the upstream for one document. Status 304 means unchanged.
func (s *Service) fetchDoc(ctx context.Context, u upstreamRow, password, key, target, lastMod string) (upDoc, error) {
	if err := s.limiter.Wait(ctx); err != nil {
		return upDoc{}, fmt.Errorf("upstream rate limit: %w", err)
	}
	req, err := s.newUpstreamRequest(ctx, u, password, http.MethodGet, target, nil)
	if err != nil {
		return upDoc{}, err
	}
	req.Header.Set("Accept", "application/json")
	if lastMod != "" {
		req.Header.Set("If-Modified-Since", lastMod)
	}
	res, err := s.httpc.Do(req)
	if err != nil {
		return upDoc{}, err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotModified:
		return upDoc{Status: http.StatusNotModified}, nil
	case http.StatusNotFound, http.StatusGone:
		return upDoc{Status: http.StatusNotFound, Digest: "404"}, nil
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return upDoc{}, fmt.Errorf("GET %s: HTTP %d: the upstream refused packyard's credentials", target, res.StatusCode)
	default:
		return upDoc{}, fmt.Errorf("GET %s: HTTP %d", target, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxUpstreamDoc+1))
	if err != nil {
		return upDoc{}, fmt.Errorf("GET %s: %w", target, err)
	}
	if len(body) > maxUpstreamDoc {
		return upDoc{}, fmt.Errorf("GET %s: larger than %d bytes", target, maxUpstreamDoc)
	}
	if !json.Valid(body) || len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return upDoc{}, fmt.Errorf("GET %s: not a JSON object", target)
	}
	sum := sha256.Sum256(body)
	return upDoc{Status: http.StatusOK, Body: body, LastMod: res.Header.Get("Last-Modified"), Digest: hex.EncodeToString(sum[:16])}, nil
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

func (s *Service) upstreamRoot(ctx context.Context, u upstreamRow) (upstreamRoot, error) {
	d, err := s.upstreamDoc(ctx, u, "packages.json")
	if err != nil {
		return upstreamRoot{}, err
	}
	if d.Status != http.StatusOK {
		return upstreamRoot{}, fmt.Errorf("upstream %s has no packages.json", u.URL)
	}
	return parseUpstreamRoot(u.URL, d.Body)
}
