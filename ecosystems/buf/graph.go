package buf

import (
	"context"
	"sort"
)

// Graph is a set of commits and their direct dependency edges.
type Graph struct {
	Nodes []string            // commit ids, roots first, then breadth-first
	Edges map[string][]string // commit id -> its direct dependencies (sorted)
}

// DepsFunc returns the direct dependencies of each of ids.
type DepsFunc func(ctx context.Context, ids []string) (map[string][]string, error)

// LoadGraph collects every commit reachable from roots through deps,
// loading one breadth-first level per call.
func LoadGraph(ctx context.Context, roots []string, deps DepsFunc) (Graph, error) {
	g := Graph{Edges: map[string][]string{}}
	seen := map[string]bool{}
	var frontier []string
	for _, r := range roots {
		if !seen[r] {
			seen[r] = true
			g.Nodes = append(g.Nodes, r)
			frontier = append(frontier, r)
		}
	}
	for len(frontier) > 0 {
		level, err := deps(ctx, frontier)
		if err != nil {
			return Graph{}, err
		}
		var next []string
		for _, id := range frontier {
			ds := append([]string(nil), level[id]...)
			sort.Strings(ds)
			g.Edges[id] = ds
			for _, d := range ds {
				if !seen[d] {
					seen[d] = true
					g.Nodes = append(g.Nodes, d)
					next = append(next, d)
				}
			}
		}
		frontier = next
	}
	return g, nil
}

// Reachable returns every commit reachable from id (excluding id), sorted.
func (g Graph) Reachable(id string) []string {
	seen := map[string]bool{id: true}
	stack := append([]string(nil), g.Edges[id]...)
	var out []string
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
		stack = append(stack, g.Edges[n]...)
	}
	sort.Strings(out)
	return out
}
