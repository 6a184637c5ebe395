package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// The cross-tenant matrix: every Composer route and every buf RPC that reads
// or writes, called by every kind of caller on a private and a public
// organization, from one table. The expected answer of each cell comes from
// expect, which restates the written rules of auth/policy.go and of
// ecosystems/buf/visibility.go; a cell whose thing the caller may not see
// must also answer exactly as the same request about an organization that
// does not exist, and a refused write must leave nothing behind.

// Kinds of callers of organization O.
const (
	anonymous  = "anonymous"
	otherRead  = "other-org-read" // a token of another organization B
	otherWrite = "other-org-write"
	otherAdmin = "other-org-admin"
	orgRead    = "read"
	orgWrite   = "write"
	orgAdmin   = "admin"
)

var matrixPrincipals = []string{anonymous, otherRead, otherWrite, otherAdmin, orgRead, orgWrite, orgAdmin}

// The access an action needs; needHook is the Composer webhook, which is
// authenticated by the source's secret and not by tokens.
type need int

const (
	needRead need = iota
	needWrite
	needAdmin
	needHook
)

// verdict is what a cell must answer.
type verdict int

const (
	allowed verdict = iota
	unauthenticated
	notFound
	denied
)

func (v verdict) String() string {
	return [...]string{"ok", "unauthenticated", "not found", "permission denied"}[v]
}

// hiddenVerdict is an answer that must not tell the thing from an absent one.
func (v verdict) hidden() bool { return v == unauthenticated || v == notFound }

// expect is the rule: a caller who cannot read a private thing gets what it
// would get for an absent one (Unauthenticated when anonymous, NotFound with
// a token); who can read it may read; writes need write access to the
// organization and admin actions admin access; anonymous callers are asked
// to sign in, and signed-in callers without the role are refused.
func expect(public bool, who string, n need) verdict {
	if n == needHook {
		return notFound // an unknown webhook, whoever asks
	}
	var role need = -1
	switch who {
	case orgRead:
		role = needRead
	case orgWrite:
		role = needWrite
	case orgAdmin:
		role = needAdmin
	}
	switch {
	case !public && role < 0 && who == anonymous:
		return unauthenticated
	case !public && role < 0:
		return notFound
	case role >= n:
		return allowed
	case public && n == needRead:
		return allowed
	case who == anonymous:
		return unauthenticated
	}
	return denied
}

// mxAction is one row of the table: a request of one protocol and what it
// needs; prepare and check (optional) run with the organization's admin
// token before and after the cell, check told whether the cell succeeded.
type mxAction struct {
	proto   string // "composer" or "buf"
	name    string
	need    need
	ok      int // HTTP status of success (Composer)
	audit   string
	request func(x *matrix, c *mxCell) mxRequest
	prepare func(x *matrix, c *mxCell)
	check   func(x *matrix, c *mxCell, ok bool)
}

type mxRequest struct {
	method, path, contentType string
	body                      string
}

type mxCell struct {
	n      int
	org    string
	public bool
	who    string
	act    *mxAction
	state  map[string]string // what prepare leaves for request and check
}

func (c *mxCell) String() string {
	vis := "private"
	if c.public {
		vis = "public"
	}
	return fmt.Sprintf("%s/%s/%s %s", vis, c.who, c.act.proto, c.act.name)
}

// uniq is a name unique to the cell.
func (c *mxCell) uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, c.n) }

// matrix is the one running packyard and what was set up in it.
type matrix struct {
	t      *testing.T
	in     *harness.Instance
	tokens map[string]map[string]string // org -> scope -> token
	// per organization: the Composer dist path, git source id, buf module id and commit id
	dist, source, moduleID, commit map[string]string
}

type mxResponse struct {
	status int
	code   string // Connect code (buf)
	body   string
}

func (x *matrix) token(org, who string) string {
	switch who {
	case anonymous:
		return ""
	case otherRead, otherWrite, otherAdmin:
		return x.tokens["other"][strings.TrimPrefix(who, "other-org-")]
	}
	return x.tokens[org][who]
}

func (x *matrix) do(r mxRequest, token, requestID string) mxResponse {
	x.t.Helper()
	req, err := http.NewRequest(r.method, x.in.URL+r.path, strings.NewReader(r.body))
	require.NoError(x.t, err)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.contentType == "application/json" && !strings.HasPrefix(r.path, "/composer/") {
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	res, err := x.in.Client.Do(req)
	require.NoError(x.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := mxResponse{status: res.StatusCode, body: string(b)}
	if !strings.HasPrefix(r.path, "/composer/") && res.StatusCode != http.StatusOK {
		var e struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &e)
		out.code = e.Code
	}
	return out
}

// admin calls as the organization's admin and requires success.
func (x *matrix) admin(org string, r mxRequest) string {
	x.t.Helper()
	res := x.do(r, x.tokens[org]["admin"], "")
	require.Less(x.t, res.status, 300, "%s %s as admin of %s: %d %s", r.method, r.path, org, res.status, res.body)
	return res.body
}

func connectJSON(procedure string, body string, args ...any) mxRequest {
	return mxRequest{method: http.MethodPost, path: "/" + procedure, contentType: "application/json", body: fmt.Sprintf(body, args...)}
}

func composerGet(format string, args ...any) mxRequest {
	return mxRequest{method: http.MethodGet, path: fmt.Sprintf(format, args...)}
}

func composerJSON(method, body, format string, args ...any) mxRequest {
	return mxRequest{method: method, path: fmt.Sprintf(format, args...), contentType: "application/json", body: body}
}

// packageZip is a Composer package archive of name, with a marker file.
func packageZip(name, marker string) string {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("pkg/composer.json")
	_, _ = fmt.Fprintf(w, `{"name": %q, "description": "matrix"}`, name)
	w, _ = zw.Create("pkg/" + marker)
	_, _ = w.Write([]byte(marker))
	_ = zw.Close()
	return buf.String()
}

func uploadRequest(org, version, marker string) mxRequest {
	return mxRequest{method: http.MethodPut, path: "/composer/" + org + "/upload?version=" + version, contentType: "application/zip",
		body: packageZip(org+"/lib", marker)}
}

func moduleRefJSON(org, module string) string {
	return fmt.Sprintf(`{"name":{"owner":%q,"module":%q}}`, org, module)
}

func resourceRefJSON(org, module, ref string) string {
	return fmt.Sprintf(`{"name":{"owner":%q,"module":%q,"ref":%q}}`, org, module, ref)
}

func labelRefJSON(org, module, label string) string {
	return fmt.Sprintf(`{"name":{"owner":%q,"module":%q,"label":%q}}`, org, module, label)
}

func moduleVisibility(public bool) string {
	if public {
		return "MODULE_VISIBILITY_PUBLIC"
	}
	return "MODULE_VISIBILITY_PRIVATE"
}

// getOne asks as the organization's admin for one thing and returns the
// first value of the response's list field, or nil when it is not found.
func (x *matrix) getOne(org, field string, r mxRequest) map[string]any {
	res := x.do(r, x.tokens[org]["admin"], "")
	if res.status == http.StatusNotFound {
		return nil
	}
	require.Equal(x.t, http.StatusOK, res.status, res.body)
	var out map[string][]map[string]any
	require.NoError(x.t, json.Unmarshal([]byte(res.body), &out))
	require.NotEmpty(x.t, out[field], res.body)
	return out[field][0]
}

// getModule returns the module as its organization's admin sees it, or nil.
func (x *matrix) getModule(org, name string) map[string]any {
	return x.getOne(org, "modules", connectJSON("buf.registry.module.v1.ModuleService/GetModules", `{"moduleRefs":[%s]}`, moduleRefJSON(org, name)))
}

func (x *matrix) createModule(org, name string, public bool) {
	x.admin(org, connectJSON("buf.registry.module.v1.ModuleService/CreateModules",
		`{"values":[{"ownerRef":{"name":%q},"name":%q,"visibility":%q}]}`, org, name, moduleVisibility(public)))
}

func (x *matrix) getLabel(org, label string) map[string]any {
	return x.getOne(org, "labels", connectJSON("buf.registry.module.v1.LabelService/GetLabels", `{"labelRefs":[%s]}`, labelRefJSON(org, "m", label)))
}

func (x *matrix) commitCount(org string) int {
	body := x.admin(org, connectJSON("buf.registry.module.v1.CommitService/ListCommits", `{"resourceRef":%s,"pageSize":250}`, resourceRefJSON(org, "m", "")))
	var out struct{ Commits []any }
	require.NoError(x.t, json.Unmarshal([]byte(body), &out))
	return len(out.Commits)
}

// packages lists org's Composer versions and their download counts.
func (x *matrix) packages(org string) map[string]int64 {
	body := x.admin(org, composerGet("/composer/%s/api/packages", org))
	var ps []struct {
		Name     string
		Versions []struct {
			Version   string
			Downloads int64
		}
	}
	require.NoError(x.t, json.Unmarshal([]byte(body), &ps))
	out := map[string]int64{}
	for _, p := range ps {
		for _, v := range p.Versions {
			out[p.Name+"@"+v.Version] = v.Downloads
		}
	}
	return out
}

func (x *matrix) listLen(org, path string) int {
	var l []any
	require.NoError(x.t, json.Unmarshal([]byte(x.admin(org, composerGet("/composer/%s/%s", org, path))), &l))
	return len(l)
}

// removeAll deletes every item of an admin API list (upstreams, advisories).
func (x *matrix) removeAll(org, path string) {
	var l []struct {
		ID any `json:"id"`
	}
	require.NoError(x.t, json.Unmarshal([]byte(x.admin(org, composerGet("/composer/%s/api/%s", org, path))), &l))
	for _, it := range l {
		x.admin(org, mxRequest{method: http.MethodDelete, path: fmt.Sprintf("/composer/%s/api/%s/%v", org, path, it.ID)})
	}
}

// Bodies of the admin lists of an organization (api/upstreams, api/advisories).
func upstreamJSON(x *matrix, c *mxCell, _ string) string {
	return fmt.Sprintf(`{"url":%q}`, x.in.URL+"/composer/upsrc")
}

func advisoryJSON(x *matrix, c *mxCell, title string) string {
	return fmt.Sprintf(`{"package":"%s/lib","versions":"<2.0","title":"Matrix %s"}`, c.org, title)
}

// listAdd adds an item to an admin list of the organization; check counts
// the list and empties it for the next cell.
func listAdd(list, audit string, body func(x *matrix, c *mxCell, title string) string) *mxAction {
	return &mxAction{proto: "composer", name: "POST api/" + list, need: needAdmin, ok: http.StatusCreated, audit: audit,
		request: func(x *matrix, c *mxCell) mxRequest {
			return composerJSON(http.MethodPost, body(x, c, c.uniq("a")), "/composer/%s/api/%s", c.org, list)
		},
		check: func(x *matrix, c *mxCell, ok bool) {
			require.Equal(x.t, map[bool]int{true: 1, false: 0}[ok], x.listLen(c.org, "api/"+list), "%s stored", list)
			x.removeAll(c.org, list)
		}}
}

// listRemove removes an item that prepare added to an admin list.
func listRemove(list, audit string, body func(x *matrix, c *mxCell, title string) string) *mxAction {
	return &mxAction{proto: "composer", name: "DELETE api/" + list, need: needAdmin, ok: http.StatusNoContent, audit: audit,
		prepare: func(x *matrix, c *mxCell) {
			var it struct {
				ID any `json:"id"`
			}
			require.NoError(x.t, json.Unmarshal([]byte(x.admin(c.org, composerJSON(http.MethodPost, body(x, c, c.uniq("d")), "/composer/%s/api/%s", c.org, list))), &it))
			c.state["id"] = fmt.Sprint(it.ID)
		},
		request: func(x *matrix, c *mxCell) mxRequest {
			return mxRequest{method: http.MethodDelete, path: fmt.Sprintf("/composer/%s/api/%s/%s", c.org, list, c.state["id"])}
		},
		check: func(x *matrix, c *mxCell, ok bool) {
			require.Equal(x.t, map[bool]int{true: 0, false: 1}[ok], x.listLen(c.org, "api/"+list), "%s stored", list)
			x.removeAll(c.org, list)
		}}
}

func composerActions() []*mxAction {
	get := func(name, format string) *mxAction {
		return &mxAction{proto: "composer", name: name, need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest { return composerGet(format, c.org) }}
	}
	return []*mxAction{
		get("GET packages.json", "/composer/%s/packages.json"),
		{proto: "composer", name: "GET p2", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest { return composerGet("/composer/%s/p2/%s/lib.json", c.org, c.org) }},
		{proto: "composer", name: "GET p2 ~dev", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest {
				return composerGet("/composer/%s/p2/%s/lib~dev.json", c.org, c.org)
			}},
		{proto: "composer", name: "GET dist", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest { return composerGet("%s", x.dist[c.org]) }},
		get("GET search.json", "/composer/%s/search.json?q=lib"),
		get("GET list.json", "/composer/%s/list.json"),
		{proto: "composer", name: "GET security-advisories", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest {
				return composerGet("/composer/%s/security-advisories?packages[]=%s/lib", c.org, c.org)
			}},
		{proto: "composer", name: "POST security-advisories", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest {
				return mxRequest{method: http.MethodPost, path: "/composer/" + c.org + "/security-advisories",
					contentType: "application/x-www-form-urlencoded", body: "packages[0]=" + c.org + "/lib"}
			}},
		{proto: "composer", name: "POST notify-batch", need: needRead, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest {
				return composerJSON(http.MethodPost, fmt.Sprintf(`{"downloads":[{"name":"%s/lib","version":"1.0.0.0"}]}`, c.org), "/composer/%s/downloads", c.org)
			},
			prepare: func(x *matrix, c *mxCell) { c.state["downloads"] = fmt.Sprint(x.packages(c.org)[c.org+"/lib@1.0.0"]) },
			check: func(x *matrix, c *mxCell, ok bool) {
				want := c.state["downloads"]
				if ok {
					want = fmt.Sprint(mustInt(x.t, want) + 1)
				}
				require.Equal(x.t, want, fmt.Sprint(x.packages(c.org)[c.org+"/lib@1.0.0"]), "download count")
			}},
		{proto: "composer", name: "PUT upload", need: needWrite, ok: http.StatusCreated, audit: "composer.publish",
			request: func(x *matrix, c *mxCell) mxRequest {
				return uploadRequest(c.org, "1.1."+fmt.Sprint(c.n), c.uniq("marker"))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				_, stored := x.packages(c.org)[c.org+"/lib@1.1."+fmt.Sprint(c.n)]
				require.Equal(x.t, ok, stored, "version stored")
			}},
		{proto: "composer", name: "POST hooks (unknown source)", need: needHook,
			request: func(x *matrix, c *mxCell) mxRequest {
				return composerJSON(http.MethodPost, `{"ref":"refs/heads/main"}`, "/composer/%s/hooks/%s", c.org, ghostSource)
			}},
		get("GET api/packages", "/composer/%s/api/packages"),
		{proto: "composer", name: "DELETE api/packages version", need: needAdmin, ok: http.StatusNoContent, audit: "composer.version.delete",
			prepare: func(x *matrix, c *mxCell) {
				x.admin(c.org, uploadRequest(c.org, "3.0."+fmt.Sprint(c.n), c.uniq("victim")))
			},
			request: func(x *matrix, c *mxCell) mxRequest {
				return mxRequest{method: http.MethodDelete, path: fmt.Sprintf("/composer/%s/api/packages/%s/lib/versions/3.0.%d", c.org, c.org, c.n)}
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				_, stored := x.packages(c.org)[c.org+"/lib@3.0."+fmt.Sprint(c.n)]
				require.Equal(x.t, !ok, stored, "version still stored")
			}},
		get("GET api/sources", "/composer/%s/api/sources"),
		{proto: "composer", name: "POST api/sources sync", need: needWrite, ok: http.StatusOK, audit: "composer.sync",
			request: func(x *matrix, c *mxCell) mxRequest {
				return mxRequest{method: http.MethodPost, path: fmt.Sprintf("/composer/%s/api/sources/%s/sync", c.org, x.source[c.org])}
			}},
		{proto: "composer", name: "GET api/upstreams", need: needAdmin, ok: http.StatusOK,
			request: func(x *matrix, c *mxCell) mxRequest { return composerGet("/composer/%s/api/upstreams", c.org) }},
		listAdd("upstreams", "composer.upstream.add", upstreamJSON),
		listRemove("upstreams", "composer.upstream.remove", upstreamJSON),
		get("GET api/advisories", "/composer/%s/api/advisories"),
		listAdd("advisories", "composer.advisory.add", advisoryJSON),
		listRemove("advisories", "composer.advisory.remove", advisoryJSON),
	}
}

func mustInt(t *testing.T, s string) int64 {
	var n int64
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

func bufActions() []*mxAction {
	read := func(name, procedure, body string, args func(x *matrix, c *mxCell) []any) *mxAction {
		return &mxAction{proto: "buf", name: name, need: needRead,
			request: func(x *matrix, c *mxCell) mxRequest { return connectJSON(procedure, body, args(x, c)...) }}
	}
	mod := func(x *matrix, c *mxCell) []any { return []any{moduleRefJSON(c.org, "m")} }
	res := func(x *matrix, c *mxCell) []any { return []any{resourceRefJSON(c.org, "m", x.commit[c.org])} }
	lbl := func(x *matrix, c *mxCell) []any { return []any{resourceRefJSON(c.org, "m", "main")} }
	const (
		modSvc   = "buf.registry.module.v1.ModuleService/"
		labelSvc = "buf.registry.module.v1.LabelService/"
	)
	return []*mxAction{
		read("GetModules by name", modSvc+"GetModules", `{"moduleRefs":[%s]}`, mod),
		read("GetModules by id", modSvc+"GetModules", `{"moduleRefs":[{"id":%q}]}`,
			func(x *matrix, c *mxCell) []any { return []any{x.moduleID[c.org]} }),
		read("ListModules of the owner", modSvc+"ListModules", `{"ownerRefs":[{"name":%q}]}`,
			func(x *matrix, c *mxCell) []any { return []any{c.org} }),
		{proto: "buf", name: "CreateModules private", need: needWrite, audit: "buf.module.create",
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(modSvc+"CreateModules", `{"values":[{"ownerRef":{"name":%q},"name":%q,"visibility":"MODULE_VISIBILITY_PRIVATE"}]}`, c.org, c.uniq("c"))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				require.Equal(x.t, ok, x.getModule(c.org, c.uniq("c")) != nil, "module created")
			}},
		{proto: "buf", name: "CreateModules public", need: needAdmin, audit: "buf.module.create",
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(modSvc+"CreateModules", `{"values":[{"ownerRef":{"name":%q},"name":%q,"visibility":"MODULE_VISIBILITY_PUBLIC"}]}`, c.org, c.uniq("p"))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				created := x.getModule(c.org, c.uniq("p")) != nil
				require.Equal(x.t, ok, created, "module created")
				if created { // a public module makes its owner visible: remove it for the cells that follow
					x.admin(c.org, connectJSON(modSvc+"DeleteModules", `{"moduleRefs":[%s]}`, moduleRefJSON(c.org, c.uniq("p"))))
				}
			}},
		{proto: "buf", name: "UpdateModules description", need: needWrite, audit: "buf.module.update",
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(modSvc+"UpdateModules", `{"values":[{"moduleRef":%s,"description":%q}]}`, moduleRefJSON(c.org, "m"), c.uniq("d"))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				require.Equal(x.t, ok, x.getModule(c.org, "m")["description"] == c.uniq("d"), "description changed")
			}},
		{proto: "buf", name: "UpdateModules visibility", need: needAdmin, audit: "buf.module.update",
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(modSvc+"UpdateModules", `{"values":[{"moduleRef":%s,"visibility":%q}]}`, moduleRefJSON(c.org, "m"), moduleVisibility(!c.public))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				require.Equal(x.t, ok, x.getModule(c.org, "m")["visibility"] == moduleVisibility(!c.public), "visibility changed")
				x.admin(c.org, connectJSON(modSvc+"UpdateModules", `{"values":[{"moduleRef":%s,"visibility":%q}]}`, moduleRefJSON(c.org, "m"), moduleVisibility(c.public)))
			}},
		{proto: "buf", name: "DeleteModules", need: needAdmin, audit: "buf.module.delete",
			prepare: func(x *matrix, c *mxCell) { x.createModule(c.org, c.uniq("x"), c.public) },
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(modSvc+"DeleteModules", `{"moduleRefs":[%s]}`, moduleRefJSON(c.org, c.uniq("x")))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				require.Equal(x.t, !ok, x.getModule(c.org, c.uniq("x")) != nil, "module kept")
			}},
		read("GetCommits", "buf.registry.module.v1.CommitService/GetCommits", `{"resourceRefs":[%s]}`, res),
		read("ListCommits", "buf.registry.module.v1.CommitService/ListCommits", `{"resourceRef":%s}`, lbl),
		read("GetLabels", labelSvc+"GetLabels", `{"labelRefs":[%s]}`,
			func(x *matrix, c *mxCell) []any { return []any{labelRefJSON(c.org, "m", "main")} }),
		read("ListLabels", labelSvc+"ListLabels", `{"resourceRef":%s}`, lbl),
		read("ListLabelHistory", labelSvc+"ListLabelHistory", `{"labelRef":%s}`,
			func(x *matrix, c *mxCell) []any { return []any{labelRefJSON(c.org, "m", "main")} }),
		{proto: "buf", name: "CreateOrUpdateLabels", need: needWrite, audit: "buf.label.move",
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(labelSvc+"CreateOrUpdateLabels", `{"values":[{"labelRef":%s,"commitId":%q}]}`, labelRefJSON(c.org, "m", c.uniq("l")), x.commit[c.org])
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				require.Equal(x.t, ok, x.getLabel(c.org, c.uniq("l")) != nil, "label created")
			}},
		{proto: "buf", name: "ArchiveLabels", need: needWrite, audit: "buf.label.archive",
			prepare: func(x *matrix, c *mxCell) {
				x.admin(c.org, connectJSON(labelSvc+"CreateOrUpdateLabels", `{"values":[{"labelRef":%s,"commitId":%q}]}`, labelRefJSON(c.org, "m", c.uniq("a")), x.commit[c.org]))
			},
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON(labelSvc+"ArchiveLabels", `{"labelRefs":[%s]}`, labelRefJSON(c.org, "m", c.uniq("a")))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				l := x.getLabel(c.org, c.uniq("a"))
				require.NotNil(x.t, l)
				require.Equal(x.t, ok, l["archiveTime"] != nil, "label archived")
			}},
		read("GetResources", "buf.registry.module.v1.ResourceService/GetResources", `{"resourceRefs":[%s]}`, res),
		read("GetGraph", "buf.registry.module.v1.GraphService/GetGraph", `{"resourceRefs":[%s]}`, res),
		read("Download", "buf.registry.module.v1.DownloadService/Download", `{"values":[{"resourceRef":%s}]}`, res),
		read("v1beta1 GetGraph", "buf.registry.module.v1beta1.GraphService/GetGraph", `{"resourceRefs":[{"resourceRef":%s,"registry":%q}]}`,
			func(x *matrix, c *mxCell) []any {
				return []any{resourceRefJSON(c.org, "m", x.commit[c.org]), x.in.Host}
			}),
		read("v1beta1 Download", "buf.registry.module.v1beta1.DownloadService/Download", `{"values":[{"resourceRef":%s,"registry":%q}]}`,
			func(x *matrix, c *mxCell) []any {
				return []any{resourceRefJSON(c.org, "m", x.commit[c.org]), x.in.Host}
			}),
		{proto: "buf", name: "Upload", need: needWrite, audit: "buf.push",
			prepare: func(x *matrix, c *mxCell) { c.state["commits"] = fmt.Sprint(x.commitCount(c.org)) },
			request: func(x *matrix, c *mxCell) mxRequest {
				return connectJSON("buf.registry.module.v1.UploadService/Upload", `{"contents":[{"moduleRef":%s,"files":[{"path":"m.proto","content":%q}]}]}`,
					moduleRefJSON(c.org, "m"), base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("syntax = \"proto3\";\npackage m;\nmessage M%d {}\n", c.n))))
			},
			check: func(x *matrix, c *mxCell, ok bool) {
				want := mustInt(x.t, c.state["commits"])
				if ok {
					want++
				}
				require.Equal(x.t, want, int64(x.commitCount(c.org)), "commits stored")
			}},
		read("OwnerService GetOwners", "buf.registry.owner.v1.OwnerService/GetOwners", `{"ownerRefs":[{"name":%q}]}`,
			func(x *matrix, c *mxCell) []any { return []any{c.org} }),
		read("OrganizationService GetOrganizations", "buf.registry.owner.v1.OrganizationService/GetOrganizations", `{"organizationRefs":[{"name":%q}]}`,
			func(x *matrix, c *mxCell) []any { return []any{c.org} }),
		{proto: "buf", name: "OrganizationService UpdateOrganizations visibility", need: needAdmin,
			request: func(x *matrix, c *mxCell) mxRequest { return orgVisibility(c.org, !c.public) },
			check: func(x *matrix, c *mxCell, ok bool) {
				var out struct{ Organizations []map[string]any }
				require.NoError(x.t, json.Unmarshal([]byte(x.admin(c.org, connectJSON("buf.registry.owner.v1.OrganizationService/GetOrganizations",
					`{"organizationRefs":[{"name":%q}]}`, c.org))), &out))
				flipped := out.Organizations[0]["visibility"] == orgVisibilityName(!c.public)
				require.Equal(x.t, ok, flipped, "organization visibility changed")
				if flipped {
					x.admin(c.org, orgVisibility(c.org, c.public))
				}
			}},
	}
}

func orgVisibilityName(public bool) string {
	if public {
		return "ORGANIZATION_VISIBILITY_PUBLIC"
	}
	return "ORGANIZATION_VISIBILITY_PRIVATE"
}

func orgVisibility(org string, public bool) mxRequest {
	return connectJSON("buf.registry.owner.v1.OrganizationService/UpdateOrganizations",
		`{"values":[{"organizationRef":{"name":%q},"visibility":%q}]}`, org, orgVisibilityName(public))
}

// setup makes the organizations, tokens and content, once.
func (x *matrix) setup() {
	t, in := x.t, x.in
	in.MustCLI("org", "create", "priv")
	in.MustCLI("org", "create", "pub", "--public")
	in.MustCLI("org", "create", "other")
	in.MustCLI("org", "create", "upsrc", "--public")
	for _, org := range []string{"priv", "pub", "other"} {
		x.tokens[org] = map[string]string{}
		for _, scope := range []string{"read", "write", "admin"} {
			x.tokens[org][scope] = in.MustCLI("token", "create", "--org", org, "--scope", scope)
		}
	}
	for _, org := range []string{"priv", "pub"} {
		public := org == "pub"
		// Composer: a release and a dev version, a git source.
		x.admin(org, uploadRequest(org, "1.0.0", "release"))
		x.admin(org, uploadRequest(org, "dev-main", "dev"))
		var p2 struct {
			Packages map[string][]struct {
				Dist struct{ URL string }
			}
		}
		require.NoError(t, json.Unmarshal([]byte(x.admin(org, composerGet("/composer/%s/p2/%s/lib.json", org, org))), &p2))
		u := p2.Packages[org+"/lib"][0].Dist.URL
		x.dist[org] = u[strings.Index(u, "/composer/"):]
		repo := harness.GitRepo(t)
		repo.Commit(map[string]string{"composer.json": `{"name": "` + org + `/tool"}`})
		in.MustCLI("composer", "add-vcs", "--org", org, "--url", "file://"+repo.Dir)
		var srcs []struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(x.admin(org, composerGet("/composer/%s/api/sources", org))), &srcs))
		require.Len(t, srcs, 1)
		x.source[org] = srcs[0].ID

		// buf: module m with one commit, of the organization's visibility.
		x.createModule(org, "m", public)
		x.moduleID[org] = x.getModule(org, "m")["id"].(string)
		body := x.admin(org, connectJSON("buf.registry.module.v1.UploadService/Upload", `{"contents":[{"moduleRef":%s,"files":[{"path":"m.proto","content":%q}]}]}`,
			moduleRefJSON(org, "m"), base64.StdEncoding.EncodeToString([]byte("syntax = \"proto3\";\npackage m;\nmessage M {}\n"))))
		var up struct{ Commits []struct{ ID string } }
		require.NoError(t, json.Unmarshal([]byte(body), &up))
		x.commit[org] = up.Commits[0].ID
	}
}

// Ids of nothing: a buf module or commit, a Composer source.
const (
	ghostID     = "00000000000000000000000000000000"
	ghostSource = "0123456789abcdef0123456789abcdef"
)

var requestIDs = regexp.MustCompile(`[0-9a-f]{24}|mx-[0-9]+`)

// ghost rewrites a request about org into the same request about an
// organization that does not exist (and ids into unknown ones).
func (x *matrix) ghost(c *mxCell, r mxRequest) mxRequest {
	rep := strings.NewReplacer(x.moduleID[c.org], ghostID, x.commit[c.org], ghostID, x.source[c.org], ghostSource, "/"+c.org+"/", "/ghost/", `"`+c.org+`"`, `"ghost"`, c.org+"/", "ghost/")
	r.path, r.body = rep.Replace(r.path), rep.Replace(r.body)
	return r
}

func (x *matrix) run(c *mxCell) {
	t := x.t
	t.Helper()
	want := expect(c.public, c.who, c.act.need)
	if c.act.prepare != nil {
		c.act.prepare(x, c)
	}
	req := c.act.request(x, c)
	tok := x.token(c.org, c.who)
	got := x.do(req, tok, fmt.Sprintf("mx-%d", c.n))
	status, code := c.act.ok, ""
	switch want {
	case unauthenticated:
		status, code = http.StatusUnauthorized, "unauthenticated"
	case notFound:
		status, code = http.StatusNotFound, "not_found"
	case denied:
		status, code = http.StatusForbidden, "permission_denied"
	}
	if c.act.proto == "buf" && want == allowed {
		status = http.StatusOK
	}
	assertCell(t, c, want, status, code, got)
	if want.hidden() && (!c.public || c.act.need == needHook) {
		// The same request about an organization that does not exist.
		g := x.do(x.ghost(c, req), tok, fmt.Sprintf("mx-%d", c.n))
		back := strings.NewReplacer("ghost", c.org, ghostID, x.moduleID[c.org]+"|"+x.commit[c.org], ghostSource, x.source[c.org])
		norm := func(s string) string { return requestIDs.ReplaceAllString(back.Replace(s), "ID") }
		got.body = strings.NewReplacer(x.moduleID[c.org], x.moduleID[c.org]+"|"+x.commit[c.org], x.commit[c.org], x.moduleID[c.org]+"|"+x.commit[c.org]).Replace(got.body)
		if g.status != got.status || norm(g.body) != norm(got.body) {
			t.Errorf("%s: answers unlike an absent organization:\n  %d %s\n  absent: %d %s", c, got.status, got.body, g.status, g.body)
		}
	}
	if c.act.check != nil {
		c.act.check(x, c, got.status < 300)
	}
}

func assertCell(t *testing.T, c *mxCell, want verdict, status int, code string, got mxResponse) {
	t.Helper()
	if got.status != status || (c.act.proto == "buf" && code != "" && got.code != code) {
		t.Errorf("%s: want %s (%d %s), got %d %s", c, want, status, code, got.status, clipBody(got.body))
	}
}

func clipBody(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// TestMatrix runs every cell of the cross-tenant table against one packyard.
func TestMatrix(t *testing.T) {
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32"}})
	x := &matrix{t: t, in: in, tokens: map[string]map[string]string{},
		dist: map[string]string{}, source: map[string]string{}, moduleID: map[string]string{}, commit: map[string]string{}}
	x.setup()

	var cells []*mxCell
	for _, act := range append(composerActions(), bufActions()...) {
		for _, org := range []string{"priv", "pub"} {
			for _, who := range matrixPrincipals {
				cells = append(cells, &mxCell{n: len(cells), org: org, public: org == "pub", who: who, act: act, state: map[string]string{}})
			}
		}
	}
	for _, c := range cells {
		t.Run(c.String(), func(t *testing.T) {
			cx := *x
			cx.t = t
			cx.run(c)
		})
	}

	// A refused write leaves no audit record; an allowed one leaves one.
	var events []auditEvent
	for _, line := range strings.Split(in.MustCLI("audit", "export"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var ev auditEvent
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		events = append(events, ev)
	}
	recorded := map[string][]string{}
	for _, ev := range events {
		if ev.Outcome == "" || ev.Outcome == "success" {
			recorded[ev.RequestID] = append(recorded[ev.RequestID], ev.Action)
		}
	}
	for _, c := range cells {
		if c.act.audit == "" {
			continue
		}
		got := recorded[fmt.Sprintf("mx-%d", c.n)]
		if expect(c.public, c.who, c.act.need) == allowed {
			if !contains(got, c.act.audit) {
				t.Errorf("%s: allowed, but no %s audit record (got %v)", c, c.act.audit, got)
			}
		} else if len(got) > 0 {
			t.Errorf("%s: refused, but audit records %v", c, got)
		}
	}
	t.Logf("%d cells", len(cells))
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
