package buf

import (
	"context"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/errs"
)

// GraphResult is a dependency graph of commits.
type GraphResult struct {
	Commits []Commit            // roots first
	Edges   map[string][]string // commit id -> direct dependencies
}

// Graph resolves refs to commits and returns them with the commits they
// depend on, one per module (see module.ResolveGraph), and the edges between them.
func (s *Service) Graph(ctx context.Context, refs []ResourceRef) (GraphResult, error) {
	roots := make([]string, 0, len(refs))
	rootNames := make(map[string]string, len(refs)) // root commit -> its module's name
	for _, r := range refs {
		c, res, err := s.ResolveCommit(ctx, r)
		if err != nil {
			return GraphResult{}, err
		}
		roots = append(roots, c.ID)
		rootNames[c.ID] = res.Module.FullName()
	}
	closures, err := s.st.closure(ctx, roots)
	if err != nil {
		return GraphResult{}, err
	}
	candidates := append([]string(nil), roots...)
	for _, r := range roots {
		candidates = append(candidates, closures[r]...)
	}
	if len(candidates) > s.cfg.MaxGraphNodes {
		return GraphResult{}, errs.PreconditionFailedf("the dependency graph has more than %d commits (PACKYARD_BUF_MAX_GRAPH_NODES)", s.cfg.MaxGraphNodes)
	}
	direct, err := s.st.deps(ctx, candidates)
	if err != nil {
		return GraphResult{}, err
	}
	all := append([]string(nil), candidates...)
	for _, ds := range direct {
		all = append(all, ds...)
	}
	commits, err := s.st.commits(ctx, all)
	if err != nil {
		return GraphResult{}, err
	}
	info := make(map[string]module.CommitNode, len(commits))
	for id, c := range commits {
		info[id] = module.CommitNode{ID: id, ModuleID: c.ModuleID, CreatedAt: c.CreatedAt}
	}
	nodes, edges := module.ResolveGraph(roots, closures, direct, info)
	out := GraphResult{Edges: edges}
	readable := map[string]bool{}
	for _, id := range nodes {
		c, ok := commits[id]
		if !ok {
			return GraphResult{}, s.unavailableDep(ctx, id, roots, rootNames, closures)
		}
		// Every dependency must be readable too: its files are needed anyway.
		if !readable[c.ModuleID] {
			if _, _, err := s.findModuleByID(ctx, c.ModuleID); err != nil {
				if !hidden(err) {
					return GraphResult{}, err
				}
				return GraphResult{}, s.unavailableDep(ctx, id, roots, rootNames, closures)
			}
			readable[c.ModuleID] = true
		}
		out.Commits = append(out.Commits, c)
	}
	return out, nil
}

// unavailableDep is the answer when a graph reaches commit id that the
// caller cannot read (or that is gone): it names the requested module that
// depends on it, never the dependency.
func (s *Service) unavailableDep(ctx context.Context, id string, roots []string, rootNames map[string]string, closures map[string][]string) error {
	for _, r := range roots {
		for _, d := range closures[r] {
			if d == id {
				return unseen(ctx, "a dependency of %s is not available", rootNames[r])
			}
		}
	}
	return unseen(ctx, "a dependency of the requested modules is not available")
}

// ListCommits lists the commits a reference covers: all of a module's, a
// label's history, or the one commit.
func (s *Service) ListCommits(ctx context.Context, ref ResourceRef, idQuery string, p Page) ([]Commit, error) {
	res, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch {
	case res.Commit != nil:
		if p.Offset > 0 {
			return nil, nil
		}
		return []Commit{*res.Commit}, nil
	case res.Label != nil:
		return s.st.labelHistory(ctx, res.Label.ID, p)
	}
	return s.st.listCommits(ctx, res.Module.ID, idQuery, p)
}

// ListLabels lists a module's labels (those on a commit, or the one label).
func (s *Service) ListLabels(ctx context.Context, ref ResourceRef, nameQuery string, archived int, byUpdate bool, p Page) ([]Label, error) {
	res, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch {
	case res.Label != nil:
		if p.Offset > 0 {
			return nil, nil
		}
		return []Label{*res.Label}, nil
	case res.Commit != nil:
		return s.st.listLabels(ctx, res.Module.ID, res.Commit.ID, nameQuery, archived, byUpdate, p)
	}
	return s.st.listLabels(ctx, res.Module.ID, "", nameQuery, archived, byUpdate, p)
}

// LabelHistory lists the commits a label pointed at.
func (s *Service) LabelHistory(ctx context.Context, r LabelRef, p Page) ([]Commit, error) {
	l, _, _, err := s.labelByRef(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.st.labelHistory(ctx, l.ID, p)
}
