package buf

import (
	"context"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/access"
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
	shape, err := s.graphShape(ctx, roots)
	if err != nil {
		return GraphResult{}, err
	}
	nodes, commits, closures := shape.nodes, shape.commits, shape.closures
	moduleIDs := make([]string, 0, len(nodes))
	for _, id := range nodes {
		if c, ok := commits[id]; ok {
			moduleIDs = append(moduleIDs, c.ModuleID)
		}
	}
	// Every dependency must be readable too: its files are needed anyway.
	readable, err := s.readableModules(ctx, moduleIDs)
	if err != nil {
		return GraphResult{}, err
	}
	out := GraphResult{Edges: shape.edges}
	for _, id := range nodes {
		c, ok := commits[id]
		if !ok || !readable[c.ModuleID] {
			return GraphResult{}, s.unavailableDep(ctx, id, roots, rootNames, closures)
		}
		out.Commits = append(out.Commits, c)
	}
	return out, nil
}

// graph is the shape of the graph of some root commits, which depends on
// the commits alone (and on which exist): every node, the edges, the
// commits and the roots' closures.
type graph struct {
	nodes    []string
	edges    map[string][]string
	commits  map[string]Commit
	closures map[string][]string
}

// graphShape reads the graph of the roots (through the read cache).
func (s *Service) graphShape(ctx context.Context, roots []string) (graph, error) {
	return cachedRead(ctx, s, readKey(append([]string{"g"}, roots...)...), func() (graph, error) {
		closures, err := s.st.closure(ctx, roots)
		if err != nil {
			return graph{}, err
		}
		candidates := append([]string(nil), roots...)
		for _, r := range roots {
			candidates = append(candidates, closures[r]...)
		}
		if len(candidates) > s.cfg.MaxGraphNodes {
			return graph{}, errs.PreconditionFailedf("the dependency graph has more than %d commits (PACKYARD_BUF_MAX_GRAPH_NODES)", s.cfg.MaxGraphNodes)
		}
		direct, err := s.st.deps(ctx, candidates)
		if err != nil {
			return graph{}, err
		}
		all := append([]string(nil), candidates...)
		for _, ds := range direct {
			all = append(all, ds...)
		}
		commits, err := s.st.commits(ctx, all)
		if err != nil {
			return graph{}, err
		}
		info := make(map[string]module.CommitNode, len(commits))
		for id, c := range commits {
			info[id] = module.CommitNode{ID: id, ModuleID: c.ModuleID, CreatedAt: c.CreatedAt}
		}
		nodes, edges := module.ResolveGraph(roots, closures, direct, info)
		return graph{nodes: nodes, edges: edges, commits: commits, closures: closures}, nil
	})
}

// readableModules returns which of the modules (by id) exist and the caller
// may read.
func (s *Service) readableModules(ctx context.Context, ids []string) (map[string]bool, error) {
	mods, err := s.readableModuleRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(mods))
	for id := range mods {
		out[id] = true
	}
	return out, nil
}

// readableModuleRecords returns the modules (by id, with their owners'
// names) that exist and the caller may read, with one query for the
// modules, one lookup per owner and one decision per owner and visibility.
func (s *Service) readableModuleRecords(ctx context.Context, ids []string) (map[string]ModuleRecord, error) {
	mods, err := s.cachedModulesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	type decision struct {
		owner      string
		visibility int
	}
	owners := map[string]*Owner{} // nil: no such owner
	decided := map[decision]error{}
	out := make(map[string]ModuleRecord, len(mods))
	for _, m := range mods {
		o, ok := owners[m.OwnerID]
		if !ok {
			found, err := s.ownerByID(ctx, m.OwnerID)
			if err != nil && !hidden(err) {
				return nil, err
			}
			if err == nil {
				o = &found
			}
			owners[m.OwnerID] = o
		}
		if o == nil {
			continue
		}
		m.OwnerName = o.Name
		key := decision{m.OwnerID, m.Visibility}
		err, ok := decided[key]
		if !ok {
			err = s.authorize(ctx, *o, &m, access.ActionRead)
			decided[key] = err
		}
		if err != nil && !hidden(err) {
			return nil, err
		}
		if err == nil {
			out[m.ID] = m
		}
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
		return s.st.listLabels(ctx, res.Module.ID, res.Commit.ID, nameQuery, "", archived, byUpdate, p)
	}
	return s.st.listLabels(ctx, res.Module.ID, "", nameQuery, "", archived, byUpdate, p)
}

// LabelHistory lists the commits a label pointed at.
func (s *Service) LabelHistory(ctx context.Context, r LabelRef, p Page) ([]Commit, error) {
	l, _, _, err := s.labelByRef(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.st.labelHistory(ctx, l.ID, p)
}
