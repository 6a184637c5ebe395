package cas

import (
	"context"
	"crypto/sha1" //nolint:gosec // Composer identifies dists by sha1; it is not used for security here
	"crypto/sha256"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/spool"
)

// DefaultMaxSize caps a blob when Options.MaxSize is zero.
const DefaultMaxSize int64 = 1 << 30

// ShakeSize is the length in bytes of a SHAKE256 digest, as buf uses it.
const ShakeSize = 64

// KeyPrefix is where blobs live in the blob store.
const KeyPrefix = "blobs/sha256/"

// Options configures an IndexedStore.
type Options struct {
	// MaxSize caps every blob (DefaultMaxSize when 0); WithMaxSize can only
	// lower it for one Put.
	MaxSize int64
	// Spool makes the spool files of uploads in progress (their bytes count
	// against its cap). When nil, an uncapped spool over TempDir is used.
	Spool *spool.Spool
	// TempDir holds the spool files when Spool is nil (os.TempDir() when
	// empty). It needs room for the largest concurrent uploads.
	TempDir string
	Logger  *zap.Logger
	// Now is the clock for index timestamps and GC (time.Now when nil).
	Now func() time.Time
}

// IndexedStore is the Store implementation: blobs in a blob.Store,
// their index (sizes, extra digests, references) in the metadata store.
type IndexedStore struct {
	blobs   blob.Store
	index   metadata.Blobs
	maxSize int64
	spool   *spool.Spool // Options.Spool, or made over tempDir on first use
	tempDir string
	spoolMu sync.Mutex
	logger  *zap.Logger
	now     func() time.Time
	locks   keyLocks
}

var _ Store = (*IndexedStore)(nil)

// New returns a content-addressed store over blobs, indexed in index.
func New(blobs blob.Store, index metadata.Blobs, opts Options) *IndexedStore {
	s := &IndexedStore{
		blobs:   blobs,
		index:   index,
		maxSize: opts.MaxSize,
		spool:   opts.Spool,
		tempDir: opts.TempDir,
		logger:  opts.Logger,
		now:     opts.Now,
	}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxSize
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Key returns the blob store key of a sha256 hex digest:
// blobs/sha256/ab/cd/abcd….
func Key(digest string) string {
	return KeyPrefix + digest[:2] + "/" + digest[2:4] + "/" + digest
}

// digestFromKey is Key's inverse; ok is false for keys that do not follow the layout.
func digestFromKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || ValidateDigest(parts[2]) != nil || parts[0] != parts[2][:2] || parts[1] != parts[2][2:4] {
		return "", false
	}
	return parts[2], true
}

// hexLen is the length of each algorithm's hex digest.
var hexLen = map[Algorithm]int{SHA256: 64, SHA1: 40, SHAKE256: 2 * ShakeSize}

// ValidateDigest checks that d is a sha256 digest as the store names blobs:
// 64 lower-case hex digits.
func ValidateDigest(d string) error {
	if !isHex(d, 64) {
		return errs.Invalidf("blob digest %q is not a sha256 digest (64 lower-case hex digits)", d)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func newHash(alg Algorithm) (hash.Hash, error) {
	switch alg {
	case SHA256:
		return sha256.New(), nil
	case SHA1:
		return sha1.New(), nil //nolint:gosec // see import
	case SHAKE256:
		return &shakeHash{sha3.NewSHAKE256()}, nil
	}
	return nil, errs.Invalidf("digest algorithm %q is not supported (use sha256, sha1 or shake256)", alg)
}

// shakeHash adapts SHAKE256 to hash.Hash with a fixed 64-byte output.
type shakeHash struct{ *sha3.SHAKE }

func (h *shakeHash) Size() int { return ShakeSize }
func (h *shakeHash) Sum(b []byte) []byte {
	out := make([]byte, ShakeSize)
	_, _ = h.SHAKE.Read(out)
	return append(b, out...)
}

// Put implements Store.
//
// The content is spooled to a temporary file while every digest is
// computed in one pass; nothing reaches the blob store unless the size and
// the expected digests check out. Then, holding a per-digest lock:
//  1. the object is uploaded (with its known size) unless it already exists;
//  2. the index row is recorded (or touched, merging extra digests), which
//     keeps GC away from it for the grace period;
//  3. the object is checked again and re-uploaded if a GC on another
//     replica deleted it between 1 and 2.
//
// A crash after 1 leaves an object without an index row, which GC collects
// once it is older than the grace period.
func (s *IndexedStore) Put(ctx context.Context, r io.Reader, opts ...PutOption) (Descriptor, error) {
	o := Resolve(opts...)
	algs := []Algorithm{SHA256}
	for _, a := range o.Digests {
		if _, err := newHash(a); err != nil {
			return Descriptor{}, err
		}
		if !containsAlg(algs, a) {
			algs = append(algs, a)
		}
	}
	expected := map[Algorithm]string{}
	for a, want := range o.Expected {
		n, ok := hexLen[a]
		if !ok {
			return Descriptor{}, errs.Invalidf("digest algorithm %q is not supported (use sha256, sha1 or shake256)", a)
		}
		if !containsAlg(algs, a) {
			algs = append(algs, a)
		}
		want = strings.ToLower(want)
		if !isHex(want, n) {
			return Descriptor{}, errs.Invalidf("expected %s digest %q is not %d hex digits", a, o.Expected[a], n)
		}
		expected[a] = want
	}
	limit := s.maxSize
	if o.MaxSize > 0 && o.MaxSize < limit {
		limit = o.MaxSize
	}

	spooled, size, sums, err := s.spoolContent(ctx, r, algs, limit)
	if err != nil {
		return Descriptor{}, err
	}
	defer func() {
		if err := spooled.Close(); err != nil {
			s.logger.Warn("remove spool file", zap.String("path", spooled.Name()), zap.Error(err))
		}
	}()
	for a, want := range expected {
		if got := sums[a]; got != want {
			return Descriptor{}, errs.Invalidf("digest mismatch: expected %s %s, got %s %s", a, want, a, got)
		}
	}

	d := Descriptor{Digest: sums[SHA256], Size: size, Extra: map[Algorithm]string{}}
	for a, v := range sums {
		if a != SHA256 {
			d.Extra[a] = v
		}
	}
	unlock, err := s.locks.lock(ctx, d.Digest)
	if err != nil {
		return Descriptor{}, err
	}
	defer unlock()

	key := Key(d.Digest)
	if err := s.ensureObject(ctx, key, spooled, size); err != nil {
		return Descriptor{}, err
	}
	extra := make(map[string]string, len(d.Extra))
	for a, v := range d.Extra {
		extra[string(a)] = v
	}
	now := s.now()
	if err := s.index.RecordBlob(ctx, metadata.Blob{Digest: d.Digest, Size: size, Extra: extra, CreatedAt: now, TouchedAt: now}); err != nil {
		return Descriptor{}, fmt.Errorf("cas: record blob %s: %w", d.Digest, err)
	}
	if err := s.ensureObject(ctx, key, spooled, size); err != nil {
		return Descriptor{}, err
	}
	return d, nil
}

func containsAlg(algs []Algorithm, a Algorithm) bool {
	for _, x := range algs {
		if x == a {
			return true
		}
	}
	return false
}

// spoolContent copies r into a temporary file, hashing it, and fails with
// errs.ErrTooLarge past limit (or with the spool's error past its cap). On
// success the file is positioned at its start; closing it removes it.
func (s *IndexedStore) spoolContent(ctx context.Context, r io.Reader, algs []Algorithm, limit int64) (_ *spool.File, _ int64, _ map[Algorithm]string, err error) {
	sp, err := s.spooler()
	if err != nil {
		return nil, 0, nil, err
	}
	f, err := sp.Create(ctx, "packyard-cas-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("cas: create spool file: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := f.Close(); rerr != nil {
				s.logger.Warn("remove spool file", zap.String("path", f.Name()), zap.Error(rerr))
			}
		}
	}()
	hashes := make([]hash.Hash, len(algs))
	writers := []io.Writer{f}
	for i, a := range algs {
		hashes[i], _ = newHash(a) // validated by the caller
		writers = append(writers, hashes[i])
	}
	n, err := io.Copy(io.MultiWriter(writers...), io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, 0, nil, cerr
		}
		if errs.Category(err) != nil { // the spool's cap
			return nil, 0, nil, err
		}
		return nil, 0, nil, fmt.Errorf("cas: read content: %w", err)
	}
	if n > limit {
		return nil, 0, nil, errs.TooLargef("blob is larger than the maximum of %d bytes", limit)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, nil, fmt.Errorf("cas: rewind spool file: %w", err)
	}
	sums := make(map[Algorithm]string, len(algs))
	for i, a := range algs {
		sums[a] = hex.EncodeToString(hashes[i].Sum(nil))
	}
	return f, n, sums, nil
}

// spooler is the spool of upload files: Options.Spool, or an uncapped one
// over TempDir made on first use.
func (s *IndexedStore) spooler() (*spool.Spool, error) {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spool == nil {
		dir := s.tempDir
		if dir == "" {
			dir = os.TempDir()
		}
		sp, err := spool.New(dir, 0)
		if err != nil {
			return nil, fmt.Errorf("cas: %w", err)
		}
		s.spool = sp
	}
	return s.spool, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ensureObject uploads the content (spooled or in memory) under key unless an object of
// the right size is already there.
func (s *IndexedStore) ensureObject(ctx context.Context, key string, content io.ReadSeeker, size int64) error {
	info, err := s.blobs.Stat(ctx, key)
	switch {
	case err == nil && info.Size == size:
		return nil
	case err == nil:
		s.logger.Warn("replacing a blob object of the wrong size", zap.String("key", key),
			zap.Int64("size", info.Size), zap.Int64("want", size))
	case !errors.Is(err, errs.ErrNotFound):
		return fmt.Errorf("cas: stat %s: %w", key, err)
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cas: rewind content: %w", err)
	}
	// Hide the content's other methods: the blob store gets a plain stream.
	if err := s.blobs.Put(ctx, key, struct{ io.Reader }{content}, size); err != nil {
		return fmt.Errorf("cas: store %s: %w", key, err)
	}
	return nil
}

// Open implements Store. It reads the blob's own object when there is one
// (the index is not consulted, so such a blob is readable as soon as its
// object exists), else the blob's section of the pack its row names.
func (s *IndexedStore) Open(ctx context.Context, digest string) (io.ReadSeekCloser, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	rc, err := s.blobs.Open(ctx, Key(digest))
	if err == nil {
		return rc, nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return nil, fmt.Errorf("cas: open blob %s: %w", digest, err)
	}
	b, err := s.index.GetBlob(ctx, digest)
	switch {
	case err == nil && b.Pack != "":
		return s.openPacked(ctx, b)
	case err == nil || errors.Is(err, errs.ErrNotFound):
		return nil, fmt.Errorf("blob %s: %w", digest, errs.ErrNotFound)
	}
	return nil, fmt.Errorf("cas: open blob %s: %w", digest, err)
}

// Stat implements Store from the index, with every extra digest recorded.
func (s *IndexedStore) Stat(ctx context.Context, digest string) (Descriptor, error) {
	if err := ValidateDigest(digest); err != nil {
		return Descriptor{}, err
	}
	b, err := s.index.GetBlob(ctx, digest)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return Descriptor{}, fmt.Errorf("blob %s: %w", digest, errs.ErrNotFound)
		}
		return Descriptor{}, fmt.Errorf("cas: stat blob %s: %w", digest, err)
	}
	d := Descriptor{Digest: b.Digest, Size: b.Size, Extra: make(map[Algorithm]string, len(b.Extra))}
	for a, v := range b.Extra {
		d.Extra[Algorithm(a)] = v
	}
	return d, nil
}

// keyLocks is a set of per-key mutexes that can be waited for with a context.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
