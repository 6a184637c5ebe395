package cas

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// batchParallelism bounds the concurrent blob store calls of one PutAll.
const batchParallelism = 16

// PutAll implements Store: the contents, already in memory, are hashed and
// checked first (nothing is stored when one fails), then stored as Put
// stores one (object, index row, object re-checked) with every digest's
// lock held, the objects several at a time and the index rows in one write.
// Only the objects that were already there are re-checked: one this call
// uploaded is newer than any GC's grace and had no index row for a GC to
// act on until this call recorded it, touched now.
func (s *IndexedStore) PutAll(ctx context.Context, contents [][]byte, opts ...PutOption) ([]Descriptor, error) {
	o := Resolve(opts...)
	if len(o.Expected) > 0 {
		return nil, errs.Invalidf("PutAll takes no expected digest; compare the returned ones")
	}
	algs := []Algorithm{SHA256}
	for _, a := range o.Digests {
		if _, err := newHash(a); err != nil {
			return nil, err
		}
		if !containsAlg(algs, a) {
			algs = append(algs, a)
		}
	}
	limit := s.maxSize
	if o.MaxSize > 0 && o.MaxSize < limit {
		limit = o.MaxSize
	}
	out, unique, err := describeAll(contents, algs, limit)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lockAll(ctx, out, unique)
	if err != nil {
		return nil, err
	}
	defer unlock()
	present, err := s.ensureObjects(ctx, contents, out, unique)
	if err != nil {
		return nil, err
	}
	if err := s.recordAll(ctx, out, unique); err != nil {
		return nil, err
	}
	if _, err := s.ensureObjects(ctx, contents, out, present); err != nil {
		return nil, err
	}
	return out, nil
}

// describeAll hashes every content and returns its descriptor, and the
// index of the first content of each distinct digest.
func describeAll(contents [][]byte, algs []Algorithm, limit int64) ([]Descriptor, []int, error) {
	out := make([]Descriptor, len(contents))
	seen := make(map[string]bool, len(contents))
	var unique []int
	for i, c := range contents {
		if int64(len(c)) > limit {
			return nil, nil, errs.TooLargef("blob is larger than the maximum of %d bytes", limit)
		}
		d := Descriptor{Size: int64(len(c)), Extra: make(map[Algorithm]string, len(algs)-1)}
		for _, a := range algs {
			h, _ := newHash(a) // validated by the caller
			_, _ = h.Write(c)
			sum := hex.EncodeToString(h.Sum(nil))
			if a == SHA256 {
				d.Digest = sum
			} else {
				d.Extra[a] = sum
			}
		}
		out[i] = d
		if !seen[d.Digest] {
			seen[d.Digest] = true
			unique = append(unique, i)
		}
	}
	return out, unique, nil
}

// lockAll takes the lock of every distinct digest, in digest order (so two
// batches never wait for each other in a cycle).
func (s *IndexedStore) lockAll(ctx context.Context, ds []Descriptor, unique []int) (func(), error) {
	digests := make([]string, len(unique))
	for j, i := range unique {
		digests[j] = ds[i].Digest
	}
	slices.Sort(digests)
	unlocks := make([]func(), 0, len(digests))
	unlock := func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
	for _, d := range digests {
		u, err := s.locks.lock(ctx, d)
		if err != nil {
			unlock()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return unlock, nil
}

// ensureObjects uploads every distinct content whose object is missing (or
// of the wrong size): the objects are checked several at a time, and the
// missing ones uploaded in one batch when the blob store takes batches,
// else several at a time. It returns the contents whose objects were there.
func (s *IndexedStore) ensureObjects(ctx context.Context, contents [][]byte, ds []Descriptor, unique []int) ([]int, error) {
	missing := make([]bool, len(contents))
	err := eachParallel(ctx, unique, func(ctx context.Context, i int) error {
		info, err := s.blobs.Stat(ctx, Key(ds[i].Digest))
		switch {
		case err == nil:
			missing[i] = info.Size != ds[i].Size
		case errors.Is(err, errs.ErrNotFound):
			missing[i] = true
		default:
			return fmt.Errorf("cas: stat %s: %w", Key(ds[i].Digest), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var objs []blob.Object
	var put, present []int
	for _, i := range unique {
		if missing[i] {
			objs = append(objs, blob.Object{Key: Key(ds[i].Digest), Data: contents[i]})
			put = append(put, i)
		} else {
			present = append(present, i)
		}
	}
	if len(objs) == 0 {
		return present, nil
	}
	batch, ok := s.blobs.(blob.BatchPutter)
	if !ok {
		return present, eachParallel(ctx, put, func(ctx context.Context, i int) error {
			if err := s.blobs.Put(ctx, Key(ds[i].Digest), struct{ io.Reader }{bytes.NewReader(contents[i])}, ds[i].Size); err != nil {
				return fmt.Errorf("cas: store %s: %w", Key(ds[i].Digest), err)
			}
			return nil
		})
	}
	if err := batch.PutAll(ctx, objs); err != nil {
		return nil, fmt.Errorf("cas: store %d objects: %w", len(objs), err)
	}
	return present, nil
}

// eachParallel runs fn for every index of is, batchParallelism at a time,
// and returns the first error.
func eachParallel(ctx context.Context, is []int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(batchParallelism)
	for _, i := range is {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// recordAll writes the index rows of the distinct contents in one write.
func (s *IndexedStore) recordAll(ctx context.Context, ds []Descriptor, unique []int) error {
	now := s.now()
	rows := make([]metadata.Blob, len(unique))
	for j, i := range unique {
		extra := make(map[string]string, len(ds[i].Extra))
		for a, v := range ds[i].Extra {
			extra[string(a)] = v
		}
		rows[j] = metadata.Blob{Digest: ds[i].Digest, Size: ds[i].Size, Extra: extra, CreatedAt: now, TouchedAt: now}
	}
	if err := s.index.RecordBlobs(ctx, rows); err != nil {
		return fmt.Errorf("cas: record %d blobs: %w", len(rows), err)
	}
	return nil
}
