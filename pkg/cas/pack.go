package cas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// PackPrefix is where pack objects live in the blob store: packs/ab/<id>,
// where id is 32 random hex digits, never reused, so that a pack a GC finds
// unused never gains a row again.
const PackPrefix = "packs/"

const (
	// packMaxBlob is the largest content PutAll packs; larger ones get
	// their own object.
	packMaxBlob = 256 << 10
	// packMaxBytes bounds one pack object; a batch packs into as many as
	// it needs.
	packMaxBytes = 8 << 20
)

// PackKey returns the blob store key of a pack id.
func PackKey(id string) string { return PackPrefix + id[:2] + "/" + id }

// packIDFromKey is packKey's inverse; ok is false for other keys.
func packIDFromKey(key string) (string, bool) {
	if len(key) != len(PackPrefix)+3+32 || key[:len(PackPrefix)] != PackPrefix {
		return "", false
	}
	id := key[len(PackPrefix)+3:]
	if !isHex(id, 32) || key[len(PackPrefix):len(PackPrefix)+3] != id[:2]+"/" {
		return "", false
	}
	return id, true
}

// splitPackable splits the contents of is into those small enough to pack
// (when there are at least two of them) and the others.
func splitPackable(ds []Descriptor, is []int) (packed, own []int) {
	for _, i := range is {
		if ds[i].Size <= packMaxBlob {
			packed = append(packed, i)
		} else {
			own = append(own, i)
		}
	}
	if len(packed) < 2 {
		return nil, is
	}
	return packed, own
}

// packPlan is one pack object of a batch: the contents it holds, at their offsets.
type packPlan struct {
	id      string
	members []int
	offsets []int64
	size    int64
}

// writePacks writes the contents of is as pack objects of at most
// packMaxBytes each, several at a time, and returns the pack id and offset
// of each content of is, in order.
func (s *IndexedStore) writePacks(ctx context.Context, contents [][]byte, is []int) ([]string, []int64, error) {
	var plans []*packPlan
	for _, i := range is {
		n := int64(len(contents[i]))
		if len(plans) == 0 || plans[len(plans)-1].size+n > packMaxBytes {
			plans = append(plans, &packPlan{id: newPackID()})
		}
		p := plans[len(plans)-1]
		p.members = append(p.members, i)
		p.offsets = append(p.offsets, p.size)
		p.size += n
	}
	idx := make([]int, len(plans))
	for j := range idx {
		idx[j] = j
	}
	err := eachParallel(ctx, idx, func(ctx context.Context, j int) error {
		p := plans[j]
		buf := make([]byte, 0, p.size)
		for _, i := range p.members {
			buf = append(buf, contents[i]...)
		}
		if err := s.blobs.Put(ctx, PackKey(p.id), &sliceReader{b: buf}, p.size); err != nil {
			return fmt.Errorf("cas: store pack %s: %w", p.id, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(is))
	offsets := make([]int64, 0, len(is))
	for _, p := range plans {
		for _, off := range p.offsets {
			ids = append(ids, p.id)
			offsets = append(offsets, off)
		}
	}
	return ids, offsets, nil
}

func newPackID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sliceReader is a plain reader over bytes (no io.ReaderAt or WriterTo for
// a blob store to take another path with).
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// openPacked opens a packed blob's section of its pack object.
func (s *IndexedStore) openPacked(ctx context.Context, b metadata.Blob) (io.ReadSeekCloser, error) {
	rc, err := s.blobs.Open(ctx, PackKey(b.Pack))
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, fmt.Errorf("blob %s: %w", b.Digest, errs.ErrNotFound)
		}
		return nil, fmt.Errorf("cas: open pack %s: %w", b.Pack, err)
	}
	if _, err := rc.Seek(b.Offset, io.SeekStart); err != nil {
		_ = rc.Close()
		return nil, fmt.Errorf("cas: open pack %s: %w", b.Pack, err)
	}
	return &section{rc: rc, off: b.Offset, size: b.Size}, nil
}

// section is size bytes at off of an open pack object.
type section struct {
	rc        io.ReadSeekCloser
	off, size int64
	pos       int64
}

func (r *section) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	n, err := r.rc.Read(p)
	r.pos += int64(n)
	if errors.Is(err, io.EOF) && r.pos < r.size {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.EOF) || (err == nil && r.pos >= r.size) {
		return n, nil
	}
	return n, err
}

func (r *section) Seek(offset int64, whence int) (int64, error) {
	abs, err := blob.SeekTarget(r.pos, r.size, offset, whence)
	if err != nil {
		return 0, err
	}
	if _, err := r.rc.Seek(r.off+abs, io.SeekStart); err != nil {
		return 0, err
	}
	r.pos = abs
	return abs, nil
}

func (r *section) Close() error { return r.rc.Close() }

// ReadAll implements Store: the index is asked about every digest at once,
// each pack holding some of them is read once (from its first wanted byte
// to its last), and the blobs of their own are read several at a time.
func (s *IndexedStore) ReadAll(ctx context.Context, digests []string, max int64) ([][]byte, error) {
	for _, d := range digests {
		if err := ValidateDigest(d); err != nil {
			return nil, err
		}
	}
	rows, err := s.index.GetBlobs(ctx, digests)
	if err != nil {
		return nil, fmt.Errorf("cas: look up %d blobs: %w", len(digests), err)
	}
	out := make([][]byte, len(digests))
	packs := map[string][]int{}
	var own []int
	for i, d := range digests {
		r, ok := rows[d]
		switch {
		case ok && r.Size > max:
			return nil, errs.TooLargef("blob %s has %d bytes, more than %d", d, r.Size, max)
		case ok && r.Pack != "":
			packs[r.Pack] = append(packs[r.Pack], i)
		default:
			own = append(own, i)
		}
	}
	for id, is := range packs {
		if err := s.readPack(ctx, id, digests, rows, is, out); err != nil {
			return nil, err
		}
	}
	err = eachParallel(ctx, own, func(ctx context.Context, i int) error {
		b, err := s.readOne(ctx, digests[i], max)
		out[i] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readPack reads the blobs is of digests from pack id into out.
func (s *IndexedStore) readPack(ctx context.Context, id string, digests []string, rows map[string]metadata.Blob, is []int, out [][]byte) error {
	start, end := int64(-1), int64(0)
	for _, i := range is {
		r := rows[digests[i]]
		if start < 0 || r.Offset < start {
			start = r.Offset
		}
		end = max(end, r.Offset+r.Size)
	}
	b, err := s.readRange(ctx, id, start, end)
	if err != nil {
		return err
	}
	for _, i := range is {
		r := rows[digests[i]]
		out[i] = slices.Clone(b[r.Offset-start : r.Offset-start+r.Size])
	}
	return nil
}

// readRange reads bytes start to end of pack id.
func (s *IndexedStore) readRange(ctx context.Context, id string, start, end int64) ([]byte, error) {
	section, err := s.openPacked(ctx, metadata.Blob{Digest: "pack " + id, Pack: id, Offset: start, Size: end - start})
	if err != nil {
		return nil, err
	}
	defer section.Close()
	b := make([]byte, end-start)
	if _, err := io.ReadFull(section, b); err != nil {
		return nil, fmt.Errorf("cas: read pack %s: %w", id, err)
	}
	return b, nil
}

// readOne reads one blob through Open, up to max bytes.
func (s *IndexedStore) readOne(ctx context.Context, digest string, max int64) ([]byte, error) {
	rc, err := s.Open(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("cas: read blob %s: %w", digest, err)
	}
	if int64(len(b)) > max {
		return nil, errs.TooLargef("blob %s is longer than %d bytes", digest, max)
	}
	return b, nil
}
