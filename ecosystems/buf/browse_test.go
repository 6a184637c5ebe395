package buf

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/ecosystems/buf/protodoc"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// member is ctx with a principal of a token of org with scope.
func (e *env) member(ctx context.Context, org string, scope metadata.Role) context.Context {
	e.t.Helper()
	_, tok, err := e.admin.CreateToken(ctx, auth.CreateTokenRequest{Org: org, Scope: scope})
	require.NoError(e.t, err)
	return access.WithPrincipal(ctx, &access.Principal{UserID: tok.UserID, OrgID: tok.OrgID, Scope: scope, TokenID: tok.ID, Method: "token"})
}

const browseMoney = `syntax = "proto3";
package money.v1;
// Money is an amount of a currency.
message Money { int64 units = 1; }
`

const browsePet = `syntax = "proto3";
package pet.v1;
import "money/v1/money.proto";
// Pet is an animal <script>alert(1)</script>.
message Pet {
  // The price of the pet.
  money.v1.Money price = 1;
}
`

func testBrowse(t *testing.T, dialect string) {
	e := newEnv(t, dialect, DefaultConfig())
	ctx := context.Background()
	admin := e.clients(e.org("acme", true, metadata.RoleAdmin))
	mem := e.member(ctx, "acme", metadata.RoleRead)
	admin.create(t, "acme", "money", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	admin.create(t, "acme", "pet", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	admin.create(t, "acme", "petshop", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	money, err := admin.push(ctx, nil, content{owner: "acme", name: "money", files: map[string]string{"money/v1/money.proto": browseMoney}})
	require.NoError(t, err)
	pet1, err := admin.push(ctx, []string{money[0].GetId()}, content{owner: "acme", name: "pet", labels: []string{"main", "v1"},
		files: map[string]string{"pet/v1/pet.proto": browsePet, "README.md": strings.Repeat("x", 100)}})
	require.NoError(t, err)
	pet2, err := admin.push(ctx, []string{money[0].GetId()}, content{owner: "acme", name: "pet", labels: []string{"main", "beta"},
		files: map[string]string{"pet/v1/pet.proto": browsePet + "// more\n"}})
	require.NoError(t, err)

	t.Run("owner modules", func(t *testing.T) {
		mods, n, err := e.svc.OwnerModules(ctx, "acme", "", Page{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 2, n, "anonymous callers count public modules only")
		require.Equal(t, []string{"acme/pet", "acme/petshop"}, []string{mods[0].FullName(), mods[1].FullName()})
		_, n, err = e.svc.OwnerModules(mem, "acme", "", Page{})
		require.NoError(t, err)
		require.Equal(t, 3, n, "members count every module")
		mods, n, err = e.svc.OwnerModules(mem, "acme", "SHOP", Page{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, "petshop", mods[0].Name)
		mods, n, err = e.svc.OwnerModules(mem, "acme", "", Page{Offset: 1, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		require.Equal(t, "pet", mods[0].Name)
		_, _, err = e.svc.OwnerModules(ctx, "nobody", "", Page{Limit: 1})
		require.True(t, hidden(err), "%v", err)
	})

	t.Run("private modules stay private", func(t *testing.T) {
		_, err := e.svc.Browse(ctx, "acme", "money", "")
		require.ErrorIs(t, err, errs.ErrUnauthenticated)
		_, err = e.svc.Browse(ctx, "acme", "nope", "")
		require.ErrorIs(t, err, errs.ErrUnauthenticated)
		_, err = e.svc.Browse(ctx, "acme", "pet", "nolabel")
		require.ErrorIs(t, err, errs.ErrNotFound)
		_, _, err = e.svc.Labels(ctx, View{}, Page{Limit: 1})
		require.Error(t, err, "a View not made by Browse is refused")
	})

	t.Run("labels and commits", func(t *testing.T) {
		v, err := e.svc.Browse(ctx, "acme", "pet", "")
		require.NoError(t, err)
		require.Equal(t, pet2[0].GetId(), v.Commit.ID)
		require.Equal(t, "main", v.Label)
		labels, n, err := e.svc.Labels(ctx, v, Page{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		var names []string
		for _, l := range labels {
			names = append(names, l.Label.Name+"="+l.Commit.ID)
		}
		require.Equal(t, []string{"main=" + pet2[0].GetId(), "beta=" + pet2[0].GetId(), "v1=" + pet1[0].GetId()}, names, "the default label first")
		commits, n, err := e.svc.Commits(ctx, v, Page{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Len(t, commits, 2)
		require.Equal(t, CommitLabels{Commit: commits[0].Commit, Labels: []string{"beta", "main"}}, commits[0])
		require.Equal(t, pet1[0].GetId(), commits[1].Commit.ID)
		require.Equal(t, []string{"v1"}, commits[1].Labels)
		require.NotEmpty(t, commits[0].Commit.B5)
		second, n, err := e.svc.Commits(ctx, v, Page{Offset: 1, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, commits[1:], second)
		first, _, err := e.svc.Labels(ctx, v, Page{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, labels[:2], first)
		later, n, err := e.svc.Labels(ctx, v, Page{Offset: 2, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		require.Len(t, later, 1, "the default label is not repeated on later pages")
		require.Equal(t, "v1", later[0].Label.Name)

		old, err := e.svc.Browse(ctx, "acme", "pet", "v1")
		require.NoError(t, err)
		require.Equal(t, pet1[0].GetId(), old.Commit.ID)
		byID, err := e.svc.Browse(ctx, "acme", "pet", pet1[0].GetId())
		require.NoError(t, err)
		require.Equal(t, pet1[0].GetId(), byID.Commit.ID)
		require.Empty(t, byID.Label)

		empty, err := e.svc.Browse(ctx, "acme", "petshop", "")
		require.NoError(t, err)
		require.False(t, empty.HasCommit, "a module without commits can be browsed")
		files, err := e.svc.Files(ctx, empty)
		require.NoError(t, err)
		require.Empty(t, files)
	})

	t.Run("files", func(t *testing.T) {
		v, err := e.svc.Browse(ctx, "acme", "pet", "v1")
		require.NoError(t, err)
		files, err := e.svc.Files(ctx, v)
		require.NoError(t, err)
		require.Equal(t, "README.md", files[0].Path)
		require.Equal(t, int64(100), files[0].Size)
		f, err := e.svc.ReadFile(ctx, v, "pet/v1/pet.proto", 1<<20)
		require.NoError(t, err)
		require.Equal(t, browsePet, string(f.Content))
		require.False(t, f.Truncated)
		f, err = e.svc.ReadFile(ctx, v, "README.md", 10)
		require.NoError(t, err)
		require.Equal(t, strings.Repeat("x", 10), string(f.Content))
		require.True(t, f.Truncated)
		_, err = e.svc.ReadFile(ctx, v, "missing.proto", 10)
		require.ErrorIs(t, err, errs.ErrNotFound)
	})

	t.Run("deps", func(t *testing.T) {
		v, err := e.svc.Browse(ctx, "acme", "pet", "")
		require.NoError(t, err)
		deps, unseen, err := e.svc.Deps(ctx, v)
		require.NoError(t, err)
		require.Empty(t, deps, "a private dependency is not named to anonymous callers")
		require.Equal(t, 1, unseen)
		v, err = e.svc.Browse(mem, "acme", "pet", "")
		require.NoError(t, err)
		deps, unseen, err = e.svc.Deps(mem, v)
		require.NoError(t, err)
		require.Zero(t, unseen)
		require.Len(t, deps, 1)
		require.Equal(t, "acme/money", deps[0].Module.FullName())
		require.Equal(t, money[0].GetId(), deps[0].Commit.ID)
		require.True(t, deps[0].Direct)
	})

	t.Run("docs", func(t *testing.T) {
		v, err := e.svc.Browse(ctx, "acme", "pet", "")
		require.NoError(t, err)
		docs, err := e.svc.Docs(ctx, v)
		require.NoError(t, err)
		require.Len(t, docs.Packages, 1)
		pet := docs.Packages[0].Messages[0]
		require.Equal(t, "Pet is an animal <script>alert(1)</script>.", pet.Comment)
		require.Equal(t, protodoc.TypeRef{Name: "money.v1.Money", FullName: "money.v1.Money", File: "money/v1/money.proto", Origin: money[0].GetId()}, pet.Fields[0].Type)

		// Made once per commit: the cache holds it.
		b, err := e.k.Cache.Get(ctx, docsCacheKey+v.Commit.ID)
		require.NoError(t, err)
		var cached protodoc.Docs
		require.NoError(t, json.Unmarshal(b, &cached))
		require.Equal(t, docs, cached)
		again, err := e.svc.Docs(ctx, v)
		require.NoError(t, err)
		require.Equal(t, docs, again)
	})
}

func TestBrowseSQLite(t *testing.T)   { testBrowse(t, "sqlite") }
func TestBrowsePostgres(t *testing.T) { testBrowse(t, "postgres") }
