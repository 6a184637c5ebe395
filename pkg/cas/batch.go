package cas

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// batchParallelism bounds the concurrent blob store calls of one PutAll.
const batchParallelism = 16

// PutAll implements Store, in three steps with every digest's lock held:
//
//  1. plan: the contents, already in memory, are hashed and checked
//     (nothing is stored when one fails), and the index rows of those
//     already recorded are touched in one transaction. A touched row is
//     one a GC has not deleted (its delete is conditional on an old
//     touch), and its bytes are durable (rows follow bytes), so those
//     contents are reused without asking the blob store anything;
//  2. write: the others are written, the small ones together as one pack
//     object when Packed is given, the rest as their own objects (in one
//     batch when the blob store takes batches, else several at a time);
//  3. record: their index rows are written in one transaction, only now
//     that their bytes are durable. A crash before leaves objects without
//     rows, which GC collects after the grace period.
//
// Rows of reused blobs that lack an extra digest computed here get it.
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
	recorded, missing, err := s.touchAll(ctx, out, unique)
	if err != nil {
		return nil, err
	}
	rows, err := s.writeAll(ctx, contents, out, missing, o.Pack)
	if err != nil {
		return nil, err
	}
	rows = append(rows, extraDigestRows(out, unique, recorded)...)
	if len(rows) > 0 {
		if err := s.index.RecordBlobs(ctx, rows); err != nil {
			return nil, fmt.Errorf("cas: record %d blobs: %w", len(rows), err)
		}
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

// touchAll touches the rows of the distinct contents that are recorded and
// returns those rows, and the contents that are not.
func (s *IndexedStore) touchAll(ctx context.Context, ds []Descriptor, unique []int) (map[string]metadata.Blob, []int, error) {
	digests := make([]string, len(unique))
	for j, i := range unique {
		digests[j] = ds[i].Digest
	}
	recorded, err := s.index.TouchBlobs(ctx, digests, s.now())
	if err != nil {
		return nil, nil, fmt.Errorf("cas: look up %d blobs: %w", len(digests), err)
	}
	var missing []int
	for _, i := range unique {
		if _, ok := recorded[ds[i].Digest]; !ok {
			missing = append(missing, i)
		}
	}
	return recorded, missing, nil
}

// extraDigestRows returns the rows of recorded contents that lack an extra
// digest computed for them, with it (and their recorded location).
func extraDigestRows(ds []Descriptor, unique []int, recorded map[string]metadata.Blob) []metadata.Blob {
	var rows []metadata.Blob
	for _, i := range unique {
		r, ok := recorded[ds[i].Digest]
		if !ok {
			continue
		}
		row := indexRow(ds[i], r.TouchedAt)
		if hasAllExtra(r.Extra, row.Extra) {
			continue
		}
		row.Pack, row.Offset = r.Pack, r.Offset
		rows = append(rows, row)
	}
	return rows
}

func hasAllExtra(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// writeAll writes the missing contents (the small ones in one pack when
// pack is set) and returns their index rows, to be recorded now that their
// bytes are durable.
func (s *IndexedStore) writeAll(ctx context.Context, contents [][]byte, ds []Descriptor, missing []int, pack bool) ([]metadata.Blob, error) {
	now := s.now()
	rows := make([]metadata.Blob, 0, len(missing))
	own := missing
	if pack {
		var packed []int
		packed, own = splitPackable(ds, missing)
		if len(packed) > 0 {
			ids, offsets, err := s.writePacks(ctx, contents, packed)
			if err != nil {
				return nil, err
			}
			for j, i := range packed {
				row := indexRow(ds[i], now)
				row.Pack, row.Offset = ids[j], offsets[j]
				rows = append(rows, row)
			}
		}
	}
	if err := s.writeObjects(ctx, contents, ds, own); err != nil {
		return nil, err
	}
	for _, i := range own {
		rows = append(rows, indexRow(ds[i], now))
	}
	return rows, nil
}

// writeObjects writes each content of is as its own object: in one batch
// when the blob store takes batches, else several at a time.
func (s *IndexedStore) writeObjects(ctx context.Context, contents [][]byte, ds []Descriptor, is []int) error {
	if len(is) == 0 {
		return nil
	}
	batch, ok := s.blobs.(blob.BatchPutter)
	if !ok || len(is) == 1 {
		return eachParallel(ctx, is, func(ctx context.Context, i int) error {
			if err := s.blobs.Put(ctx, Key(ds[i].Digest), struct{ io.Reader }{bytes.NewReader(contents[i])}, ds[i].Size); err != nil {
				return fmt.Errorf("cas: store %s: %w", Key(ds[i].Digest), err)
			}
			return nil
		})
	}
	objs := make([]blob.Object, len(is))
	for j, i := range is {
		objs[j] = blob.Object{Key: Key(ds[i].Digest), Data: contents[i]}
	}
	if err := batch.PutAll(ctx, objs); err != nil {
		return fmt.Errorf("cas: store %d objects: %w", len(objs), err)
	}
	return nil
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

// indexRow is the index row of a content stored as its own object.
func indexRow(d Descriptor, now time.Time) metadata.Blob {
	extra := make(map[string]string, len(d.Extra))
	for a, v := range d.Extra {
		extra[string(a)] = v
	}
	return metadata.Blob{Digest: d.Digest, Size: d.Size, Extra: extra, CreatedAt: now, TouchedAt: now}
}
