package buf

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bufbuild/protocompile/parser"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// UploadFile is one file of an uploaded module.
type UploadFile struct {
	Path    string
	Content []byte
}

// ScopedLabel names a label of the uploaded module by id or name.
type ScopedLabel struct{ ID, Name string }

// UploadContent is one module of an upload.
type UploadContent struct {
	Module           ModuleRef
	Files            []UploadFile
	Labels           []ScopedLabel // empty: the module's default label
	SourceControlURL string
}

// Upload stores the contents as new commits (or finds the identical existing
// ones), each with its own dependencies worked out from its imports over the
// other contents and the offered dependency commits, and moves the labels.
// It returns one commit per content, in order. Nothing is stored when any
// content is refused.
func (s *Service) Upload(ctx context.Context, contents []UploadContent, depCommitIDs []string) ([]Commit, error) {
	if len(contents) == 0 {
		return nil, errs.Invalidf("nothing to upload")
	}
	var out []Commit
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		out, err = s.upload(ctx, contents, depCommitIDs)
		// A concurrent identical push won the race: the retry finds its commit.
		if !errors.Is(err, errs.ErrAlreadyExists) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	for _, c := range out {
		if m, o, err := s.moduleByID(ctx, c.ModuleID); err == nil {
			s.record(ctx, auditPush, o, m.FullName(), map[string]string{"commit": c.ID})
		}
	}
	return out, nil
}

// upload runs the phases of one attempt: prepare the contents, resolve their
// dependencies, load the stored graph those reach, plan each commit (its
// closure and digests), link the new commits' files, store the files in the
// CAS, and commit the rows in one transaction. A refusal in any phase stores
// no rows.
func (s *Service) upload(ctx context.Context, contents []UploadContent, depCommitIDs []string) ([]Commit, error) {
	preps, err := s.prepareAll(ctx, contents)
	if err != nil {
		return nil, err
	}
	deps, err := s.depCommits(ctx, depCommitIDs)
	if err != nil {
		return nil, err
	}
	res, err := module.ResolveDeps(pushedModules(preps), deps)
	if err != nil {
		return nil, err
	}
	g, digests, err := s.depGraph(ctx, deps)
	if err != nil {
		return nil, err
	}
	now := s.now()
	plans, err := s.plan(ctx, preps, res, g, digests, now)
	if err != nil {
		return nil, err
	}
	if err := s.linkAll(ctx, preps, plans, res.Order); err != nil {
		return nil, err
	}
	blobs, encs, err := s.storeAll(ctx, preps, plans)
	if err != nil {
		return nil, err
	}
	if err := s.commitAll(ctx, preps, plans, stored{blobs, encs}, res.Order, now); err != nil {
		return nil, err
	}
	out := make([]Commit, len(plans))
	for i, p := range plans {
		out[i] = p.commit
	}
	return out, nil
}

// prepared is an upload content after validation.
type prepared struct {
	module  ModuleRecord
	owner   Owner
	files   []UploadFile
	digests []module.FileDigest
	imports map[string][]string
	parsed  map[string]parser.Result // of the .proto files, for linking them
	labels  []string                 // label names
	scm     string
}

// planned is the commit a pushed module becomes.
type planned struct {
	commit  Commit
	exists  bool     // identical to a stored commit: nothing to store
	direct  []string // its direct dependencies
	closure []string // all its dependencies, direct or not
}

// prepareAll prepares every content, in order.
func (s *Service) prepareAll(ctx context.Context, contents []UploadContent) ([]*prepared, error) {
	preps := make([]*prepared, len(contents))
	for i, c := range contents {
		p, err := s.prepare(ctx, c)
		if err != nil {
			return nil, err
		}
		preps[i] = p
	}
	return preps, nil
}

// prepare checks one content: the module exists and the caller may push to
// it, the files are valid, and their imports are parsed.
func (s *Service) prepare(ctx context.Context, c UploadContent) (*prepared, error) {
	m, o, err := s.module(ctx, c.Module)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, o, &m, access.ActionWrite); err != nil {
		return nil, err
	}
	if len(c.Files) > s.cfg.MaxFiles {
		return nil, errs.TooLargef("%s: %d files exceed the limit of %d", m.FullName(), len(c.Files), s.cfg.MaxFiles)
	}
	paths := make([]string, len(c.Files))
	for i, f := range c.Files {
		paths[i] = f.Path
		if int64(len(f.Content)) > s.cfg.MaxFileSize {
			return nil, errs.TooLargef("%s: file %s has %d bytes, more than the limit of %d", m.FullName(), f.Path, len(f.Content), s.cfg.MaxFileSize)
		}
	}
	if err := module.ValidateModuleFiles(paths); err != nil {
		return nil, fmt.Errorf("%s: %w", m.FullName(), err)
	}
	p := &prepared{module: m, owner: o, files: c.Files, imports: map[string][]string{}, parsed: map[string]parser.Result{}, scm: c.SourceControlURL}
	for _, f := range c.Files {
		p.digests = append(p.digests, module.FileDigest{Path: f.Path, Shake256: hex.EncodeToString(module.Shake256(f.Content))})
		if module.ClassifyPath(f.Path) != module.FileTypeProto {
			continue
		}
		imps, parsed, err := module.Parse(f.Path, f.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.FullName(), err)
		}
		p.imports[f.Path], p.parsed[f.Path] = imps, parsed
	}
	if len(c.SourceControlURL) > 255 {
		return nil, errs.Invalidf("source control URL too long")
	}
	if p.labels, err = s.uploadLabels(ctx, m, c.Labels); err != nil {
		return nil, err
	}
	return p, nil
}

// uploadLabels returns the names of the labels an upload to m moves: the
// given ones, which must be valid and, when named by id, m's own, or else
// m's default label.
func (s *Service) uploadLabels(ctx context.Context, m ModuleRecord, labels []ScopedLabel) ([]string, error) {
	if len(labels) == 0 {
		return []string{m.DefaultLabel}, nil
	}
	names := make([]string, 0, len(labels))
	for _, l := range labels {
		name := l.Name
		if l.ID != "" {
			id, ok := module.NormalizeID(l.ID)
			if !ok {
				return nil, errs.NotFoundf("label %s not found", l.ID)
			}
			lab, err := s.st.labelByID(ctx, id)
			if err != nil || lab.ModuleID != m.ID {
				if err == nil || errors.Is(err, errs.ErrNotFound) {
					return nil, errs.NotFoundf("label %s not found in %s", l.ID, m.FullName())
				}
				return nil, err
			}
			name = lab.Name
		}
		if err := module.ValidateLabelName(name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// pushedModules is what the resolver needs of the prepared contents.
func pushedModules(preps []*prepared) []module.PushedModule {
	out := make([]module.PushedModule, len(preps))
	for i, p := range preps {
		out[i] = module.PushedModule{Name: p.module.FullName(), ID: p.module.ID, Imports: p.imports}
	}
	return out
}

// depCommits loads the offered dependency commits, which the caller must be
// able to read.
func (s *Service) depCommits(ctx context.Context, ids []string) ([]module.DepCommit, error) {
	norm := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, raw := range ids {
		id, ok := module.NormalizeID(raw)
		if !ok {
			return nil, errs.Invalidf("dependency commit id %q is not 32 hex digits", raw)
		}
		if !seen[id] {
			seen[id] = true
			norm = append(norm, id)
		}
	}
	commits, err := s.st.commits(ctx, norm)
	if err != nil {
		return nil, err
	}
	paths, err := s.st.protoPaths(ctx, norm)
	if err != nil {
		return nil, err
	}
	modules := map[string]ModuleRecord{}
	out := make([]module.DepCommit, 0, len(norm))
	for _, id := range norm {
		c, ok := commits[id]
		if !ok {
			return nil, errs.PreconditionFailedf("dependency commit %s does not exist", id)
		}
		m, ok := modules[c.ModuleID]
		if !ok {
			m, _, err = s.moduleByID(ctx, c.ModuleID)
			if err != nil {
				if hidden(err) {
					return nil, errs.PreconditionFailedf("dependency commit %s does not exist", id)
				}
				return nil, err
			}
			modules[c.ModuleID] = m
		}
		out = append(out, module.DepCommit{CommitID: id, ModuleID: m.ID, Name: m.FullName(), Paths: paths[id]})
	}
	return out, nil
}

// depGraph loads everything the offered dependency commits reach (their
// closures, the direct edges of all of them, and their records) as the
// upload's starting graph, with the B5 digest of each of those commits.
func (s *Service) depGraph(ctx context.Context, deps []module.DepCommit) (*module.PushGraph, map[string][]byte, error) {
	depIDs := make([]string, 0, len(deps))
	use := map[string]string{} // module -> the offered commit
	for _, d := range deps {
		depIDs = append(depIDs, d.CommitID)
		use[d.ModuleID] = d.CommitID
	}
	closures, err := s.st.closure(ctx, depIDs)
	if err != nil {
		return nil, nil, err
	}
	existing := append([]string(nil), depIDs...)
	for _, id := range depIDs {
		existing = append(existing, closures[id]...)
	}
	direct, err := s.st.deps(ctx, existing)
	if err != nil {
		return nil, nil, err
	}
	all := append([]string(nil), existing...)
	for _, ds := range direct {
		all = append(all, ds...)
	}
	known, err := s.st.commits(ctx, all)
	if err != nil {
		return nil, nil, err
	}
	moduleOf := make(map[string]string, len(known))
	digests := make(map[string][]byte, len(known))
	for id, c := range known {
		moduleOf[id] = c.ModuleID
		if digests[id], err = hex.DecodeString(c.B5); err != nil {
			return nil, nil, fmt.Errorf("commit %s: stored digest: %w", id, err)
		}
	}
	return module.NewPushGraph(direct, moduleOf, use), digests, nil
}

// plan decides each pushed module's commit, dependencies first: its direct
// dependencies and closure over the graph, its digests, and whether an
// identical commit is already stored. Each decided commit joins g and
// digests for the modules after it.
func (s *Service) plan(ctx context.Context, preps []*prepared, res module.Resolution, g *module.PushGraph, digests map[string][]byte, now time.Time) ([]planned, error) {
	plans := make([]planned, len(preps))
	for _, i := range res.Order {
		p := preps[i]
		pl := &plans[i]
		for _, t := range res.Direct[i] {
			id := t.CommitID
			if t.Pushed >= 0 {
				id = plans[t.Pushed].commit.ID
			}
			pl.direct = append(pl.direct, id)
		}
		pl.closure = g.Closure(pl.direct)
		b4, b5, err := commitDigests(p.digests, pl.closure, digests)
		if err != nil {
			return nil, err
		}
		hexB5 := hex.EncodeToString(b5)
		found, err := s.st.commitByB5(ctx, s.st.db, p.module.ID, hexB5)
		switch {
		case err == nil:
			pl.commit, pl.exists = found, true
		case errors.Is(err, errs.ErrNotFound):
			pl.commit = Commit{ID: metadata.NewID(), ModuleID: p.module.ID, OwnerID: p.module.OwnerID,
				B5: hexB5, B4: hex.EncodeToString(b4), CreatedByUserID: userID(ctx),
				SourceControlURL: p.scm, CreatedAt: now}
		default:
			return nil, err
		}
		digests[pl.commit.ID] = b5
		g.Push(pl.commit.ID, p.module.ID, pl.direct)
	}
	return plans, nil
}

// commitDigests returns a module's B4 (the digest of its files) and its B5
// over the B5 digests of its closure, which digests must all hold.
func commitDigests(files []module.FileDigest, closure []string, digests map[string][]byte) (b4, b5 []byte, err error) {
	b4, err = module.FilesDigest(files)
	if err != nil {
		return nil, nil, err
	}
	deps := make([][]byte, 0, len(closure))
	for _, d := range closure {
		if digests[d] == nil {
			return nil, nil, fmt.Errorf("upload: no digest for dependency commit %s", d)
		}
		deps = append(deps, digests[d])
	}
	return b4, module.B5(b4, deps), nil
}

// linkAll links every new commit's files against its own files, its
// dependencies and the well-known types, before anything is stored.
func (s *Service) linkAll(ctx context.Context, preps []*prepared, plans []planned, order []int) error {
	pushedCommit := make(map[string]int, len(plans)) // commit id -> pushed index
	for i, p := range plans {
		pushedCommit[p.commit.ID] = i
	}
	cache := s.newLinkCache()
	for _, i := range order {
		if plans[i].exists {
			continue // identical to a commit already stored
		}
		if err := s.linkModule(ctx, cache, preps, i, plans[i].closure, pushedCommit); err != nil {
			return err
		}
	}
	return nil
}

// stored is what storeAll put in the CAS for each content: its files and
// the encoding of them a Download copies.
type stored struct {
	files     [][]CommitFile
	encodings []encoding
}

// storeAll puts the files of every new commit into the CAS, with their
// Download encoding, before the rows that reference them; it returns each
// content's stored files and encoding.
func (s *Service) storeAll(ctx context.Context, preps []*prepared, plans []planned) ([][]CommitFile, []encoding, error) {
	blobs := make([][]CommitFile, len(preps))
	encs := make([]encoding, len(preps))
	for i, p := range preps {
		if plans[i].exists {
			continue
		}
		var err error
		if blobs[i], encs[i], err = s.storeFiles(ctx, p); err != nil {
			return nil, nil, err
		}
	}
	return blobs, encs, nil
}

// storeFiles puts a content's files into the CAS (which indexes them) in
// one batch, the small ones packed together into one object (one write per
// push instead of one per file), and their encoding, which Download reads
// whole, as an object of its own.
func (s *Service) storeFiles(ctx context.Context, p *prepared) ([]CommitFile, encoding, error) {
	contents := make([][]byte, 0, len(p.files))
	for _, f := range p.files {
		contents = append(contents, f.Content)
	}
	ds, err := s.cas.PutAll(ctx, contents, cas.WithDigests(cas.SHAKE256), cas.Packed())
	if err != nil {
		return nil, encoding{}, fmt.Errorf("store the files of %s: %w", p.module.FullName(), err)
	}
	out := make([]CommitFile, len(p.files))
	for i, f := range p.files {
		d := ds[i]
		if want := p.digests[i].Shake256; d.Extra[cas.SHAKE256] != want {
			return nil, encoding{}, fmt.Errorf("store %s: the CAS computed shake256 %s, not %s", f.Path, d.Extra[cas.SHAKE256], want)
		}
		out[i] = CommitFile{Path: f.Path, Blob: d.Digest, Shake256: p.digests[i].Shake256, Size: d.Size}
	}
	enc, err := s.cas.PutAll(ctx, [][]byte{encodeFiles(p.files)})
	if err != nil {
		return nil, encoding{}, fmt.Errorf("store the download encoding of %s: %w", p.module.FullName(), err)
	}
	return out, encoding{Blob: enc[0].Digest, Size: enc[0].Size}, nil
}

// commitAll writes, in one transaction and dependencies first, every new
// commit with its files, edges, encoding and blob references, and moves the
// labels.
func (s *Service) commitAll(ctx context.Context, preps []*prepared, plans []planned, st stored, order []int, now time.Time) error {
	uid := userID(ctx)
	return s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.changed(ctx, tx); err != nil {
			return err
		}
		for _, i := range order {
			p, pl := preps[i], plans[i]
			if !pl.exists {
				if err := s.st.insertCommit(ctx, tx, pl.commit, st.files[i], pl.direct, pl.closure); err != nil {
					return err
				}
				if err := s.addBlobRefs(ctx, tx, p.module.ID, st.files[i]); err != nil {
					return err
				}
				if err := s.recordEncoding(ctx, tx, pl.commit, st.encodings[i]); err != nil {
					return err
				}
			}
			for _, name := range p.labels {
				if _, err := s.st.setLabel(ctx, tx, p.module.ID, name, pl.commit.ID, uid, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// addBlobRefs references each distinct blob of a module's new commit.
func (s *Service) addBlobRefs(ctx context.Context, tx *sqldb.Tx, moduleID string, files []CommitFile) error {
	digests := make([]string, 0, len(files))
	done := map[string]bool{}
	for _, f := range files {
		if !done[f.Blob] {
			done[f.Blob] = true
			digests = append(digests, f.Blob)
		}
	}
	return s.meta.AddBlobRefs(ctx, tx, digests, blobRef(moduleID))
}

// casParallelism bounds concurrent CAS reads and writes of one request.
const casParallelism = 8

// parallel runs fn for 0..n-1 with at most casParallelism at once and
// returns the first error (the others are cancelled).
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, casParallelism)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
