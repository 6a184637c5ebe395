// Package cas is packyard's content-addressed store over a blob.Store.
// Blobs are keyed by sha256 under blobs/sha256/ab/cd/<hex>, deduplicated,
// verified on write, and may carry other digests (sha1 for Composer dists,
// shake256 for buf files) computed in the same pass. The metadata store's
// blob index is the source of truth for what exists and who references it:
// an index row is written only once its bytes are durable, so a recorded
// blob is a stored one. PutAll may write the small contents of one batch
// together as a pack object (packs/<id>), whose rows name the pack and an
// offset in it. GC removes unreferenced blobs after a grace period, and a
// pack once no row names it.
package cas

import (
	"context"
	"io"
)

// Algorithm names a digest algorithm.
type Algorithm string

const (
	SHA256   Algorithm = "sha256"
	SHA1     Algorithm = "sha1"
	SHAKE256 Algorithm = "shake256" // 64 bytes of output, as buf uses it
)

// Descriptor describes a stored blob.
type Descriptor struct {
	Digest string               // hex sha256
	Size   int64                // bytes
	Extra  map[Algorithm]string // hex digests by algorithm, as requested at Put
}

// Store is the content-addressed store.
type Store interface {
	// Put streams r into the store, computing sha256 and any digests asked
	// for with WithDigests in one pass. It fails with errs.ErrInvalidArgument
	// (a digest mismatch or an oversized blob) when WithExpected or
	// WithMaxSize say so, and then stores nothing. Storing existing content
	// again is cheap and returns the same Descriptor.
	Put(ctx context.Context, r io.Reader, opts ...PutOption) (Descriptor, error)
	// PutAll stores contents already in memory as Put stores each (with
	// WithDigests, WithMaxSize and Packed; not WithExpected), in one batch:
	// nothing is stored when one is refused. Contents already recorded are
	// reused (touched), not written again. It returns their descriptors in
	// order.
	PutAll(ctx context.Context, contents [][]byte, opts ...PutOption) ([]Descriptor, error)
	// Open returns the blob's bytes; errs.ErrNotFound when missing.
	Open(ctx context.Context, digest string) (io.ReadSeekCloser, error)
	// ReadAll returns the bytes of each blob of digests, in order, reading
	// each pack they share once; errs.ErrNotFound when one is missing and
	// errs.ErrTooLarge when one is longer than max bytes.
	ReadAll(ctx context.Context, digests []string, max int64) ([][]byte, error)
	// Stat describes a blob, with every extra digest recorded for it.
	Stat(ctx context.Context, digest string) (Descriptor, error)
}

// PutOption configures Put.
type PutOption func(*PutOptions)

// PutOptions is the resolved set of options (exported for implementations).
type PutOptions struct {
	Digests  []Algorithm
	Expected map[Algorithm]string
	MaxSize  int64 // 0: the store's default
	Pack     bool  // PutAll may store small contents together in one pack object
}

// WithDigests asks for extra digests.
func WithDigests(algs ...Algorithm) PutOption {
	return func(o *PutOptions) { o.Digests = append(o.Digests, algs...) }
}

// WithExpected rejects the content unless its digest under alg is hex.
func WithExpected(alg Algorithm, hex string) PutOption {
	return func(o *PutOptions) {
		if o.Expected == nil {
			o.Expected = map[Algorithm]string{}
		}
		o.Expected[alg] = hex
		o.Digests = append(o.Digests, alg)
	}
}

// Packed lets PutAll store the small contents it has to write together in
// one pack object (one write for the batch instead of one per content).
// Such blobs are read with Open and ReadAll only: they have no object of
// their own under Key.
func Packed() PutOption { return func(o *PutOptions) { o.Pack = true } }

// WithMaxSize rejects content longer than n bytes.
func WithMaxSize(n int64) PutOption { return func(o *PutOptions) { o.MaxSize = n } }

// Resolve applies opts.
func Resolve(opts ...PutOption) PutOptions {
	var o PutOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}
