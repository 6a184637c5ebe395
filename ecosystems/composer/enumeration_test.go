package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

// answer is what a caller can observe of a response: status, headers and
// body, without what differs between any two requests (the request id, the
// date) and with the organization's name in the path replaced, so that the
// answers for two organizations can be compared.
type answer struct {
	Status int
	Header map[string]string
	Body   string
}

var requestIDField = regexp.MustCompile(`"request_id":"[0-9a-f]+"`)

func observe(res *http.Response, body []byte, names ...string) answer {
	a := answer{Status: res.StatusCode, Header: map[string]string{}, Body: requestIDField.ReplaceAllString(string(body), `"request_id":""`)}
	for k, v := range res.Header {
		if k == "X-Request-Id" || k == "Date" {
			continue
		}
		sort.Strings(v)
		a.Header[k] = strings.Join(v, ", ")
	}
	for _, n := range names {
		a.Body = strings.ReplaceAll(a.Body, n, "ORG")
		for k, v := range a.Header {
			a.Header[k] = strings.ReplaceAll(v, n, "ORG")
		}
	}
	return a
}

// Every Composer route answers a caller who cannot read an organization
// exactly as it answers for an organization that does not exist: by name
// (anonymous callers and another organization's administrator, on every
// route), and by id (another organization's source and advisory ids, used
// in the caller's own organization, answer as unknown ids do).
func TestPrivateAnswersAsAbsent(t *testing.T) {
	s := newStack(t, stackOpts{})
	ctx := context.Background()
	const private, absent = "privorg", "nothere" // the same length: the same Content-Length
	s.org(private)
	s.org("other")
	write, admin := s.token(private, metadata.RoleWrite), s.token(private, metadata.RoleAdmin)
	stranger := s.token("other", metadata.RoleAdmin)

	z := makeZip(t, zf{name: "composer.json", body: `{"name":"acme/util","type":"library"}`}, zf{name: "src/A.php", body: "<?php"})
	res, body := s.do("PUT", "/composer/"+private+"/upload?version=1.0.0", write, bytes.NewReader(z))
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	versions := s.p2(private, "acme/util", admin)
	require.NotEmpty(t, versions["1.0.0"])
	dist := versions["1.0.0"]["dist"].(map[string]any)["url"].(string)
	distPath := dist[strings.Index(dist, "/dists/"):]

	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name":"acme/app"}`})
	g.Git("tag", "v1.0.0")
	src, _, err := s.svc.AddSource(ctx, private, SourceInput{URL: g.Dir, Operator: true})
	require.NoError(t, err)
	adv, err := s.proxy.AddAdvisory(ctx, private, AdvisoryInput{Package: "acme/util", Versions: "<2.0", Title: "a flaw"})
	require.NoError(t, err)
	unknown := metadata.NewID()
	require.Len(t, unknown, len(src.ID))

	form := "application/x-www-form-urlencoded"
	routes := []struct {
		method, path, ctype, body string
	}{
		{"GET", "/composer/{org}/packages.json", "", ""},
		{"HEAD", "/composer/{org}/packages.json", "", ""},
		{"GET", "/composer/{org}/p2/acme/util.json", "", ""},
		{"GET", "/composer/{org}/p2/acme/util~dev.json", "", ""},
		{"GET", "/composer/{org}/p2/acme/missing.json", "", ""},
		{"GET", "/composer/{org}" + distPath, "", ""},
		{"HEAD", "/composer/{org}" + distPath, "", ""},
		{"GET", "/composer/{org}/mirror/pub/log/0123456789abcdef0123456789abcdef01234567.zip", "", ""},
		{"POST", "/composer/{org}/downloads", "application/json", `{"downloads":[{"name":"acme/util","version":"1.0.0.0"}]}`},
		{"GET", "/composer/{org}/search.json?q=util", "", ""},
		{"GET", "/composer/{org}/list.json", "", ""},
		{"PUT", "/composer/{org}/upload?version=2.0.0", "application/zip", string(z)},
		{"POST", "/composer/{org}/upload?version=2.0.1", "application/zip", string(z)},
		// (The right source id is the git host's to know; it answers
		// "no signature" below.)
		{"POST", "/composer/{org}/hooks/" + unknown, "application/json", `{}`},
		{"GET", "/composer/{org}/api/packages", "", ""},
		{"DELETE", "/composer/{org}/api/packages/acme/util/versions/1.0.0", "", ""},
		{"GET", "/composer/{org}/api/sources", "", ""},
		{"POST", "/composer/{org}/api/sources/" + src.ID + "/sync", "", ""},
		{"GET", "/composer/{org}/api/upstreams", "", ""},
		{"POST", "/composer/{org}/api/upstreams", "application/json", `{"url":"https://repo.example.invalid"}`},
		{"DELETE", "/composer/{org}/api/upstreams/" + unknown, "", ""},
		{"POST", "/composer/{org}/api/mirror", "application/json", `{"package":"acme/util"}`},
		{"GET", "/composer/{org}/api/advisories", "", ""},
		{"POST", "/composer/{org}/api/advisories", "application/json", `{"package":"acme/util","versions":"<1","title":"t"}`},
		{"DELETE", "/composer/{org}/api/advisories/" + adv.ID, "", ""},
		{"GET", "/composer/{org}/security-advisories?packages[]=acme/util", "", ""},
		{"POST", "/composer/{org}/security-advisories", form, "packages[]=acme/util"},
	}
	call := func(method, path, ctype, body, token string, names ...string) answer {
		var hdr []string
		if ctype != "" {
			hdr = []string{"Content-Type", ctype}
		}
		res, b := s.do(method, path, token, strings.NewReader(body), hdr...)
		return observe(res, b, names...)
	}
	for caller, token := range map[string]string{"anonymous": "", "another organization's admin": stranger} {
		for _, r := range routes {
			what := fmt.Sprintf("%s: %s %s", caller, r.method, r.path)
			got := call(r.method, strings.ReplaceAll(r.path, "{org}", private), r.ctype, r.body, token, private, absent)
			want := call(r.method, strings.ReplaceAll(r.path, "{org}", absent), r.ctype, r.body, token, private, absent)
			require.Equal(t, want, got, "%s: a private organization answers as an absent one", what)
			require.GreaterOrEqual(t, got.Status, 400, what)
		}
	}

	// By id: another organization's ids, used in one's own organization,
	// are unknown ids.
	for _, r := range []struct{ method, path string }{
		{"POST", "/composer/other/hooks/{id}"},
		{"POST", "/composer/other/api/sources/{id}/sync"},
		{"DELETE", "/composer/other/api/advisories/{id}"},
		{"DELETE", "/composer/other/api/upstreams/{id}"},
	} {
		for caller, token := range map[string]string{"anonymous": "", "the organization's admin": stranger} {
			for _, id := range []string{src.ID, adv.ID} {
				got := call(r.method, strings.ReplaceAll(r.path, "{id}", id), "application/json", "{}", token, id, unknown)
				want := call(r.method, strings.ReplaceAll(r.path, "{id}", unknown), "application/json", "{}", token, id, unknown)
				require.Equal(t, want, got, "%s: %s %s with another organization's id", caller, r.method, r.path)
			}
		}
	}

	// The private organization's own members still reach everything.
	res, body = s.do("POST", "/composer/"+private+"/hooks/"+src.ID, "", strings.NewReader("{}"))
	require.Equal(t, http.StatusForbidden, res.StatusCode, "the right source without a signature: %s", body)
	var e map[string]string
	require.NoError(t, json.Unmarshal(body, &e))
	require.Contains(t, e["error"], "signature")
}
