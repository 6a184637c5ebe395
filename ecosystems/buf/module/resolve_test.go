package module

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func pm(name string, imports map[string][]string) PushedModule {
	return PushedModule{Name: "acme/" + name, ID: "id-" + name, Imports: imports}
}

func TestResolveDeps(t *testing.T) {
	base := DepCommit{CommitID: "c-base", ModuleID: "id-base", Name: "acme/base", Paths: []string{"base/base.proto"}}
	other := DepCommit{CommitID: "c-other", ModuleID: "id-other", Name: "acme/other", Paths: []string{"other/o.proto"}}

	t.Run("per module deps, not the request-wide list", func(t *testing.T) {
		// common imports base; svc imports common (pushed together) but
		// not base; lonely imports nothing; other is offered but unused.
		pushed := []PushedModule{
			pm("svc", map[string][]string{"svc/svc.proto": {"common/c.proto", "google/protobuf/timestamp.proto"}}),
			pm("common", map[string][]string{"common/c.proto": {"base/base.proto"}}),
			pm("lonely", map[string][]string{"lonely/l.proto": nil}),
		}
		res, err := ResolveDeps(pushed, []DepCommit{base, other})
		require.NoError(t, err)
		require.Equal(t, []Target{{Pushed: 1}}, res.Direct[0])
		require.Equal(t, []Target{{Pushed: -1, CommitID: "c-base"}}, res.Direct[1])
		require.Empty(t, res.Direct[2])
		pos := map[int]int{}
		for i, m := range res.Order {
			pos[m] = i
		}
		require.Less(t, pos[1], pos[0], "common must come before svc")
	})

	t.Run("imports within the module are not deps", func(t *testing.T) {
		res, err := ResolveDeps([]PushedModule{pm("a", map[string][]string{"a/x.proto": {"a/y.proto"}, "a/y.proto": nil})}, nil)
		require.NoError(t, err)
		require.Empty(t, res.Direct[0])
	})

	t.Run("diamond", func(t *testing.T) {
		pushed := []PushedModule{
			pm("top", map[string][]string{"top.proto": {"left.proto", "right.proto"}}),
			pm("left", map[string][]string{"left.proto": {"base/base.proto"}}),
			pm("right", map[string][]string{"right.proto": {"base/base.proto"}}),
		}
		res, err := ResolveDeps(pushed, []DepCommit{base})
		require.NoError(t, err)
		require.Equal(t, []Target{{Pushed: 1}, {Pushed: 2}}, res.Direct[0])
		require.Equal(t, []Target{{Pushed: -1, CommitID: "c-base"}}, res.Direct[1])
		require.Equal(t, []Target{{Pushed: -1, CommitID: "c-base"}}, res.Direct[2])
		require.Equal(t, 0, res.Order[2])
	})

	tests := []struct {
		name    string
		pushed  []PushedModule
		deps    []DepCommit
		wantErr string
		cat     error
	}{
		{
			name:    "unknown import",
			pushed:  []PushedModule{pm("a", map[string][]string{"a.proto": {"missing.proto"}})},
			wantErr: "missing.proto", cat: errs.ErrFailedPrecondition,
		},
		{
			name: "module cycle",
			pushed: []PushedModule{
				pm("d", map[string][]string{"d.proto": nil}),
				pm("a", map[string][]string{"a1.proto": {"b.proto"}, "a2.proto": nil}),
				pm("b", map[string][]string{"b.proto": {"c.proto"}}),
				pm("c", map[string][]string{"c.proto": {"a2.proto"}}),
			},
			wantErr: "cycle: acme/a -> acme/b -> acme/c -> acme/a", cat: errs.ErrFailedPrecondition,
		},
		{
			name:    "file cycle inside a module",
			pushed:  []PushedModule{pm("a", map[string][]string{"x.proto": {"y.proto"}, "y.proto": {"x.proto"}})},
			wantErr: "import cycle", cat: errs.ErrFailedPrecondition,
		},
		{
			name:    "path in two modules",
			pushed:  []PushedModule{pm("a", map[string][]string{"base/base.proto": nil})},
			deps:    []DepCommit{base},
			wantErr: "in both", cat: errs.ErrInvalidArgument,
		},
		{
			name:    "module pushed and a dependency",
			pushed:  []PushedModule{pm("base", map[string][]string{"b.proto": nil})},
			deps:    []DepCommit{base},
			wantErr: "both pushed and a dependency", cat: errs.ErrInvalidArgument,
		},
		{
			name:    "two commits of one dependency",
			pushed:  []PushedModule{pm("a", map[string][]string{"a.proto": nil})},
			deps:    []DepCommit{base, {CommitID: "c-base2", ModuleID: "id-base", Name: "acme/base"}},
			wantErr: "two commits", cat: errs.ErrInvalidArgument,
		},
		{
			name:    "well-known types need no module",
			pushed:  []PushedModule{pm("a", map[string][]string{"a.proto": {"google/protobuf/any.proto", "google/protobuf/descriptor.proto"}})},
			wantErr: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveDeps(tt.pushed, tt.deps)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorIs(t, err, tt.cat)
		})
	}
}

func TestResolveGraph(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	info := map[string]CommitNode{
		"b1":    {ID: "b1", ModuleID: "base", CreatedAt: t0},
		"b2":    {ID: "b2", ModuleID: "base", CreatedAt: t0.Add(time.Hour)},
		"left":  {ID: "left", ModuleID: "left", CreatedAt: t0.Add(time.Minute)},
		"right": {ID: "right", ModuleID: "right", CreatedAt: t0.Add(2 * time.Hour)},
		"top":   {ID: "top", ModuleID: "top", CreatedAt: t0.Add(3 * time.Hour)},
	}
	// left was pushed against base b1, right against b2, top against left,
	// right and b2 (its workspace's choice).
	direct := map[string][]string{"left": {"b1"}, "right": {"b2"}, "top": {"left", "right"}}
	closure := map[string][]string{"left": {"b1"}, "right": {"b2"}, "top": {"b2", "left", "right"}}

	tests := []struct {
		name      string
		roots     []string
		wantNodes []string
		wantEdges map[string][]string
	}{
		{
			name: "one root is exactly its own closure", roots: []string{"left"},
			wantNodes: []string{"left", "b1"}, wantEdges: map[string][]string{"left": {"b1"}, "b1": nil},
		},
		{
			name: "a root's closure decides versions for its nodes", roots: []string{"top"},
			wantNodes: []string{"top", "b2", "left", "right"},
			wantEdges: map[string][]string{"top": {"left", "right"}, "left": {"b2"}, "right": {"b2"}, "b2": nil},
		},
		{
			name: "diamond over two roots: the newest commit of a module wins", roots: []string{"left", "right"},
			wantNodes: []string{"left", "right", "b2"},
			wantEdges: map[string][]string{"left": {"b2"}, "right": {"b2"}, "b2": nil},
		},
		{
			name: "a requested commit wins over newer ones", roots: []string{"right", "b1"},
			wantNodes: []string{"right", "b1"},
			wantEdges: map[string][]string{"right": {"b1"}, "b1": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, edges := ResolveGraph(tt.roots, closure, direct, info)
			require.Equal(t, tt.wantNodes, nodes)
			for n, want := range tt.wantEdges {
				require.Equal(t, want, edges[n], "edges of %s", n)
			}
			modules := map[string]bool{}
			for _, n := range nodes {
				require.False(t, modules[info[n].ModuleID], "one commit per module")
				modules[info[n].ModuleID] = true
			}
		})
	}
}
