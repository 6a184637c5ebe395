package composer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// maxAdvisoryNames bounds the package names of one advisories request.
const maxAdvisoryNames = 2000

// AdvisoryInput is a security advisory an admin publishes.
type AdvisoryInput struct {
	Package  string `json:"package"`
	Versions string `json:"versions"` // a Composer constraint: the affected versions
	Title    string `json:"title"`
	CVE      string `json:"cve,omitempty"`
	Link     string `json:"link,omitempty"`
	Severity string `json:"severity,omitempty"` // low, medium, high, critical
}

// Advisory is a published advisory.
type Advisory struct {
	ID         string    `json:"id"`
	Package    string    `json:"package"`
	Versions   string    `json:"versions"`
	Title      string    `json:"title"`
	CVE        string    `json:"cve,omitempty"`
	Link       string    `json:"link,omitempty"`
	Severity   string    `json:"severity,omitempty"`
	ReportedAt time.Time `json:"reported_at"`
}

var cvePattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// ValidateConstraint checks the affected versions of an advisory: a
// constraint Composer's own parser accepts (format.ParseConstraint), of at
// most 1000 characters.
func ValidateConstraint(c string) error {
	c = strings.TrimSpace(c)
	if c == "" || len(c) > 1000 {
		return errs.Invalidf("the affected versions must be a Composer constraint such as \">=1.0,<1.2.3\"")
	}
	if _, err := format.ParseConstraint(c); err != nil {
		return errs.Invalidf("affected versions %q: not a version constraint Composer accepts (%s)", c, errs.PublicMessage(err))
	}
	return nil
}

// AddAdvisory publishes a security advisory for a package of the
// organization's repository (private or mirrored).
func (p *Proxy) AddAdvisory(ctx context.Context, orgName string, in AdvisoryInput) (Advisory, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return Advisory{}, err
	}
	a := Advisory{ID: metadata.NewID(), Package: strings.ToLower(strings.TrimSpace(in.Package)), Versions: strings.TrimSpace(in.Versions),
		Title: strings.TrimSpace(in.Title), CVE: strings.TrimSpace(in.CVE), Link: strings.TrimSpace(in.Link),
		Severity: strings.ToLower(strings.TrimSpace(in.Severity)), ReportedAt: p.repo.now().Truncate(time.Second)}
	if err := format.ValidatePackageName(a.Package); err != nil {
		return Advisory{}, fmt.Errorf("package: %w", err)
	}
	if err := ValidateConstraint(a.Versions); err != nil {
		return Advisory{}, err
	}
	switch {
	case a.Title == "" || len(a.Title) > 500:
		return Advisory{}, errs.Invalidf("a title of 1 to 500 characters is required")
	case a.CVE != "" && !cvePattern.MatchString(a.CVE):
		return Advisory{}, errs.Invalidf("cve %q is not of the form CVE-YYYY-NNNN", a.CVE)
	case a.Severity != "" && a.Severity != "low" && a.Severity != "medium" && a.Severity != "high" && a.Severity != "critical":
		return Advisory{}, errs.Invalidf("severity must be low, medium, high or critical")
	}
	if a.Link != "" {
		if u, err := url.Parse(a.Link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Advisory{}, errs.Invalidf("link %q is not an http(s) URL", a.Link)
		}
	}
	if err := p.store.insertAdvisory(ctx, org.ID, a); err != nil {
		return Advisory{}, err
	}
	audit.Record(ctx, p.audit, p.log, audit.Event{Action: "composer.advisory.add", Org: org.Name, Resource: a.Package + "#" + a.ID,
		Details: map[string]string{"versions": a.Versions, "title": a.Title, "cve": a.CVE}})
	return a, nil
}

// RemoveAdvisory deletes a published advisory.
func (p *Proxy) RemoveAdvisory(ctx context.Context, orgName, id string) error {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	deleted, err := p.store.deleteAdvisory(ctx, org.ID, id)
	if err != nil {
		return err
	}
	if !deleted {
		return errs.NotFoundf("advisory %s not found in %s", id, org.Name)
	}
	audit.Record(ctx, p.audit, p.log, audit.Event{Action: "composer.advisory.remove", Org: org.Name, Resource: "advisory/" + id})
	return nil
}

// Advisories lists the advisories an organization published (all, or for
// the given packages).
func (p *Proxy) Advisories(ctx context.Context, orgName string, names ...string) ([]Advisory, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	return p.store.advisories(ctx, org.ID, names)
}

// composerAdvisory is the full advisory object Composer's audit reads.
func (a Advisory) composerAdvisory(repo string) json.RawMessage {
	return format.MustJSON(map[string]any{
		"advisoryId":         "PKYD-" + a.ID,
		"packageName":        a.Package,
		"remoteId":           a.ID,
		"title":              a.Title,
		"link":               nullable(a.Link),
		"cve":                nullable(a.CVE),
		"affectedVersions":   a.Versions,
		"source":             "packyard",
		"sources":            []map[string]string{{"name": "packyard", "remoteId": a.ID}},
		"reportedAt":         a.ReportedAt.UTC().Format("2006-01-02 15:04:05"),
		"composerRepository": repo,
		"severity":           nullable(a.Severity),
	})
}

// SecurityAdvisories answers Composer's security-advisories api-url: the
// organization's own advisories for every asked name, plus, for names that
// are not private, the advisories of its upstreams (passed through as
// they gave them; the last good answer while an upstream is down).
func (p *Proxy) SecurityAdvisories(ctx context.Context, orgName, repoURL string, names []string) (map[string][]json.RawMessage, error) {
	org, err := p.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var clean []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if format.ValidatePackageName(n) == nil && !seen[n] {
			seen[n] = true
			clean = append(clean, n)
		}
	}
	if len(clean) > maxAdvisoryNames {
		return nil, errs.Invalidf("at most %d packages per request", maxAdvisoryNames)
	}
	out := map[string][]json.RawMessage{}
	if len(clean) == 0 {
		return out, nil
	}
	own, err := p.store.advisories(ctx, org.ID, clean)
	if err != nil {
		return nil, err
	}
	for _, a := range own {
		out[a.Package] = append(out[a.Package], a.composerAdvisory(repoURL))
	}
	gen, ups, err := p.currentUpstreams(ctx, org)
	if err != nil || len(ups) == 0 {
		return out, err
	}
	var public []string
	for _, n := range clean {
		private, err := p.repo.isPrivate(ctx, org, gen, n)
		if err != nil {
			return nil, err
		}
		if !private {
			public = append(public, n)
		}
	}
	for _, u := range ups {
		got, err := p.upstreamAdvisories(ctx, u, public)
		if err != nil {
			p.log.Warn("upstream advisories", zap.String("upstream", u.URL), zap.Error(err))
			continue
		}
		for n, list := range got {
			out[n] = appendUnique(out[n], list)
		}
	}
	return out, nil
}

func advisoryID(raw json.RawMessage) string {
	var a struct {
		ID string `json:"advisoryId"`
	}
	_ = json.Unmarshal(raw, &a)
	return a.ID
}

func appendUnique(dst, src []json.RawMessage) []json.RawMessage {
	have := map[string]bool{}
	for _, a := range dst {
		have[advisoryID(a)] = true
	}
	for _, a := range src {
		if id := advisoryID(a); id == "" || !have[id] {
			have[id] = true
			dst = append(dst, a)
		}
	}
	return dst
}

// upstreamAdvisories asks one upstream for the advisories of names: through
// its api-url (batched, each name's answer kept as a document of its own so
// it survives an outage), or from its p2 documents when it only puts them
// there.
func (p *Proxy) upstreamAdvisories(ctx context.Context, u upstreamRow, names []string) (map[string][]json.RawMessage, error) {
	root, err := p.upstreamRoot(ctx, u)
	if err != nil {
		return nil, err
	}
	out := map[string][]json.RawMessage{}
	var asked []string
	for _, n := range names {
		if root.offers(n) {
			asked = append(asked, n)
		}
	}
	switch {
	case root.advisoryAPI != "":
		if err := p.advisoriesFromAPI(ctx, u, root.advisoryAPI, asked, out); err != nil {
			return nil, err
		}
	case root.advisoryP2:
		p.advisoriesFromP2(ctx, u, asked, out)
	}
	return out, nil
}

// advisoriesFromAPI adds to out what an upstream's api-url answers for
// names: each name's answer is kept as a document of its own, fresh for the
// upstream max age and served while the upstream fails.
func (p *Proxy) advisoriesFromAPI(ctx context.Context, u upstreamRow, api string, names []string, out map[string][]json.RawMessage) error {
	var need []string
	for _, n := range names {
		d, ok, err := p.store.upstreamDoc(ctx, u.ID, "advisories/"+n)
		if err != nil {
			return err
		}
		if ok && p.fresh(d) {
			addAdvisories(out, n, d.Body)
		} else {
			need = append(need, n)
		}
	}
	sort.Strings(need)
	for len(need) > 0 {
		chunk := need[:min(len(need), 200)]
		need = need[len(chunk):]
		got, err := p.postAdvisories(ctx, u, api, chunk)
		for _, n := range chunk {
			if err != nil {
				// Degraded: the last good answer, if any.
				if d, ok, _ := p.store.upstreamDoc(ctx, u.ID, "advisories/"+n); ok {
					addAdvisories(out, n, d.Body)
				}
				continue
			}
			list := got[n]
			if list == nil {
				list = []json.RawMessage{}
			}
			body := format.MustJSON(list)
			if err := p.storeDoc(ctx, p.store.db, u.ID, "advisories/"+n, upDoc{Status: http.StatusOK, Body: body}); err != nil {
				return err
			}
			addAdvisories(out, n, body)
		}
		if err != nil {
			p.log.Warn("upstream advisories failed; serving the last good answers", zap.String("upstream", u.URL), zap.Error(err))
		}
	}
	return nil
}

// advisoriesFromP2 adds to out the advisories an upstream puts in the p2
// documents of names.
func (p *Proxy) advisoriesFromP2(ctx context.Context, u upstreamRow, names []string, out map[string][]json.RawMessage) {
	for _, n := range names {
		d, err := p.upstreamDoc(ctx, u, p2Key(n, false))
		if err != nil || d.Status != http.StatusOK {
			continue
		}
		var doc struct {
			Advisories []json.RawMessage `json:"security-advisories"`
		}
		if json.Unmarshal(d.Body, &doc) == nil && len(doc.Advisories) > 0 {
			out[n] = appendUnique(out[n], doc.Advisories)
		}
	}
}

func addAdvisories(out map[string][]json.RawMessage, name string, body []byte) {
	var list []json.RawMessage
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		out[name] = appendUnique(out[name], list)
	}
}

func (p *Proxy) postAdvisories(ctx context.Context, u upstreamRow, api string, names []string) (map[string][]json.RawMessage, error) {
	if strings.HasPrefix(api, "/") {
		if pu, err := url.Parse(u.URL); err == nil {
			api = pu.Scheme + "://" + pu.Host + api
		}
	}
	pw, err := p.client.password(ctx, u)
	if err != nil {
		return nil, err
	}
	form := url.Values{"packages[]": names}
	res, err := p.client.call(ctx, u, pw, http.MethodPost, api, strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: HTTP %d", api, res.StatusCode)
	}
	var body struct {
		Advisories json.RawMessage `json:"advisories"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxUpstreamDoc)).Decode(&body); err != nil {
		return nil, fmt.Errorf("POST %s: %w", api, err)
	}
	out := map[string][]json.RawMessage{}
	if len(body.Advisories) > 0 && body.Advisories[0] == '{' {
		if err := json.Unmarshal(body.Advisories, &out); err != nil {
			return nil, fmt.Errorf("POST %s: %w", api, err)
		}
	}
	lower := map[string][]json.RawMessage{}
	for k, v := range out {
		lower[strings.ToLower(k)] = append(lower[strings.ToLower(k)], v...)
	}
	return lower, nil
}
