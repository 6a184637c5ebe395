package buf

import (
	"context"
	"testing"

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

func TestLoadGraph(t *testing.T) {
	// top -> left -> base1, top -> right -> base2 (two commits of one module
	// stay two nodes), and a cycle guard: x -> y -> x.
	edges := map[string][]string{
		"top": {"right", "left"}, "left": {"base1"}, "right": {"base2"},
		"x": {"y"}, "y": {"x"},
	}
	calls := 0
	deps := func(_ context.Context, ids []string) (map[string][]string, error) {
		calls++
		out := map[string][]string{}
		for _, id := range ids {
			out[id] = edges[id]
		}
		return out, nil
	}
	g, err := LoadGraph(context.Background(), []string{"top", "left"}, deps)
	require.NoError(t, err)
	require.Equal(t, []string{"top", "left", "right", "base1", "base2"}, g.Nodes)
	require.Equal(t, 3, calls, "one query per level")
	require.Equal(t, []string{"base1", "base2", "left", "right"}, g.Reachable("top"))
	require.Equal(t, []string{"base1"}, g.Reachable("left"))
	require.Empty(t, g.Reachable("base1"))

	g, err = LoadGraph(context.Background(), []string{"x"}, deps)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, g.Nodes)
	require.Equal(t, []string{"y"}, g.Reachable("x"))
}
