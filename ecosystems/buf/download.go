package buf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// A Download response is assembled from bytes, not messages: each commit's
// files are encoded once, as the repeated `files` field of a Download
// content (the same in both API versions), and stored in the CAS; a
// Download copies that encoding after its commit, which it encodes itself.
// The encoding is written at push time (its blob before its row, so a crash
// leaves no row or a complete encoding) and rebuilt by the first Download
// that finds none.

// encodingFiles is the kind of a commit's stored encoding: every file of
// the commit, in path order, as `files` entries (field 2 of a content).
const encodingFiles = "files/1"

// Field numbers of the Download messages of both API versions.
const (
	fieldContents      = 1 // DownloadResponse.contents
	fieldContentCommit = 1 // DownloadResponse.Content.commit
	fieldContentFiles  = 2 // DownloadResponse.Content.files
	fieldFilePath      = 1 // File.path
	fieldFileContent   = 2 // File.content
)

// DownloadRequest selects files of a commit.
type DownloadRequest struct {
	Ref                ResourceRef
	Types              []module.FileType // empty: all
	Paths              []string          // files or directories; empty: all
	PathsAllowNotExist bool
}

// all reports whether the request selects every file of its commit.
func (r DownloadRequest) all() bool { return len(r.Types) == 0 && len(r.Paths) == 0 }

// CommitEncoder encodes a commit as the commit message of a Download
// content of one API version.
type CommitEncoder func(Commit) ([]byte, error)

// Download returns the encoded DownloadResponse of the values, in order, in
// two phases: plan resolves every value and bounds its size from the
// metadata alone, and only when all of them fit in one response
// (PACKYARD_BUF_MAX_RESPONSE_BYTES) is the response written, from the
// stored encodings where a value asks for every file.
func (s *Service) Download(ctx context.Context, reqs []DownloadRequest, enc CommitEncoder) ([]byte, error) {
	plans, size, err := s.planDownloads(ctx, reqs, true)
	if err != nil {
		return nil, err
	}
	if size > s.cfg.MaxResponseBytes {
		return nil, responseTooLarge(size, s.cfg.MaxResponseBytes)
	}
	out := make([]byte, 0, size)
	for _, p := range plans {
		commit, err := enc(p.commit)
		if err != nil {
			return nil, err
		}
		if out, err = s.writeContent(ctx, out, p, commit); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// downloadPlan is a download value resolved: its commit and either its
// stored encoding or its selected files, and a bound on the bytes they take
// in a response.
type downloadPlan struct {
	commit  Commit
	all     bool // every file: the encoding is stored once made
	encoded *encoding
	files   []CommitFile
	size    int64
}

// Bytes a response spends around a commit and around a file, beyond the
// file's path and content (generous: tags, lengths, ids, digests, times).
const (
	commitOverhead = 1 << 10
	fileOverhead   = 32
)

// planDownloads plans every value, looking the stored encodings up at once
// when encoded is set (otherwise every value is planned as files); it
// returns the plans and the bound on the response's size.
func (s *Service) planDownloads(ctx context.Context, reqs []DownloadRequest, encoded bool) ([]downloadPlan, int64, error) {
	plans := make([]downloadPlan, len(reqs))
	var whole []string
	for i, r := range reqs {
		c, _, err := s.ResolveCommit(ctx, r.Ref)
		if err != nil {
			return nil, 0, err
		}
		plans[i] = downloadPlan{commit: c, all: r.all()}
		if encoded && r.all() {
			whole = append(whole, c.ID)
		}
	}
	stored, err := s.cachedEncodings(ctx, whole, encodingFiles)
	if err != nil {
		return nil, 0, err
	}
	var size int64
	for i := range plans {
		p := &plans[i]
		if e, ok := stored[p.commit.ID]; ok && p.all {
			p.encoded, p.size = &e, commitOverhead+e.Size
		} else if err := s.planFiles(ctx, p, reqs[i]); err != nil {
			return nil, 0, err
		}
		size += p.size
	}
	return plans, size, nil
}

// planFiles selects the files of a value without a stored encoding; a file
// whose size is not recorded counts as the largest a file may be.
func (s *Service) planFiles(ctx context.Context, p *downloadPlan, r DownloadRequest) error {
	files, err := s.st.commitFiles(ctx, p.commit.ID)
	if err != nil {
		return err
	}
	if p.files, err = selectFiles(files, r); err != nil {
		return fmt.Errorf("%w of commit %s", err, p.commit.ID)
	}
	p.size = commitOverhead
	for _, f := range p.files {
		size := f.Size
		if size < 0 {
			size = s.cfg.MaxFileSize
		}
		p.size += size + int64(len(f.Path)) + fileOverhead
	}
	return nil
}

// writeContent appends one content (field 1 of the response) to out: the
// commit, then the files, copied from the stored encoding or encoded from
// the files read now (and then stored when they are all of them).
func (s *Service) writeContent(ctx context.Context, out []byte, p downloadPlan, commit []byte) ([]byte, error) {
	if p.encoded != nil {
		start := len(out)
		out = append(out, contentHead(commit, p.encoded.Size)...)
		full, err := s.readEncoding(ctx, out, *p.encoded)
		if err == nil {
			return full, nil
		}
		s.log.Warn("stored download encoding unreadable; rebuilding it", zap.String("commit", p.commit.ID), zap.Error(err))
		out = out[:start]
		if err := s.planFiles(ctx, &p, DownloadRequest{}); err != nil {
			return nil, err
		}
	}
	files, err := s.readFiles(ctx, p.files)
	if err != nil {
		return nil, err
	}
	enc := encodeFiles(files)
	if p.all {
		s.saveEncoding(ctx, p.commit, enc)
	}
	out = append(out, contentHead(commit, int64(len(enc)))...)
	return append(out, enc...), nil
}

// readEncoding appends a stored encoding, which must have its recorded size, to out.
func (s *Service) readEncoding(ctx context.Context, out []byte, e encoding) ([]byte, error) {
	rc, err := s.cas.Open(ctx, e.Blob)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	n := len(out)
	out = slices.Grow(out, int(e.Size))[:n+int(e.Size)]
	if _, err := io.ReadFull(rc, out[n:]); err != nil {
		return nil, fmt.Errorf("read encoding %s: %w", e.Blob, err)
	}
	return out, nil
}

// encodeFiles encodes files as `files` entries of a content, in path order.
func encodeFiles(files []UploadFile) []byte {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b UploadFile) int { return strings.Compare(a.Path, b.Path) })
	size := 0
	for _, f := range files {
		n := fileSize(f)
		size += protowire.SizeTag(fieldContentFiles) + protowire.SizeBytes(n)
	}
	out := make([]byte, 0, size)
	for _, f := range files {
		out = protowire.AppendTag(out, fieldContentFiles, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(fileSize(f)))
		out = protowire.AppendTag(out, fieldFilePath, protowire.BytesType)
		out = protowire.AppendString(out, f.Path)
		out = protowire.AppendTag(out, fieldFileContent, protowire.BytesType)
		out = protowire.AppendBytes(out, f.Content)
	}
	return out
}

// fileSize is the size of a File message's encoding.
func fileSize(f UploadFile) int {
	return protowire.SizeTag(fieldFilePath) + protowire.SizeBytes(len(f.Path)) +
		protowire.SizeTag(fieldFileContent) + protowire.SizeBytes(len(f.Content))
}

// putEncoding stores an encoding's bytes in the CAS.
func (s *Service) putEncoding(ctx context.Context, enc []byte) (encoding, error) {
	d, err := s.cas.Put(ctx, bytes.NewReader(enc))
	if err != nil {
		return encoding{}, fmt.Errorf("store download encoding: %w", err)
	}
	return encoding{Blob: d.Digest, Size: d.Size}, nil
}

// recordEncoding records a stored encoding of commit c and references its
// blob from c's module.
func (s *Service) recordEncoding(ctx context.Context, tx *sqldb.Tx, c Commit, e encoding) error {
	if err := s.st.insertEncoding(ctx, tx, c.ID, encodingFiles, e); err != nil {
		return err
	}
	return s.meta.AddBlobRef(ctx, tx, e.Blob, blobRef(c.ModuleID))
}

// saveEncoding stores a commit's encoding made by a Download. It is an
// optimisation: a failure is logged, and the next Download tries again.
func (s *Service) saveEncoding(ctx context.Context, c Commit, enc []byte) {
	e, err := s.putEncoding(ctx, enc)
	if err == nil {
		err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
			if err := s.recordEncoding(ctx, tx, c, e); err != nil {
				return err
			}
			return s.changed(ctx, tx)
		})
	}
	if err != nil {
		s.log.Warn("store download encoding", zap.String("commit", c.ID), zap.Error(err))
	}
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

// readFiles reads the contents of files in one batch of the CAS (each pack
// they share read once).
func (s *Service) readFiles(ctx context.Context, files []CommitFile) ([]UploadFile, error) {
	digests := make([]string, len(files))
	for i, f := range files {
		digests[i] = f.Blob
	}
	contents, err := s.cas.ReadAll(ctx, digests, s.cfg.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read %d files: %w", len(files), err)
	}
	out := make([]UploadFile, len(files))
	for i, f := range files {
		out[i] = UploadFile{Path: f.Path, Content: contents[i]}
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

// Downloaded is one value of a download read as files: a commit and its
// selected files, for readers inside packyard (SDK generation).
type Downloaded struct {
	Commit Commit
	Files  []UploadFile
}

// DownloadFiles reads the values as files, in order, bounded as Download is:
// every value is planned from the metadata first, and the files are read
// only when all of them fit in one response.
func (s *Service) DownloadFiles(ctx context.Context, reqs []DownloadRequest) ([]Downloaded, error) {
	plans, size, err := s.planDownloads(ctx, reqs, false)
	if err != nil {
		return nil, err
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
