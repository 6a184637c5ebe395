package buf

import (
	"context"
	"fmt"
	"io"
	"strings"

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

// DownloadRequest selects files of a commit.
type DownloadRequest struct {
	Ref                ResourceRef
	Types              []module.FileType // empty: all
	Paths              []string          // files or directories; empty: all
	PathsAllowNotExist bool
}

// Downloaded is one value of a download: a commit and its selected files.
type Downloaded struct {
	Commit Commit
	Files  []UploadFile
}

// Download serves the values of a download, in order, in two phases: plan
// resolves every value and selects its files from the metadata alone, and
// only when all of them fit in one response (PACKYARD_BUF_MAX_RESPONSE_BYTES)
// are the files read.
func (s *Service) Download(ctx context.Context, reqs []DownloadRequest) ([]Downloaded, error) {
	plans := make([]downloadPlan, len(reqs))
	var size int64
	for i, r := range reqs {
		p, err := s.planDownload(ctx, r)
		if err != nil {
			return nil, err
		}
		plans[i] = p
		size += p.size
	}
	if size > s.cfg.MaxResponseBytes {
		return nil, responseTooLarge(size, s.cfg.MaxResponseBytes)
	}
	out := make([]Downloaded, len(plans))
	for i, p := range plans {
		files, err := s.readFiles(ctx, p.files)
		if err != nil {
			return nil, err
		}
		out[i] = Downloaded{Commit: p.commit, Files: files}
	}
	return out, nil
}

// downloadPlan is a download value resolved: its commit, its selected files
// and a bound on the bytes they take in a response.
type downloadPlan struct {
	commit Commit
	files  []CommitFile
	size   int64
}

// Bytes a response spends around a commit and around a file, beyond the
// file's path and content (generous: tags, lengths, ids, digests, times).
const (
	commitOverhead = 1 << 10
	fileOverhead   = 32
)

// planDownload resolves one value and selects its files; a file whose size
// is not recorded counts as the largest a file may be.
func (s *Service) planDownload(ctx context.Context, r DownloadRequest) (downloadPlan, error) {
	c, _, err := s.ResolveCommit(ctx, r.Ref)
	if err != nil {
		return downloadPlan{}, err
	}
	files, err := s.st.commitFiles(ctx, c.ID)
	if err != nil {
		return downloadPlan{}, err
	}
	selected, err := selectFiles(files, r)
	if err != nil {
		return downloadPlan{}, fmt.Errorf("%w of commit %s", err, c.ID)
	}
	p := downloadPlan{commit: c, files: selected, size: commitOverhead}
	for _, f := range selected {
		size := f.Size
		if size < 0 {
			size = s.cfg.MaxFileSize
		}
		p.size += size + int64(len(f.Path)) + fileOverhead
	}
	return p, nil
}

// selectFiles picks the files of the request's types under its paths; a
// path that matches nothing is NotFound unless the request allows it.
func selectFiles(files []CommitFile, r DownloadRequest) ([]CommitFile, error) {
	matched := make([]bool, len(r.Paths))
	var selected []CommitFile
	for _, f := range files {
		if len(r.Types) > 0 && !containsType(r.Types, module.ClassifyPath(f.Path)) {
			continue
		}
		if len(r.Paths) > 0 {
			hit := false
			for i, p := range r.Paths {
				if p == f.Path || p == "." || strings.HasPrefix(f.Path, strings.TrimSuffix(p, "/")+"/") {
					hit, matched[i] = true, true
				}
			}
			if !hit {
				continue
			}
		}
		selected = append(selected, f)
	}
	if !r.PathsAllowNotExist {
		for i, ok := range matched {
			if !ok {
				return nil, errs.NotFoundf("path %q matches no file", r.Paths[i])
			}
		}
	}
	return selected, nil
}

// readFiles reads the contents of files, several at a time.
func (s *Service) readFiles(ctx context.Context, files []CommitFile) ([]UploadFile, error) {
	out := make([]UploadFile, len(files))
	err := parallel(ctx, len(files), func(ctx context.Context, i int) error {
		content, err := s.readBlob(ctx, files[i])
		out[i] = UploadFile{Path: files[i].Path, Content: content}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func containsType(ts []module.FileType, t module.FileType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func (s *Service) readBlob(ctx context.Context, f CommitFile) ([]byte, error) {
	rc, err := s.cas.Open(ctx, f.Blob)
	if err != nil {
		return nil, fmt.Errorf("read %s (blob %s): %w", f.Path, f.Blob, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, s.cfg.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s (blob %s): %w", f.Path, f.Blob, err)
	}
	return b, nil
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
