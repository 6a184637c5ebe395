package buf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// The methods here serve people reading a registry (the module pages):
// an owner's modules, and a module's labels, commits, files and
// dependencies. They decide access with the same rules as the buf CLI's
// calls: a module the caller may not read does not exist for them.

// OwnerModules counts the modules of owner (an organization or a user)
// that the caller may read and whose name contains query, and returns a
// page of them by name (none when p.Limit is 0: a count only). Members see
// every module; others see the public ones.
func (s *Service) OwnerModules(ctx context.Context, owner, query string, p Page) ([]ModuleRecord, int, error) {
	o, err := s.ownerByName(ctx, owner)
	if err != nil {
		return nil, 0, hide(ctx, err, "owner %q not found", owner)
	}
	probe := ModuleRecord{Name: "*", Visibility: VisibilityPrivate}
	err = s.authorize(ctx, o, &probe, access.ActionRead)
	if err != nil && !hidden(err) {
		return nil, 0, err
	}
	mods, n, err := s.st.ownerModules(ctx, o.ID, err != nil, query, p)
	for i := range mods {
		mods[i].OwnerName = o.Name
	}
	return mods, n, err
}

// View is a module the caller may read and the commit a page of it shows.
// Only Browse makes one; the methods that take a View trust its check.
type View struct {
	Module ModuleRecord
	Owner  Owner
	Commit Commit // the zero Commit when HasCommit is false
	Label  string // the label the commit was chosen by, if any
	// HasCommit is false for a module nothing was pushed to yet.
	HasCommit bool

	checked bool
}

// Browse resolves a module the caller may read and, when ref is set, the
// label or commit it names; without ref, the module's default label (or
// its newest commit).
func (s *Service) Browse(ctx context.Context, owner, mod, ref string) (View, error) {
	res, err := s.resolve(ctx, ResourceRef{Owner: owner, Module: mod, Ref: ref, HasRef: ref != ""})
	if err != nil {
		return View{}, err
	}
	v := View{Module: res.Module, Owner: res.Owner, checked: true}
	c, err := s.commitOf(ctx, res)
	switch {
	case errs.Category(err) == errs.ErrFailedPrecondition && ref == "":
		return v, nil // nothing pushed yet
	case err != nil:
		return View{}, err
	}
	v.Commit, v.HasCommit = c, true
	switch {
	case res.Label != nil:
		v.Label = res.Label.Name
	case res.Commit == nil:
		v.Label = res.Module.DefaultLabel
	}
	return v, nil
}

func (v View) check() error {
	if !v.checked {
		return errors.New("buf: a View must come from Browse")
	}
	return nil
}

// LabeledCommit is a label with the commit it points at.
type LabeledCommit struct {
	Label  Label
	Commit Commit
}

// Labels returns a page of the module's unarchived labels, the default
// label first (on the first page), then the most recently moved first, and
// how many there are.
func (s *Service) Labels(ctx context.Context, v View, p Page) ([]LabeledCommit, int, error) {
	if err := v.check(); err != nil {
		return nil, 0, err
	}
	n, err := s.st.countLabels(ctx, v.Module.ID)
	if err != nil {
		return nil, 0, err
	}
	// The default label takes the first place of the first page; the
	// others follow it, most recently moved first.
	var out []Label
	def, err := s.st.label(ctx, s.st.db, v.Module.ID, v.Module.DefaultLabel)
	switch {
	case err != nil && !errors.Is(err, errs.ErrNotFound):
		return nil, 0, err
	case err != nil || !def.ArchivedAt.IsZero():
	case p.Offset == 0 && p.Limit > 0:
		out, p.Limit = append(out, def), p.Limit-1
	case p.Offset > 0:
		p.Offset--
	}
	p.Desc = true
	others, err := s.st.listLabels(ctx, v.Module.ID, "", "", v.Module.DefaultLabel, archivedExclude, true, p)
	if err != nil {
		return nil, 0, err
	}
	out = append(out, others...)
	ids := make([]string, len(out))
	for i, l := range out {
		ids[i] = l.CommitID
	}
	commits, err := s.st.commits(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	lc := make([]LabeledCommit, len(out))
	for i, l := range out {
		lc[i] = LabeledCommit{Label: l, Commit: commits[l.CommitID]}
	}
	return lc, n, nil
}

// CommitLabels is a commit with the names of the labels on it.
type CommitLabels struct {
	Commit Commit
	Labels []string
}

// Commits returns a page of the module's commits, newest first, each with
// the labels that point at it, and how many commits there are.
func (s *Service) Commits(ctx context.Context, v View, p Page) ([]CommitLabels, int, error) {
	if err := v.check(); err != nil {
		return nil, 0, err
	}
	n, err := s.st.countCommits(ctx, v.Module.ID)
	if err != nil || n == 0 {
		return nil, n, err
	}
	p.Desc = true
	commits, err := s.st.listCommits(ctx, v.Module.ID, "", p)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(commits))
	for i, c := range commits {
		ids[i] = c.ID
	}
	labels, err := s.st.commitLabels(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]CommitLabels, len(commits))
	for i, c := range commits {
		out[i] = CommitLabels{Commit: c, Labels: labels[c.ID]}
	}
	return out, n, nil
}

// Files lists the files of the view's commit by path.
func (s *Service) Files(ctx context.Context, v View) ([]CommitFile, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if !v.HasCommit {
		return nil, nil
	}
	return s.st.commitFiles(ctx, v.Commit.ID)
}

// FileContent is a file of a commit with (up to a limit) its content.
type FileContent struct {
	File      CommitFile
	Content   []byte
	Truncated bool // Content holds only the first bytes of the file
}

// ReadFile returns the file at path of the view's commit, reading at most
// max bytes of it.
func (s *Service) ReadFile(ctx context.Context, v View, path string, max int64) (FileContent, error) {
	files, err := s.Files(ctx, v)
	if err != nil {
		return FileContent{}, err
	}
	i := sort.Search(len(files), func(i int) bool { return files[i].Path >= path })
	if i == len(files) || files[i].Path != path {
		return FileContent{}, errs.NotFoundf("%s has no file %q", v.Module.FullName(), path)
	}
	f := files[i]
	rc, err := s.cas.Open(ctx, f.Blob)
	if err != nil {
		return FileContent{}, fmt.Errorf("read %s (blob %s): %w", f.Path, f.Blob, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return FileContent{}, fmt.Errorf("read %s (blob %s): %w", f.Path, f.Blob, err)
	}
	out := FileContent{File: f, Content: b}
	if int64(len(b)) > max {
		out.Content, out.Truncated = b[:max], true
	}
	return out, nil
}

// Dep is a module the view's commit depends on, at the commit it uses.
type Dep struct {
	Module ModuleRecord
	Commit Commit
	Direct bool
}

// Deps returns the commits the view's commit depends on, directly or not,
// whose modules the caller may read (direct ones first, then by name), and
// how many others there are: those are never named.
func (s *Service) Deps(ctx context.Context, v View) ([]Dep, int, error) {
	if err := v.check(); err != nil || !v.HasCommit {
		return nil, 0, err
	}
	closure, err := s.st.closure(ctx, []string{v.Commit.ID})
	if err != nil {
		return nil, 0, err
	}
	direct, err := s.st.deps(ctx, []string{v.Commit.ID})
	if err != nil {
		return nil, 0, err
	}
	ids := closure[v.Commit.ID]
	commits, err := s.st.commits(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	modIDs := make([]string, 0, len(commits))
	for _, c := range commits {
		modIDs = append(modIDs, c.ModuleID)
	}
	mods, err := s.readableModuleRecords(ctx, modIDs)
	if err != nil {
		return nil, 0, err
	}
	isDirect := map[string]bool{}
	for _, id := range direct[v.Commit.ID] {
		isDirect[id] = true
	}
	var out []Dep
	for _, id := range ids {
		c, ok := commits[id]
		m, readable := mods[c.ModuleID]
		if ok && readable {
			out = append(out, Dep{Module: m, Commit: c, Direct: isDirect[id]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Direct != out[j].Direct {
			return out[i].Direct
		}
		return out[i].Module.FullName() < out[j].Module.FullName()
	})
	return out, len(ids) - len(out), nil
}
