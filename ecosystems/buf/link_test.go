package buf

import (
	"context"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

// testLink pushes modules whose files parse one by one but do not link, and
// modules whose imports resolve through dependencies and the well-known
// types, through the Connect API on a real database and CAS.
func testLink(t *testing.T, dialect string) {
	e := newEnv(t, dialect, DefaultConfig())
	ctx := context.Background()
	c := e.clients(e.org("acme", false, metadata.RoleWrite))
	for _, m := range []string{"dep", "mid", "top", "bad", "pair", "pairdep"} {
		c.create(t, "acme", m, modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	}
	noCommits := func(module string) {
		t.Helper()
		_, err := c.commit.GetCommits(ctx, connect.NewRequest(modulev1.GetCommitsRequest_builder{
			ResourceRefs: []*modulev1.ResourceRef{resRef("acme", module, "")}}.Build()))
		require.Equal(t, connect.CodeFailedPrecondition, code(err), "%s has no commits: %v", module, err)
	}

	// The well-known types import fine.
	dep, err := c.push(ctx, nil, content{owner: "acme", name: "dep", files: map[string]string{
		"dep/v1/dep.proto": "syntax = \"proto3\";\npackage dep.v1;\nimport \"google/protobuf/timestamp.proto\";\n" +
			"message Dep { google.protobuf.Timestamp at = 1; }\n",
	}})
	require.NoError(t, err)

	// A file that exists only in a dependency (read back from the CAS), and
	// one reached only through that dependency's own dependency.
	mid, err := c.push(ctx, []string{dep[0].GetId()}, content{owner: "acme", name: "mid", files: map[string]string{
		"mid/v1/mid.proto": "syntax = \"proto3\";\npackage mid.v1;\nimport \"dep/v1/dep.proto\";\nmessage Mid { dep.v1.Dep dep = 1; }\n",
	}})
	require.NoError(t, err)
	_, err = c.push(ctx, []string{mid[0].GetId()}, content{owner: "acme", name: "top", files: map[string]string{
		"top.proto": "syntax = \"proto3\";\npackage top;\nimport \"mid/v1/mid.proto\";\nmessage Top { mid.v1.Mid mid = 1; }\n",
	}})
	require.NoError(t, err, "mid.proto's own import of dep.proto resolves through mid's dependencies")

	// Two modules pushed together: one uses the other's type.
	_, err = c.push(ctx, nil,
		content{owner: "acme", name: "pair", files: map[string]string{
			"pair.proto": "syntax = \"proto3\";\npackage pair;\nimport \"pairdep.proto\";\nmessage Pair { pairdep.P p = 1; }\n"}},
		content{owner: "acme", name: "pairdep", files: map[string]string{"pairdep.proto": "syntax = \"proto3\";\npackage pairdep;\nmessage P {}\n",
			"empty.proto": ""}},
	)
	require.NoError(t, err)

	before := e.countRows(t)
	for _, tc := range []struct {
		name  string
		deps  []string
		files map[string]string
		code  connect.Code
		want  []string
	}{
		{
			name:  "unknown type",
			files: map[string]string{"a/a.proto": "syntax = \"proto3\";\npackage a;\nmessage A { Missing m = 1; }\n"},
			code:  connect.CodeInvalidArgument,
			want:  []string{"a/a.proto:3:13", "Missing"},
		},
		{
			name: "type of a dependency that is not imported",
			deps: []string{dep[0].GetId()},
			files: map[string]string{
				"a.proto": "syntax = \"proto3\";\npackage a;\nimport \"google/protobuf/empty.proto\";\nmessage A { dep.v1.Dep d = 1; }\n"},
			code: connect.CodeInvalidArgument,
			want: []string{"a.proto:4:", "dep.v1.Dep"},
		},
		{
			name:  "wrong type name in a dependency",
			deps:  []string{dep[0].GetId()},
			files: map[string]string{"a.proto": "syntax = \"proto3\";\npackage a;\nimport \"dep/v1/dep.proto\";\nmessage A { dep.v1.Nope d = 1; }\n"},
			code:  connect.CodeInvalidArgument,
			want:  []string{"a.proto:4:", "dep.v1.Nope"},
		},
		{
			name: "duplicate symbol across two files",
			files: map[string]string{
				"x.proto": "syntax = \"proto3\";\npackage dup;\nmessage Same {}\n",
				"y.proto": "syntax = \"proto3\";\npackage dup;\nmessage Same {}\n",
			},
			code: connect.CodeInvalidArgument,
			want: []string{"dup.Same", "already defined"},
		},
		{
			// Caught while resolving dependencies, before linking.
			name:  "import of a file in no dependency",
			deps:  []string{dep[0].GetId()},
			files: map[string]string{"a.proto": "syntax = \"proto3\";\npackage a;\nimport \"nowhere/n.proto\";\nmessage A {}\n"},
			code:  connect.CodeFailedPrecondition,
			want:  []string{"a.proto", "nowhere/n.proto"},
		},
		{
			name:  "missing well-known type",
			files: map[string]string{"a.proto": "syntax = \"proto3\";\npackage a;\nimport \"google/protobuf/timestamp.proto\";\nmessage A { google.protobuf.Instant at = 1; }\n"},
			code:  connect.CodeInvalidArgument,
			want:  []string{"a.proto:4:", "google.protobuf.Instant"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.push(ctx, tc.deps, content{owner: "acme", name: "bad", files: tc.files})
			require.Equal(t, tc.code, code(err), "%v", err)
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, before, e.countRows(t), "nothing stored")
			noCommits("bad")
		})
	}

	// A bad module pushed together with a good one: neither is stored.
	_, err = c.push(ctx, []string{dep[0].GetId()},
		content{owner: "acme", name: "bad", files: map[string]string{"ok.proto": "syntax = \"proto3\";\npackage ok;\nimport \"dep/v1/dep.proto\";\nmessage Ok { dep.v1.Dep d = 1; }\n"}},
		content{owner: "acme", name: "pair", files: map[string]string{"pair2.proto": "syntax = \"proto3\";\npackage pair;\nmessage Pair { Unknown u = 1; }\n"}},
	)
	require.Equal(t, connect.CodeInvalidArgument, code(err), "%v", err)
	require.Contains(t, err.Error(), "pair2.proto:3:")
	require.Equal(t, before, e.countRows(t), "nothing stored")
	noCommits("bad")
}

func TestLinkSQLite(t *testing.T)   { testLink(t, "sqlite") }
func TestLinkPostgres(t *testing.T) { testLink(t, "postgres") }

// BenchmarkLink1000Files is the check an upload of a module of 1,000 files
// adds: parsing them again and linking them.
func BenchmarkLink1000Files(b *testing.B) {
	files, _ := bigModule(1000, "0")
	p := &prepared{}
	for path, src := range files {
		p.files = append(p.files, UploadFile{Path: path, Content: []byte(src)})
	}
	s := &Service{}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, s.linkModule(ctx, s.newLinkCache(), []*prepared{p}, 0, nil, nil))
	}
}
