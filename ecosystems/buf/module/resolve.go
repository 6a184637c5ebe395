package module

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// PushedModule is one module of an upload, as the resolver sees it.
type PushedModule struct {
	Name    string              // "owner/module", for messages
	ID      string              // module id
	Imports map[string][]string // each .proto path of the module -> the paths it imports
}

// DepCommit is an existing commit offered as a dependency of an upload.
type DepCommit struct {
	CommitID string
	ModuleID string
	Name     string   // "owner/module", for messages
	Paths    []string // its .proto paths
}

// Target is what a pushed module depends on directly: another pushed module
// (Pushed >= 0) or an existing commit (CommitID).
type Target struct {
	Pushed   int // index into the pushed modules, or -1
	CommitID string
}

// Resolution is the outcome of ResolveDeps.
type Resolution struct {
	// Direct lists each pushed module's direct dependencies, in a stable order.
	Direct [][]Target
	// Order lists the pushed modules so that each comes after its dependencies.
	Order []int
}

type provider struct {
	pushed int // -1 for a dependency commit
	dep    int
}

// ResolveDeps works out each pushed module's own dependencies from the
// imports of its files: an import is provided by the module itself, by
// another module of the same push, or by one of the offered dependency
// commits; imports of well-known types that nobody provides are not
// dependencies. Dependency commits not reached through imports are not
// dependencies. Missing imports, a path provided by two modules, and import
// cycles (between files or between modules) are errors.
func ResolveDeps(pushed []PushedModule, deps []DepCommit) (Resolution, error) {
	owners := map[string]provider{}
	describe := func(p provider) string {
		if p.pushed >= 0 {
			return pushed[p.pushed].Name
		}
		return deps[p.dep].Name + ":" + deps[p.dep].CommitID
	}
	add := func(path string, p provider) error {
		if prev, ok := owners[path]; ok {
			return errs.Invalidf("file %s is in both %s and %s", path, describe(prev), describe(p))
		}
		owners[path] = p
		return nil
	}
	pushedIDs := map[string]int{}
	for i, m := range pushed {
		if j, ok := pushedIDs[m.ID]; ok {
			return Resolution{}, errs.Invalidf("module %s is given twice (%s)", m.Name, pushed[j].Name)
		}
		pushedIDs[m.ID] = i
		for _, p := range slices.Sorted(maps.Keys(m.Imports)) {
			if err := add(p, provider{pushed: i}); err != nil {
				return Resolution{}, err
			}
		}
	}
	depModules := map[string]int{}
	for i, d := range deps {
		if _, ok := pushedIDs[d.ModuleID]; ok {
			return Resolution{}, errs.Invalidf("module %s is both pushed and a dependency (commit %s)", d.Name, d.CommitID)
		}
		if j, ok := depModules[d.ModuleID]; ok && deps[j].CommitID != d.CommitID {
			return Resolution{}, errs.Invalidf("dependencies name two commits of %s: %s and %s", d.Name, deps[j].CommitID, d.CommitID)
		}
		depModules[d.ModuleID] = i
		for _, p := range d.Paths {
			if err := add(p, provider{pushed: -1, dep: i}); err != nil {
				return Resolution{}, err
			}
		}
	}

	res := Resolution{Direct: make([][]Target, len(pushed))}
	for i, m := range pushed {
		seen := map[provider]bool{}
		for _, file := range slices.Sorted(maps.Keys(m.Imports)) {
			for _, imp := range m.Imports[file] {
				p, ok := owners[imp]
				switch {
				case !ok && IsWellKnownType(imp):
					continue
				case !ok:
					return Resolution{}, errs.PreconditionFailedf("%s: %s imports %s, which is neither in the module nor in any of its dependencies", m.Name, file, imp)
				case p.pushed == i || seen[p]:
					continue
				}
				seen[p] = true
				if p.pushed >= 0 {
					res.Direct[i] = append(res.Direct[i], Target{Pushed: p.pushed})
				} else {
					res.Direct[i] = append(res.Direct[i], Target{Pushed: -1, CommitID: deps[p.dep].CommitID})
				}
			}
		}
		sort.Slice(res.Direct[i], func(a, b int) bool {
			x, y := res.Direct[i][a], res.Direct[i][b]
			if x.Pushed != y.Pushed {
				return x.Pushed < y.Pushed
			}
			return x.CommitID < y.CommitID
		})
	}

	if err := checkFileCycles(pushed, owners); err != nil {
		return Resolution{}, err
	}
	order, err := topoOrder(pushed, res.Direct)
	if err != nil {
		return Resolution{}, err
	}
	res.Order = order
	return res, nil
}

// topoOrder orders pushed modules dependencies-first and rejects cycles.
func topoOrder(pushed []PushedModule, direct [][]Target) ([]int, error) {
	const (
		unvisited = iota
		active
		done
	)
	state := make([]int, len(pushed))
	var order []int
	var stack []int
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case active:
			start := 0
			for k, s := range stack {
				if s == i {
					start = k
				}
			}
			names := make([]string, 0, len(stack)-start+1)
			for _, s := range stack[start:] {
				names = append(names, pushed[s].Name)
			}
			names = append(names, pushed[i].Name)
			return errs.PreconditionFailedf("modules depend on each other in a cycle: %s", strings.Join(names, " -> "))
		}
		state[i] = active
		stack = append(stack, i)
		for _, t := range direct[i] {
			if t.Pushed >= 0 {
				if err := visit(t.Pushed); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		order = append(order, i)
		return nil
	}
	for i := range pushed {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// checkFileCycles rejects import cycles between the pushed files (files of
// existing commits cannot import pushed ones).
func checkFileCycles(pushed []PushedModule, owners map[string]provider) error {
	imports := map[string][]string{}
	for _, m := range pushed {
		for f, imps := range m.Imports {
			imports[f] = imps
		}
	}
	state := map[string]int{} // 1 active, 2 done
	var stack []string
	var visit func(f string) error
	visit = func(f string) error {
		switch state[f] {
		case 2:
			return nil
		case 1:
			start := 0
			for k, s := range stack {
				if s == f {
					start = k
				}
			}
			return errs.PreconditionFailedf("import cycle: %s", strings.Join(append(append([]string(nil), stack[start:]...), f), " -> "))
		}
		state[f] = 1
		stack = append(stack, f)
		for _, imp := range imports[f] {
			if p, ok := owners[imp]; ok && p.pushed >= 0 {
				if err := visit(imp); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[f] = 2
		return nil
	}
	for _, f := range slices.Sorted(maps.Keys(imports)) {
		if err := visit(f); err != nil {
			return err
		}
	}
	return nil
}
