package composer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/pkg/sqldb"
)

// PublicRepositoryURL is the public Composer repository: the default of
// PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL, which `add-upstream --packagist`
// adds.
const PublicRepositoryURL = "https://repo.packagist.org"

// Proxy is what an organization's repository takes from its upstream
// Composer repositories: their registration, the p2 documents of the
// packages the organization does not own (fetched, revalidated, and kept
// for when an upstream is down), the archives mirrored from them, search
// and name listings across them, and security advisories (the
// organization's own and theirs).
type Proxy struct {
	cfg        Config
	log        *zap.Logger
	repo       *repository // the organization's own repository
	store      *store
	cas        cas.Store
	refs       blobRefs
	cache      cache.Cache
	locker     cache.Locker
	box        *secretbox.Box
	audit      audit.Recorder // nil: nothing recorded
	guard      *outbound.Guard
	client     *upstreamClient
	checks     *checks            // first fetches of upstreams added over the API
	loads      cache.Group        // cached upstream lists and proxied documents
	docFlight  singleflight.Group // upstream documents and searches
	distFlight singleflight.Group // archive downloads
}

func newProxy(p Params, repo *repository, st *store) *Proxy {
	return &Proxy{
		cfg: p.Config, log: p.Logger, repo: repo, store: st, cas: p.CAS, refs: p.Meta, cache: p.Cache, locker: p.Locker,
		box: p.Box, audit: p.Audit, guard: p.Outbound, checks: newChecks(),
		client: &upstreamClient{store: st, box: p.Box,
			httpc:   p.Outbound.Client(outbound.ClientOptions{Timeout: p.Config.Upstream.Timeout}),
			distc:   p.Outbound.Client(outbound.ClientOptions{}),
			limiter: rate.NewLimiter(rate.Limit(p.Config.Upstream.RateLimit), max(p.Config.Upstream.Burst, 1)),
		},
	}
}

// blobRefs keeps an archive's blob referenced (metadata.Store does).
type blobRefs interface {
	AddBlobRef(ctx context.Context, q sqldb.Querier, digest, ref string) error
}

// UpstreamInput registers an upstream Composer repository.
type UpstreamInput struct {
	URL      string
	Public   bool   // instead of URL: the public Composer repository (PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL)
	Username string // http-basic user name, sent only to the upstream's own origin
	Password string // http-basic password (stored sealed)
	Priority *int   // lower is asked first; nil puts it after the others
	// Operator is set by the admin CLI: the upstream's packages.json is
	// fetched before it is stored, and a failure says why. Over the API the
	// upstream is stored at once and checked in the background (see
	// Upstream.Status), so that adding one tells nothing, by its answer or
	// by its time, about what listens where.
	Operator bool
}

// Upstream is a registered upstream repository (never with its password).
type Upstream struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	Username   string    `json:"username,omitempty"`
	Credential bool      `json:"credential"`
	Priority   int       `json:"priority"`
	CreatedAt  time.Time `json:"created_at"`
	// Status is "ok" once the upstream answered as a Composer 2 repository
	// (only then does it serve packages), "failed" when it did not, and
	// "checking" while the check made when it was added over the API may
	// still run: its outcome shows PACKYARD_COMPOSER_UPSTREAM_TIMEOUT after
	// the add, however soon it was known.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"` // one sentence for every failure
}

func (p *Proxy) public(r upstreamRow) Upstream {
	u := Upstream{ID: r.ID, URL: r.URL, Username: r.Username, Credential: r.HasCred, Priority: r.Priority, CreatedAt: fromMicros(r.Created),
		Status: p.shownState(r)}
	if u.Status == upstreamFailed {
		u.Error = upstreamCheckFailed
	}
	return u
}

func upstreamSealContext(id string) string { return "composer-upstream:" + id }

// checkUpstreamURL accepts absolute http(s) URLs without credentials,
// query or fragment.
func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("upstream URL %q cannot be parsed", raw), err)
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

// checkUpstreamInput cleans and checks an upstream's URL and credentials.
func checkUpstreamInput(in UpstreamInput) (UpstreamInput, error) {
	in.URL = strings.TrimRight(strings.TrimSpace(in.URL), "/")
	if err := checkUpstreamURL(in.URL); err != nil {
		return in, err
	}
	if in.Password != "" && in.Username == "" {
		return in, errs.Invalidf("a password needs a user name (--username)")
	}
	if in.Username != "" && in.Password == "" {
		return in, errs.Invalidf("a user name needs a password (--password-file)")
	}
	return in, nil
}

// AddUpstream registers an upstream Composer 2 repository for an
// organization. The URL is checked against the outbound policy without
// connecting. From the operator (in.Operator), the upstream is then asked
// for its packages.json (with the given credentials) through the guarded
// client, and nothing is stored when that fails. Otherwise (the API) it is
// stored at once, "checking", and asked in the background: the answer
// comes as soon and reads the same whatever listens at the address, and
// the upstream serves nothing until its check passed.
func (p *Proxy) AddUpstream(ctx context.Context, orgName string, in UpstreamInput) (Upstream, error) {
	switch {
	case in.Public && in.URL != "":
		return Upstream{}, errs.Invalidf("give either a URL or the public Composer repository switch, not both")
	case in.Public:
		in.URL = p.cfg.Upstream.PublicURL
	case in.URL == "":
		return Upstream{}, errs.Invalidf("a URL (or the public Composer repository switch) is required")
	}
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return Upstream{}, err
	}
	if in, err = checkUpstreamInput(in); err != nil {
		return Upstream{}, err
	}
	if err := p.guard.CheckURL(in.URL); err != nil {
		return Upstream{}, err
	}
	row := upstreamRow{ID: metadata.NewID(), URL: in.URL, Username: in.Username, HasCred: in.Password != "", Created: micros(p.repo.now()),
		State: upstreamChecking}
	var sealed []byte
	if in.Password != "" {
		if sealed, err = p.box.Seal([]byte(in.Password), upstreamSealContext(row.ID)); err != nil {
			return Upstream{}, err
		}
	}
	var root upDoc
	if in.Operator {
		if root, err = p.probe(ctx, row, in.Password); err != nil {
			p.log.Info("upstream refused", zap.String("org", org.Name), zap.String("url", in.URL), zap.String("detail", outbound.Detail(err)))
			return Upstream{}, err
		}
		row.State = upstreamOK
	}
	err = p.repo.write(ctx, org, nil, func(tx *sqldb.Tx, _ map[string]string) error {
		if in.Priority != nil {
			row.Priority = *in.Priority
		} else {
			last, err := p.store.lastUpstreamPriority(ctx, tx, org.ID)
			if err != nil {
				return err
			}
			row.Priority = last + 10
		}
		err := p.store.insertUpstream(ctx, tx, org.ID, row, sealed)
		if errors.Is(err, errs.ErrAlreadyExists) {
			return errs.AlreadyExistsf("%s is already an upstream of %s", in.URL, org.Name)
		}
		if err != nil || row.State != upstreamOK {
			return err
		}
		return p.storeDoc(ctx, tx, row.ID, "packages.json", root)
	})
	if err != nil {
		return Upstream{}, err
	}
	if row.State == upstreamChecking {
		p.startCheck(org, row, in.Password)
	}
	audit.Record(ctx, p.audit, p.log, audit.Event{Action: "composer.upstream.add", Org: org.Name, Resource: "upstream/" + row.ID,
		Details: map[string]string{"url": in.URL, "priority": fmt.Sprint(row.Priority)}})
	p.log.Info("upstream added", zap.String("org", org.Name), zap.String("url", in.URL), zap.Int("priority", row.Priority))
	return p.public(row), nil
}

// probe checks that an upstream answers as a Composer 2 repository, and
// returns its packages.json.
func (p *Proxy) probe(ctx context.Context, u upstreamRow, password string) (upDoc, error) {
	st, err := p.client.fetchDoc(ctx, u, password, rootURL(u.URL), "")
	if err != nil {
		return upDoc{}, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("upstream %s: %s", u.URL, errs.Message(err, "the upstream could not be reached")), err)
	}
	if st.Status != http.StatusOK {
		return upDoc{}, errs.Invalidf("upstream %s: no packages.json (HTTP %d)", u.URL, st.Status)
	}
	if _, err := parseUpstreamRoot(u.URL, st.Body); err != nil {
		return upDoc{}, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("upstream %s: %s", u.URL, errs.PublicMessage(errs.BadJSON(err))), err)
	}
	return st, nil
}

// RemoveUpstream unregisters an upstream (by URL or id); its packages leave
// the repository, the archives already mirrored stay for lock files.
func (p *Proxy) RemoveUpstream(ctx context.Context, orgName, urlOrID string) error {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	key := strings.TrimRight(strings.TrimSpace(urlOrID), "/")
	var id, u string
	err = p.repo.write(ctx, org, nil, func(tx *sqldb.Tx, _ map[string]string) error {
		var err error
		id, u, err = p.store.deleteUpstream(ctx, tx, org.ID, key)
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NotFoundf("%s is not an upstream of %s (see packyard composer list-upstreams)", key, org.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	audit.Record(ctx, p.audit, p.log, audit.Event{Action: "composer.upstream.remove", Org: org.Name, Resource: "upstream/" + id, Details: map[string]string{"url": u}})
	return nil
}

// Upstreams lists an organization's upstreams in the order they are asked.
func (p *Proxy) Upstreams(ctx context.Context, orgName string) ([]Upstream, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	rows, err := p.store.upstreams(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Upstream, 0, len(rows))
	for _, r := range rows {
		out = append(out, p.public(r))
	}
	return out, nil
}

// upstreamsAt returns the upstreams of a repository that serve packages
// (their check passed) at a generation, from the cache.
func (p *Proxy) upstreamsAt(ctx context.Context, org orgRef, gen int64) ([]upstreamRow, error) {
	ck := fmt.Sprintf("composer:upstreams:%s:%d", org.ID, gen)
	v, err := cache.GetOrLoad(ctx, p.cache, &p.loads, ck, p.cfg.CacheTTL, func(ctx context.Context) ([]byte, error) {
		rows, err := p.store.upstreams(ctx, org.ID)
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
	serving := rows[:0]
	for _, r := range rows {
		if r.State == upstreamOK || r.State == "" { // an unchecked upstream is never asked for a reader
			serving = append(serving, r)
		}
	}
	return serving, nil
}

// currentUpstreams returns a repository's generation and its upstreams
// at that generation.
func (p *Proxy) currentUpstreams(ctx context.Context, org orgRef) (int64, []upstreamRow, error) {
	gen, err := p.repo.generation(ctx, org)
	if err != nil {
		return 0, nil, err
	}
	ups, err := p.upstreamsAt(ctx, org, gen)
	return gen, ups, err
}

// upstreamsFor returns the upstreams that may serve a package, in priority
// order: none (private) when the organization owns the name.
func (p *Proxy) upstreamsFor(ctx context.Context, org orgRef, gen int64, name string) (ups []upstreamRow, private bool, err error) {
	if private, err := p.repo.isPrivate(ctx, org, gen, name); err != nil || private {
		return nil, private, err
	}
	ups, err = p.upstreamsAt(ctx, org, gen)
	return ups, false, err
}

// detached runs fn once at a time per key in this process (callers that
// come meanwhile share its result), on a context of its own that outlives
// an impatient caller by up to timeout: the others still wait. Each caller
// waits for the result or for its own ctx.
func detached[T any](ctx context.Context, g *singleflight.Group, key string, timeout time.Duration,
	fn func(ctx context.Context) (T, error)) (v T, shared bool, err error) {
	ch := g.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case <-ctx.Done():
		return v, false, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return v, false, r.Err
		}
		return r.Val.(T), r.Shared, nil
	}
}
