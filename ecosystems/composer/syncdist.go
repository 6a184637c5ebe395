package composer

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // Composer's dist shasum is a sha1
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/cas"
)

// A sync's small archives are built in memory and stored together
// (cas.PutAll: their objects written as a batch, their index rows in one
// write) instead of one Put each, which costs a spool file, an object
// write and an index write per archive. An archive larger than
// distBatchItem is streamed with Put as before; the batch is stored when
// it holds distBatchBytes, and at the end of the sync's reads.
const (
	distBatchItem  = 1 << 20
	distBatchBytes = 32 << 20
)

// distBatch is the archives built and not yet stored; each descriptor is
// filled in when its batch is stored (its sha1 is known at once).
type distBatch struct {
	contents [][]byte
	descs    []*cas.Descriptor
	size     int64
}

// errTooBig stops building an archive into memory past distBatchItem.
var errTooBig = errors.New("archive too large to batch")

// cappedBuffer is a buffer that refuses to grow past limit.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.limit {
		return 0, errTooBig
	}
	return c.Buffer.Write(p)
}

// distOptions are the Put options of a commit's archive.
func (s *Service) distOptions() []cas.PutOption {
	opts := []cas.PutOption{cas.WithDigests(cas.SHA1)}
	if s.cfg.MaxDistSize > 0 {
		opts = append(opts, cas.WithMaxSize(s.cfg.MaxDistSize))
	}
	return opts
}

// buildDist builds the zip of a commit: a small one into the batch (its
// descriptor complete once the batch is stored), a larger one streamed
// into the CAS.
func (s *Service) buildDist(ctx context.Context, c vcs.Commit, name string, batch *distBatch) (*cas.Descriptor, error) {
	files, err := c.Files()
	if err != nil {
		return nil, err
	}
	vendor, pkg, _ := strings.Cut(name, "/")
	prefix := fmt.Sprintf("%s-%s-%s/", vendor, pkg, c.Hash[:7])
	limit := int64(distBatchItem)
	if s.cfg.MaxDistSize > 0 {
		limit = min(limit, s.cfg.MaxDistSize)
	}
	buf := &cappedBuffer{limit: int(limit)}
	switch err := format.BuildZip(buf, prefix, c.When, files); {
	case err == nil:
		return s.batchDist(ctx, batch, buf.Bytes())
	case !errors.Is(err, errTooBig):
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(format.BuildZip(pw, prefix, c.When, files)) }()
	d, err := s.cas.Put(ctx, pr, s.distOptions()...)
	pr.CloseWithError(io.ErrClosedPipe)
	return &d, err
}

// batchDist adds an archive to the batch, storing the batch once it is full.
func (s *Service) batchDist(ctx context.Context, batch *distBatch, zip []byte) (*cas.Descriptor, error) {
	sum := sha1.Sum(zip) //nolint:gosec // Composer's dist shasum is a sha1
	d := &cas.Descriptor{Size: int64(len(zip)), Extra: map[cas.Algorithm]string{cas.SHA1: hex.EncodeToString(sum[:])}}
	batch.contents, batch.descs = append(batch.contents, zip), append(batch.descs, d)
	batch.size += int64(len(zip))
	if batch.size >= distBatchBytes {
		return d, s.storeDists(ctx, batch)
	}
	return d, nil
}

// storeDists stores the batch's archives and fills in their descriptors.
func (s *Service) storeDists(ctx context.Context, batch *distBatch) error {
	if len(batch.contents) == 0 {
		return nil
	}
	out, err := s.cas.PutAll(ctx, batch.contents, s.distOptions()...)
	if err != nil {
		return fmt.Errorf("store %d archives: %w", len(batch.contents), err)
	}
	for i, d := range batch.descs {
		if out[i].Extra[cas.SHA1] != d.Extra[cas.SHA1] {
			return fmt.Errorf("store archives: sha1 %s, want %s", out[i].Extra[cas.SHA1], d.Extra[cas.SHA1])
		}
		*d = out[i]
	}
	*batch = distBatch{}
	return nil
}
