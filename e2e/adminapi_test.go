package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/sdk"
	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/metadata"
)

var registerDecoders sync.Once

// apiClient drives the admin API of a kernel and checks every request and
// answer against the OpenAPI document the kernel serves, with kin-openapi.
type apiClient struct {
	t      *testing.T
	k      *harness.Kernel
	doc    *openapi3.T
	router routers.Router
	raw    []byte
	seen   map[string]bool // "METHOD /path" operations exercised
}

// newAPIClient loads and validates the served document and checks that it
// describes exactly the registered /api/v1 routes.
func newAPIClient(t *testing.T, k *harness.Kernel) *apiClient {
	t.Helper()
	registerDecoders.Do(func() {
		for _, ct := range []string{"application/x-ndjson", "application/wasm", "application/zip"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
	res, err := k.Client.Get(k.URL + "/api/v1/openapi.json") // anonymous: the document is public
	require.NoError(t, err)
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "the served document is a valid OpenAPI 3 document")

	documented, err := api.Operations(raw)
	require.NoError(t, err)
	require.Equal(t, k.Server.APIOperations(), documented,
		"the document describes every registered /api/v1 route and no other")

	doc.Servers = openapi3.Servers{{URL: k.URL}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &apiClient{t: t, k: k, doc: doc, router: router, raw: raw, seen: map[string]bool{}}
}

// do sends a request, validates it and its answer against the document,
// requires the status, and returns the body.
func (c *apiClient) do(method, path, token string, want int, body any) []byte {
	c.t.Helper()
	var payload []byte
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		payload, ctype = b, "application/octet-stream"
	case string:
		payload, ctype = []byte(b), "application/json"
	default:
		var err error
		payload, err = json.Marshal(b)
		require.NoError(c.t, err)
		ctype = "application/json"
	}
	return c.send(method, path, token, ctype, payload, want)
}

func (c *apiClient) send(method, path, token, ctype string, payload []byte, want int) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.k.URL+path, bytes.NewReader(payload))
	require.NoError(c.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	route, params, err := c.router.FindRoute(req)
	require.NoError(c.t, err, "%s %s is in the document", method, path)
	c.seen[method+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if want < 400 { // a request made to be refused may break its own schema on purpose
		req.Body = io.NopCloser(bytes.NewReader(payload))
		require.NoError(c.t, openapi3filter.ValidateRequest(context.Background(), in), "%s %s: the request", method, path)
		req.Body = io.NopCloser(bytes.NewReader(payload))
	}
	res, err := c.k.Client.Do(req)
	require.NoError(c.t, err)
	out, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(c.t, err)
	require.Equal(c.t, want, res.StatusCode, "%s %s: %s", method, path, out)
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	rv.SetBodyBytes(out)
	require.NoError(c.t, openapi3filter.ValidateResponse(context.Background(), rv), "%s %s: the answer %d %s", method, path, res.StatusCode, out)
	if res.StatusCode >= 400 {
		var e struct {
			Error struct{ Code, Message, RequestID string } `json:"error"`
		}
		require.NoError(c.t, json.Unmarshal(out, &e))
		require.NotEmpty(c.t, e.Error.Message)
		require.NotEmpty(c.t, e.Error.Code)
	}
	return out
}

func (c *apiClient) json(method, path, token string, want int, body any, into any) {
	c.t.Helper()
	out := c.do(method, path, token, want, body)
	reflect.ValueOf(into).Elem().SetZero() // a field the answer omits must not keep an earlier answer's value
	require.NoError(c.t, json.Unmarshal(out, into), "%s", out)
}

// requireAllExercised fails for each documented operation no request reached.
func (c *apiClient) requireAllExercised() {
	c.t.Helper()
	ops, err := api.Operations(c.raw)
	require.NoError(c.t, err)
	var missing []string
	for _, op := range ops {
		if !c.seen[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(missing)
	require.Empty(c.t, missing, "every documented operation is exercised")
}

type page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token"`
}

type apiTokens struct {
	site, acmeAdmin, acmeWrite, acmeRead, otherAdmin string
}

type adminKernel struct {
	*harness.Kernel
	composer *composer.Service
	buf      *buf.Service
}

func newAdminKernel(t *testing.T, backend harness.Backend) (adminKernel, apiTokens) {
	var k adminKernel
	k.Kernel = harness.NewKernel(t, harness.KernelOptions{Backend: backend,
		Env:     map[string]string{"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32"},
		Modules: []fx.Option{buf.Module, sdk.Module, composer.Module, fx.Populate(&k.composer, &k.buf)}})
	ctx := context.Background()
	k.Org("acme", false)
	k.Org("other", false)
	k.Org("pub", true)
	root, err := k.Auth.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	site, _, err := k.Auth.CreateUserToken(ctx, auth.UserTokenRequest{UserID: root.ID, Name: "sign-in", Expires: time.Hour})
	require.NoError(t, err)
	return k, apiTokens{site: site, acmeAdmin: k.Token("acme", metadata.RoleAdmin), acmeWrite: k.Token("acme", metadata.RoleWrite),
		acmeRead: k.Token("acme", metadata.RoleRead), otherAdmin: k.Token("other", metadata.RoleAdmin)}
}

// The admin API answers as its OpenAPI document says, on every route, for
// successes and refusals alike, with the CLI's rules for each token.
func TestAdminAPI(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			k, tok := newAdminKernel(t, backend)
			c := newAPIClient(t, k.Kernel)
			t.Run("kernel", func(t *testing.T) { c.t = t; exerciseKernelAPI(c, tok) })
			t.Run("composer", func(t *testing.T) { c.t = t; exerciseComposerAPI(c, k, tok) })
			t.Run("buf", func(t *testing.T) { c.t = t; exerciseBufAPI(c, k, tok) })
			c.t = t
			c.requireAllExercised()
		})
	}
}

func exerciseKernelAPI(c *apiClient, tok apiTokens) {
	t := c.t
	var who map[string]any
	c.json("GET", "/api/v1/whoami", tok.acmeRead, 200, nil, &who)
	require.Equal(t, "acme-bot", who["user"])
	c.do("GET", "/api/v1/whoami", "", 401, nil)
	c.do("GET", "/api/v1/openapi.json", "", 200, nil)

	// Organizations: each token sees what it may read.
	names := func(token string) []string {
		var all []string
		q := "/api/v1/orgs?page_size=1"
		for {
			var p page[map[string]any]
			c.json("GET", q, token, 200, nil, &p)
			require.LessOrEqual(t, len(p.Items), 1)
			for _, o := range p.Items {
				all = append(all, o["name"].(string))
			}
			if p.NextPageToken == "" {
				return all
			}
			q = "/api/v1/orgs?page_size=1&page_token=" + p.NextPageToken
		}
	}
	require.Equal(t, []string{"pub"}, names(""))
	require.Equal(t, []string{"acme", "pub"}, names(tok.acmeRead))
	require.Equal(t, []string{"acme", "other", "pub"}, names(tok.site))
	c.do("GET", "/api/v1/orgs?page_size=0", tok.site, 400, nil)
	c.do("GET", "/api/v1/orgs?page_token=zzz", tok.site, 400, nil)

	c.do("POST", "/api/v1/orgs", "", 401, map[string]any{"name": "beta"})
	c.do("POST", "/api/v1/orgs", tok.acmeAdmin, 403, map[string]any{"name": "beta"})
	c.do("POST", "/api/v1/orgs", tok.site, 201, map[string]any{"name": "beta"})
	c.do("POST", "/api/v1/orgs", tok.site, 409, map[string]any{"name": "beta"})
	c.do("POST", "/api/v1/orgs", tok.site, 400, map[string]any{"name": "Not A Name"})
	c.do("POST", "/api/v1/orgs", tok.site, 400, `{"name": "gamma", "owner": "x"}`)
	c.do("POST", "/api/v1/orgs", tok.site, 400, `{"name": `)

	c.do("GET", "/api/v1/orgs/acme", tok.acmeRead, 200, nil)
	c.do("GET", "/api/v1/orgs/acme", tok.otherAdmin, 404, nil)
	c.do("GET", "/api/v1/orgs/acme", "", 401, nil)
	c.do("GET", "/api/v1/orgs/nope", tok.site, 404, nil)
	c.do("PATCH", "/api/v1/orgs/acme", tok.acmeRead, 403, map[string]any{"public": true})
	c.do("PATCH", "/api/v1/orgs/acme", tok.otherAdmin, 404, map[string]any{"public": true})
	var org map[string]any
	c.json("PATCH", "/api/v1/orgs/acme", tok.acmeAdmin, 200, map[string]any{"public": true}, &org)
	require.Equal(t, true, org["public"])
	c.do("GET", "/api/v1/orgs/acme", "", 200, nil) // public now
	c.do("PATCH", "/api/v1/orgs/acme", tok.acmeAdmin, 200, map[string]any{"public": false})
	c.do("PATCH", "/api/v1/orgs/acme", tok.acmeAdmin, 400, map[string]any{})

	// Users: site administrators only.
	c.do("POST", "/api/v1/users", tok.acmeAdmin, 403, map[string]any{"name": "alice"})
	c.do("POST", "/api/v1/users", "", 401, map[string]any{"name": "alice"})
	var alice map[string]any
	c.json("POST", "/api/v1/users", tok.site, 201, map[string]any{"name": "alice", "email": "alice@example.com"}, &alice)
	require.Equal(t, "alice@example.com", alice["email"])
	c.do("POST", "/api/v1/users", tok.site, 409, map[string]any{"name": "alice"})
	c.do("GET", "/api/v1/users", tok.acmeAdmin, 403, nil)
	var users page[map[string]any]
	c.json("GET", "/api/v1/users", tok.site, 200, nil, &users)
	require.GreaterOrEqual(t, len(users.Items), 3)
	c.do("PATCH", "/api/v1/users/alice", tok.site, 200, map[string]any{"email": ""})
	c.do("PATCH", "/api/v1/users/alice", tok.acmeAdmin, 403, map[string]any{"email": "a@example.com"})
	c.do("PATCH", "/api/v1/users/nobody", tok.site, 404, map[string]any{"email": "a@example.com"})

	// Members: an organization's admins change them, its readers read them.
	c.do("PUT", "/api/v1/orgs/acme/members/alice", tok.acmeWrite, 403, map[string]any{"role": "write"})
	c.do("PUT", "/api/v1/orgs/acme/members/alice", tok.otherAdmin, 404, map[string]any{"role": "write"})
	c.do("PUT", "/api/v1/orgs/acme/members/alice", tok.acmeAdmin, 400, map[string]any{"role": "owner"})
	c.do("PUT", "/api/v1/orgs/acme/members/alice", tok.acmeAdmin, 200, map[string]any{"role": "write"})
	c.do("PUT", "/api/v1/orgs/acme/members/nobody", tok.acmeAdmin, 404, map[string]any{"role": "write"})
	var members page[map[string]string]
	c.json("GET", "/api/v1/orgs/acme/members", tok.acmeRead, 200, nil, &members)
	require.Contains(t, members.Items, map[string]string{"user": "alice", "role": "write"})
	c.do("GET", "/api/v1/orgs/acme/members", tok.otherAdmin, 404, nil)

	// Tokens: the secret once; listed never.
	var created map[string]any
	c.json("POST", "/api/v1/orgs/acme/tokens", tok.acmeAdmin, 201,
		map[string]any{"scope": "read", "user": "alice", "name": "ci", "expires": "1d"}, &created)
	secret := created["token"].(string)
	c.json("GET", "/api/v1/whoami", secret, 200, nil, &who)
	require.Equal(t, "alice", who["user"])
	c.do("POST", "/api/v1/orgs/acme/tokens", tok.acmeAdmin, 409, map[string]any{"scope": "admin", "user": "alice"})
	c.do("POST", "/api/v1/orgs/acme/tokens", tok.acmeAdmin, 403, map[string]any{"scope": "read", "user": "root"})
	c.do("POST", "/api/v1/orgs/acme/tokens", tok.acmeWrite, 403, map[string]any{"scope": "read"})
	c.do("POST", "/api/v1/orgs/acme/tokens", tok.acmeAdmin, 400, map[string]any{"scope": "read", "expires": "soon"})
	c.do("POST", "/api/v1/orgs/acme/tokens", tok.acmeAdmin, 201, map[string]any{"scope": "write"})
	listed := c.do("GET", "/api/v1/orgs/acme/tokens?page_size=500", tok.acmeAdmin, 200, nil)
	require.NotContains(t, string(listed), secret)
	require.Contains(t, string(listed), created["id"].(string))
	c.do("GET", "/api/v1/orgs/acme/tokens", tok.acmeRead, 403, nil)
	c.do("DELETE", "/api/v1/tokens/"+created["id"].(string), tok.otherAdmin, 404, nil)
	c.do("DELETE", "/api/v1/tokens/"+created["id"].(string), tok.acmeRead, 403, nil)
	c.do("DELETE", "/api/v1/tokens/"+created["id"].(string), tok.acmeAdmin, 204, nil)
	c.do("DELETE", "/api/v1/tokens/0123456789abcdef", tok.acmeAdmin, 404, nil)
	require.Eventually(t, func() bool {
		res, err := c.k.Client.Do(bearer(c.k.URL+"/api/v1/whoami", secret))
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode == http.StatusUnauthorized
	}, 10*time.Second, 50*time.Millisecond, "a revoked token stops working")

	c.do("DELETE", "/api/v1/orgs/acme/members/alice", tok.acmeRead, 403, nil)
	c.do("DELETE", "/api/v1/orgs/acme/members/alice", tok.acmeAdmin, 204, nil)
	c.do("DELETE", "/api/v1/users/alice", tok.acmeAdmin, 403, nil)
	c.do("DELETE", "/api/v1/users/alice", tok.site, 204, nil)
	c.do("DELETE", "/api/v1/users/alice", tok.site, 404, nil)
	c.do("DELETE", "/api/v1/orgs/beta", tok.acmeAdmin, 404, nil)
	c.do("DELETE", "/api/v1/orgs/beta", tok.site, 204, nil)

	// Audit and token exchange, as before, in the API's error shape.
	c.do("GET", "/api/v1/audit?org=acme", tok.acmeAdmin, 200, nil)
	c.do("GET", "/api/v1/audit?org=acme", tok.acmeRead, 403, nil)
	c.do("GET", "/api/v1/audit?since=1h", tok.site, 200, nil)
	c.do("GET", "/api/v1/audit?since=yesterday", tok.site, 400, nil)
	c.do("GET", "/api/v1/audit", "", 401, nil)
	c.do("GET", "/api/v1/audit/export?org=acme", tok.acmeAdmin, 200, nil)
	c.do("GET", "/api/v1/audit/export?org=other", tok.acmeAdmin, 404, nil)
	c.do("POST", "/api/v1/token/exchange", "", 409, map[string]any{"token": "a.b.c"})

	// An unknown route answers in the API's shape too.
	res, err := c.k.Client.Do(bearer(c.k.URL+"/api/v1/nothing-here", tok.site))
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.True(t, strings.Contains(string(body), `"code":"not_found"`), string(body))
}

func bearer(url, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
