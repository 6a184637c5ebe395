package buf

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
	"sync"
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

// prepared is an upload content after validation.
type prepared struct {
	module  ModuleRecord
	owner   Owner
	files   []UploadFile
	digests []FileDigest
	imports map[string][]string
	labels  []string // label names
	scm     string
	commit  Commit
	exists  bool // identical to an existing commit
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

func (s *Service) upload(ctx context.Context, contents []UploadContent, depCommitIDs []string) ([]Commit, error) {
	preps := make([]*prepared, len(contents))
	pushed := make([]PushedModule, len(contents))
	for i, c := range contents {
		p, err := s.prepare(ctx, c)
		if err != nil {
			return nil, err
		}
		preps[i] = p
		pushed[i] = PushedModule{Name: p.module.FullName(), ID: p.module.ID, Imports: p.imports}
	}

	deps, err := s.depCommits(ctx, depCommitIDs)
	if err != nil {
		return nil, err
	}
	res, err := ResolveDeps(pushed, deps)
	if err != nil {
		return nil, err
	}

	// Everything the offered dependency commits reach: their closures, the
	// direct edges of all of them, and their records.
	var depIDs []string
	resolution := map[string]string{} // module id -> the commit this push uses
	for _, d := range deps {
		depIDs = append(depIDs, d.CommitID)
		resolution[d.ModuleID] = d.CommitID
	}
	closures, err := s.st.closure(ctx, depIDs)
	if err != nil {
		return nil, err
	}
	existing := append([]string(nil), depIDs...)
	for _, id := range depIDs {
		existing = append(existing, closures[id]...)
	}
	direct, err := s.st.deps(ctx, existing)
	if err != nil {
		return nil, err
	}
	var all []string
	all = append(all, existing...)
	for _, ds := range direct {
		all = append(all, ds...)
	}
	known, err := s.st.commits(ctx, all)
	if err != nil {
		return nil, err
	}
	b5 := map[string][]byte{} // commit id -> B5
	for id, c := range known {
		if b5[id], err = hex.DecodeString(c.B5); err != nil {
			return nil, fmt.Errorf("commit %s: stored digest: %w", id, err)
		}
	}

	now := s.now()
	pushedCommit := map[string]int{} // new or reused commit id -> pushed index
	directIDs := make([][]string, len(preps))
	closure := make([][]string, len(preps))
	targetID := func(t Target) string {
		if t.Pushed >= 0 {
			return preps[t.Pushed].commit.ID
		}
		return t.CommitID
	}
	for _, i := range res.Order {
		p := preps[i]
		// Walk the dependencies module by module, using this push's commit
		// for every module it names, as the CLI does for its workspace.
		seen := map[string]bool{}
		var queue []string
		for _, t := range res.Direct[i] {
			id := targetID(t)
			directIDs[i] = append(directIDs[i], id)
			queue = append(queue, id)
		}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			closure[i] = append(closure[i], n)
			if j, ok := pushedCommit[n]; ok {
				for _, t := range res.Direct[j] {
					queue = append(queue, targetID(t))
				}
				continue
			}
			for _, d := range direct[n] {
				if r, ok := resolution[known[d].ModuleID]; ok {
					d = r
				}
				queue = append(queue, d)
			}
		}
		filesDigest, err := FilesDigest(p.digests)
		if err != nil {
			return nil, err
		}
		depDigests := make([][]byte, 0, len(closure[i]))
		for _, d := range closure[i] {
			if b5[d] == nil {
				return nil, fmt.Errorf("upload: no digest for dependency commit %s", d)
			}
			depDigests = append(depDigests, b5[d])
		}
		digest := B5(filesDigest, depDigests)
		hexB5 := hex.EncodeToString(digest)
		found, err := s.st.commitByB5(ctx, s.st.db, p.module.ID, hexB5)
		switch {
		case err == nil:
			p.commit, p.exists = found, true
		case errors.Is(err, errs.ErrNotFound):
			p.commit = Commit{ID: metadata.NewID(), ModuleID: p.module.ID, OwnerID: p.module.OwnerID,
				B5: hexB5, B4: hex.EncodeToString(filesDigest), CreatedByUserID: userID(ctx),
				SourceControlURL: p.scm, CreatedAt: now}
		default:
			return nil, err
		}
		b5[p.commit.ID] = digest
		pushedCommit[p.commit.ID] = i
		resolution[p.module.ID] = p.commit.ID
	}

	// Every new commit's files must link against its own files, its
	// dependencies and the well-known types before anything is stored.
	cache := s.newLinkCache()
	for _, i := range res.Order {
		if preps[i].exists {
			continue // identical to a commit already stored
		}
		if err := s.linkModule(ctx, cache, preps, i, closure[i], pushedCommit); err != nil {
			return nil, err
		}
	}

	// File contents go to the CAS before the rows that reference them.
	blobs := make([][]CommitFile, len(preps))
	for i, p := range preps {
		if p.exists {
			continue
		}
		if blobs[i], err = s.storeFiles(ctx, p); err != nil {
			return nil, err
		}
	}

	uid := userID(ctx)
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, i := range res.Order {
			p := preps[i]
			if !p.exists {
				if err := s.st.insertCommit(ctx, tx, p.commit, blobs[i], directIDs[i], closure[i]); err != nil {
					return err
				}
				ref := blobRef(p.module.ID)
				done := map[string]bool{}
				for _, f := range blobs[i] {
					if done[f.Blob] {
						continue
					}
					done[f.Blob] = true
					if err := s.meta.AddBlobRef(ctx, tx, f.Blob, ref); err != nil {
						return err
					}
				}
			}
			for _, name := range p.labels {
				if _, err := s.st.setLabel(ctx, tx, p.module.ID, name, p.commit.ID, uid, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Commit, len(preps))
	for i, p := range preps {
		out[i] = p.commit
	}
	return out, nil
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
	if err := ValidateModuleFiles(paths); err != nil {
		return nil, fmt.Errorf("%s: %w", m.FullName(), err)
	}
	p := &prepared{module: m, owner: o, files: c.Files, imports: map[string][]string{}, scm: c.SourceControlURL}
	for _, f := range c.Files {
		p.digests = append(p.digests, FileDigest{Path: f.Path, Shake256: hex.EncodeToString(Shake256(f.Content))})
		if ClassifyPath(f.Path) != FileTypeProto {
			continue
		}
		imps, err := ParseImports(f.Path, f.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.FullName(), err)
		}
		p.imports[f.Path] = imps
	}
	if len(c.SourceControlURL) > 255 {
		return nil, errs.Invalidf("source control URL too long")
	}
	if len(c.Labels) == 0 {
		p.labels = []string{m.DefaultLabel}
	}
	for _, l := range c.Labels {
		name := l.Name
		if l.ID != "" {
			id, ok := NormalizeID(l.ID)
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
		if err := ValidateLabelName(name); err != nil {
			return nil, err
		}
		p.labels = append(p.labels, name)
	}
	return p, nil
}

// depCommits loads the offered dependency commits, which the caller must be
// able to read.
func (s *Service) depCommits(ctx context.Context, ids []string) ([]DepCommit, error) {
	norm := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, raw := range ids {
		id, ok := NormalizeID(raw)
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
	out := make([]DepCommit, 0, len(norm))
	for _, id := range norm {
		c, ok := commits[id]
		if !ok {
			return nil, errs.PreconditionFailedf("dependency commit %s does not exist", id)
		}
		m, ok := modules[c.ModuleID]
		if !ok {
			m, _, err = s.moduleByID(ctx, c.ModuleID)
			if err != nil {
				if errors.Is(err, errs.ErrNotFound) {
					return nil, errs.PreconditionFailedf("dependency commit %s does not exist", id)
				}
				return nil, err
			}
			modules[c.ModuleID] = m
		}
		out = append(out, DepCommit{CommitID: id, ModuleID: m.ID, Name: m.FullName(), Paths: paths[id]})
	}
	return out, nil
}

// storeFiles puts a content's files into the CAS (which indexes them),
// several at a time.
func (s *Service) storeFiles(ctx context.Context, p *prepared) ([]CommitFile, error) {
	out := make([]CommitFile, len(p.files))
	err := parallel(ctx, len(p.files), func(ctx context.Context, i int) error {
		f := p.files[i]
		want := p.digests[i].Shake256
		d, err := s.cas.Put(ctx, bytes.NewReader(f.Content),
			cas.WithExpected(cas.SHAKE256, want), cas.WithMaxSize(s.cfg.MaxFileSize))
		if err != nil {
			return fmt.Errorf("store %s: %w", f.Path, err)
		}
		out[i] = CommitFile{Path: f.Path, Blob: d.Digest, Shake256: want}
		return nil
	})
	return out, err
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
