package module

import (
	"sort"
	"time"
)

// CommitNode is what graph resolution needs to know about a commit.
type CommitNode struct {
	ID        string
	ModuleID  string
	CreatedAt time.Time
}

// newer reports whether a is a newer commit than b.
func newer(a, b CommitNode) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// ResolveGraph builds the dependency graph of roots with one commit per
// module, the way a lock file needs it. Candidates are the roots and every
// commit in their closures (the dependencies each root was pushed with).
// A module that is a root keeps that commit; otherwise the newest candidate
// of the module wins. Each node's edges are its direct dependencies, each
// replaced by the chosen commit of its module. With a single root the
// result is exactly the root's closure, so the digests the client
// recomputes from it match the stored ones.
//
// info must describe every root, closure member and direct dependency.
func ResolveGraph(roots []string, closure, direct map[string][]string, info map[string]CommitNode) (nodes []string, edges map[string][]string) {
	chosen := map[string]string{} // module -> commit
	var order []string
	for _, r := range roots {
		m := info[r].ModuleID
		if _, ok := chosen[m]; !ok {
			chosen[m] = r
			order = append(order, m)
		}
	}
	isRootModule := map[string]bool{}
	for m := range chosen {
		isRootModule[m] = true
	}
	var candidates []string
	for _, r := range roots {
		candidates = append(candidates, closure[r]...)
	}
	sort.Strings(candidates)
	for _, c := range candidates {
		n := info[c]
		if isRootModule[n.ModuleID] {
			continue
		}
		cur, ok := chosen[n.ModuleID]
		if !ok {
			order = append(order, n.ModuleID)
		}
		if !ok || newer(n, info[cur]) {
			chosen[n.ModuleID] = c
		}
	}
	seen := map[string]bool{}
	for _, r := range roots {
		if !seen[r] {
			seen[r] = true
			nodes = append(nodes, r)
		}
	}
	for _, m := range order {
		if c := chosen[m]; !seen[c] {
			seen[c] = true
			nodes = append(nodes, c)
		}
	}
	edges = map[string][]string{}
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		var out []string
		for _, d := range direct[n] {
			target := d
			if c, ok := chosen[info[d].ModuleID]; ok {
				target = c
			}
			if !seen[target] {
				// Outside every closure (not expected): keep the graph whole.
				seen[target] = true
				nodes = append(nodes, target)
			}
			out = append(out, target)
		}
		sort.Strings(out)
		edges[n] = dedupe(out)
	}
	return nodes, edges
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// PushGraph is the dependency graph an upload sees while it decides its
// commits: the stored commits its offered dependencies reach, and the
// commits of the upload decided so far. Each module is used at one commit:
// an offered dependency's, or the pushed one once it is decided, the way the
// buf CLI builds its workspace.
type PushGraph struct {
	stored   map[string][]string // stored commit -> its direct dependencies
	moduleOf map[string]string   // stored commit -> its module
	use      map[string]string   // module -> the commit this upload uses
	pushed   map[string][]string // pushed commit -> its direct dependencies
}

// NewPushGraph returns the graph of the stored commits an upload reaches:
// each one's direct dependencies (stored) and module (moduleOf), and the
// commit the upload offers for some modules (use). It takes ownership of
// the maps; nil ones are empty.
func NewPushGraph(stored map[string][]string, moduleOf, use map[string]string) *PushGraph {
	if use == nil {
		use = map[string]string{}
	}
	return &PushGraph{stored: stored, moduleOf: moduleOf, use: use, pushed: map[string][]string{}}
}

// Push records a decided commit of the upload: it depends on direct, and
// it is the commit used for its module from now on.
func (g *PushGraph) Push(commitID, moduleID string, direct []string) {
	g.pushed[commitID] = direct
	g.use[moduleID] = commitID
}

// Closure walks the dependencies reachable from the direct ones, breadth
// first: a pushed commit leads to its recorded direct dependencies, a
// stored one to its stored edges, each replaced by the commit used for its
// module. It returns every commit reached once, in the order reached.
func (g *PushGraph) Closure(direct []string) []string {
	var out []string
	seen := map[string]bool{}
	queue := append([]string(nil), direct...)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
		if ds, ok := g.pushed[n]; ok {
			queue = append(queue, ds...)
			continue
		}
		for _, d := range g.stored[n] {
			if c, ok := g.use[g.moduleOf[d]]; ok {
				d = c
			}
			queue = append(queue, d)
		}
	}
	return out
}
