package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

// registry is a running kernel with the buf registry and its pages.
type registry struct {
	k     *harness.Kernel
	svc   *buf.Service
	admin context.Context // a site administrator's
}

func newRegistry(t *testing.T) *registry {
	t.Helper()
	r := &registry{}
	r.k = harness.NewKernel(t, harness.KernelOptions{Modules: []fx.Option{
		fx.Supply(buf.DefaultConfig()), fx.Provide(buf.New, ecosystem.As(buf.NewEcosystem)),
		fx.Provide(web.AsPages(New)), fx.Populate(&r.svc),
	}})
	ctx := context.Background()
	u, err := r.k.Auth.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	r.admin = access.WithPrincipal(ctx, &access.Principal{UserID: u.ID, UserName: u.Name, SiteAdmin: true, Scope: metadata.RoleAdmin, Method: "test"})
	return r
}

// push creates owner/name (with visibility) if needed and uploads files.
func (r *registry) push(t *testing.T, owner, name string, vis int, files map[string]string, deps ...string) buf.Commit {
	t.Helper()
	_, err := r.svc.CreateModule(r.admin, buf.NewModule{Owner: buf.OwnerRef{Name: owner}, Name: name, Visibility: vis})
	if err != nil {
		require.ErrorContains(t, err, "already exists")
	}
	var up []buf.UploadFile
	for p, s := range files {
		up = append(up, buf.UploadFile{Path: p, Content: []byte(s)})
	}
	cs, err := r.svc.Upload(r.admin, []buf.UploadContent{{Module: buf.ModuleRef{Owner: owner, Name: name}, Files: up}}, deps)
	require.NoError(t, err)
	return cs[0]
}

// get fetches a page with token (or anonymously) and returns its status and body.
func (r *registry) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.k.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := r.k.Client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

const moneyProto = `syntax = "proto3";
package money.v1;
// Money is an amount.
message Money { int64 units = 1; }
`

const petProto = `syntax = "proto3";
package pet.v1;
import "money/v1/money.proto";
// Pet is an animal <script>alert("pet")</script>.
message Pet {
  // The price of the <b>pet</b>.
  money.v1.Money price = 1;
  Kind kind = 2;
}
enum Kind { KIND_UNSPECIFIED = 0; }
service PetService {
  // GetPet finds a pet.
  rpc GetPet(Pet) returns (Pet);
}
`

func TestModulePages(t *testing.T) {
	r := newRegistry(t)
	r.k.Org("acme", true)
	r.k.Org("secret", false)
	member := r.k.Token("secret", metadata.RoleRead)
	money := r.push(t, "secret", "money", buf.VisibilityPrivate, map[string]string{"money/v1/money.proto": moneyProto})
	pet := r.push(t, "acme", "pet", buf.VisibilityPublic, map[string]string{
		"pet/v1/pet.proto": petProto, "README.md": "# Pets <img src=x onerror=alert(1)>", "pet/v1/extra/x.proto": "syntax = \"proto3\";\npackage pet.v1.extra;\n"}, money.ID)

	t.Run("module page", func(t *testing.T) {
		code, body := r.get(t, "/acme/modules/pet", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, "<h1>acme/pet</h1>")
		require.Contains(t, body, "deps: [127.0.0.1:")
		require.Contains(t, body, "/acme/pet]")
		require.Contains(t, body, pet.ID, "the default label's commit")
		require.Contains(t, body, "1 dependency is in modules you may not see")
		require.NotContains(t, body, "secret/money", "a private dependency is not named")
	})

	t.Run("private modules", func(t *testing.T) {
		code, body := r.get(t, "/secret/modules/money", "")
		require.Equal(t, http.StatusUnauthorized, code)
		require.NotContains(t, body, "Money is an amount")
		code, _ = r.get(t, "/secret/modules/money/docs", "")
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = r.get(t, "/secret/modules/money/files/money/v1/money.proto", "")
		require.Equal(t, http.StatusUnauthorized, code)
		code, body = r.get(t, "/secret/modules/money", member)
		require.Equal(t, http.StatusOK, code, body)
	})

	t.Run("files", func(t *testing.T) {
		code, body := r.get(t, "/acme/modules/pet/files", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `href="/acme/modules/pet/files/pet"`)
		require.Contains(t, body, `href="/acme/modules/pet/files/README.md"`)
		code, body = r.get(t, "/acme/modules/pet/files/pet/v1", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `href="/acme/modules/pet/files/pet/v1/extra"`)
		require.Contains(t, body, `href="/acme/modules/pet/files/pet/v1/pet.proto"`)
		code, body = r.get(t, "/acme/modules/pet/files/README.md?ref="+pet.ID, "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, "# Pets &lt;img src=x onerror=alert(1)&gt;")
		code, body = r.get(t, "/acme/modules/pet/files/pet/v1/pet.proto", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `data-testid="source"`)
		require.Contains(t, body, "&lt;script&gt;")
		require.NotContains(t, body, "<script>alert")
		code, _ = r.get(t, "/acme/modules/pet/files/nope.proto", "")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = r.get(t, "/acme/modules/pet/files/pet/%2E%2E/README.md", "")
		require.NotEqual(t, http.StatusOK, code)
		code, _ = r.get(t, "/acme/modules/pet/files?ref="+strings.Repeat("x", 300), "")
		require.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("commits", func(t *testing.T) {
		code, body := r.get(t, "/acme/modules/pet/commits", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, "b5:"+pet.B5)
		require.Contains(t, body, `<span class="badge">main</span>`)
		code, _ = r.get(t, "/acme/modules/pet/commits?page=0", "")
		require.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("docs", func(t *testing.T) {
		code, body := r.get(t, "/acme/modules/pet/docs", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `Pet is an animal &lt;script&gt;alert(&#34;pet&#34;)&lt;/script&gt;.`, "comments are text")
		require.NotContains(t, body, `<script>alert`)
		require.Contains(t, body, "The price of the &lt;b&gt;pet&lt;/b&gt;.")
		require.Contains(t, body, `id="pet.v1.Pet"`)
		require.Contains(t, body, `<a href="#pet.v1.Kind">pet.v1.Kind</a>`, "own types link to their anchor")
		require.Contains(t, body, `id="pet.v1.PetService.GetPet"`)
		require.Contains(t, body, "money.v1.Money", "the dependency's type is named")
		require.NotContains(t, body, "/secret/modules/money/docs", "but not linked for a viewer who may not see it")

		code, body = r.get(t, "/acme/modules/pet/docs", member)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `<a href="/secret/modules/money/docs?ref=`+money.ID+`#money.v1.Money">money.v1.Money</a>`)
		code, body = r.get(t, "/secret/modules/money/docs?ref="+money.ID, member)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `id="money.v1.Money"`, "the link resolves")
	})

	t.Run("organization list and counts", func(t *testing.T) {
		p, err := New(r.svc)
		require.NoError(t, err)
		l, err := p.List(context.Background(), nil, "acme", web.ListQuery{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 1, l.Total)
		require.Equal(t, web.Item{Name: "pet", URL: "/acme/modules/pet", Detail: "public"}, l.Items[0])
		l, err = p.List(context.Background(), nil, "acme", web.ListQuery{Search: "zzz", Limit: 10})
		require.NoError(t, err)
		require.Zero(t, l.Total)
		n, err := p.Count(context.Background(), []string{"acme", "secret"})
		require.NoError(t, err)
		require.Equal(t, map[string]int{"acme": 1, "secret": 0}, n, "anonymous callers count public modules")
		n, err = p.Count(r.admin, []string{"secret"})
		require.NoError(t, err)
		require.Equal(t, map[string]int{"secret": 1}, n)
	})
}
