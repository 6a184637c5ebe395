// Package castest is the conformance suite of packyard's content-addressed
// store: cas.IndexedStore over a blob store and a real metadata index. Each
// blob driver runs it with its own back ends:
//
//	castest.Run(t, func(t *testing.T) castest.Backends {
//		return castest.Backends{Blobs: newBlobStore(t), Index: newMetadataStore(t)}
//	})
package castest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Backends are what a content-addressed store is built on; the factory
// returns fresh, empty ones for each subtest.
type Backends struct {
	Blobs blob.Store
	Index metadata.Store
}

// Factory makes fresh back ends, cleaned up with t.Cleanup.
type Factory func(t *testing.T) Backends

// Clock is a settable clock for the store's index timestamps and GC.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is one subtest's store and what it is built on.
type fixture struct {
	*cas.IndexedStore
	blobs   blob.Store
	index   metadata.Store
	clock   *Clock
	tempDir string
}

func newFixture(t *testing.T, newBackends Factory, maxSize int64) fixture {
	b := newBackends(t)
	require.NotNil(t, b.Blobs)
	require.NotNil(t, b.Index)
	f := fixture{blobs: b.Blobs, index: b.Index, clock: &Clock{now: time.Now()}, tempDir: t.TempDir()}
	f.IndexedStore = cas.New(b.Blobs, b.Index, cas.Options{
		MaxSize: maxSize, TempDir: f.tempDir, Logger: zaptest.NewLogger(t), Now: f.clock.Now,
	})
	// Every behaviour, including failed uploads, must remove its spool files.
	t.Cleanup(func() {
		entries, err := os.ReadDir(f.tempDir)
		require.NoError(t, err)
		require.Empty(t, entries, "spool files left behind")
	})
	return f
}

// Run runs every behaviour of the content-addressed store.
func Run(t *testing.T, newBackends Factory) {
	tests := []struct {
		name    string
		maxSize int64
		fn      func(t *testing.T, f fixture)
	}{
		{"PutOpenStat", 0, testPutOpenStat},
		{"Dedupe", 0, testDedupe},
		{"DigestMismatch", 0, testDigestMismatch},
		{"ExtraDigests", 0, testExtraDigests},
		{"ExtraDigestsAddedLater", 0, testExtraDigestsLater},
		{"MaxSize", 1024, testMaxSize},
		{"FailedReads", 0, testFailedReads},
		{"InvalidDigests", 0, testInvalidDigests},
		{"ConcurrentIdenticalPuts", 0, testConcurrentPuts},
		{"GC", 0, testGC},
		{"GCOrphans", 0, testGCOrphans},
		{"PutAll", 0, testPutAll},
		{"PutAllMaxSize", 1024, testPutAllMaxSize},
		{"PutAllPacked", 0, testPutAllPacked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newFixture(t, newBackends, tc.maxSize)) })
	}
}

func readBlob(t *testing.T, f fixture, digest string) []byte {
	t.Helper()
	rc, err := f.Open(t.Context(), digest)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// objects returns the keys of every object under blobs/ (nil when the
// store cannot list; callers then check single keys).
func objects(t *testing.T, f fixture) []string {
	t.Helper()
	l, ok := f.blobs.(blob.Lister)
	if !ok {
		return nil
	}
	var keys []string
	require.NoError(t, l.List(t.Context(), "blobs", func(i blob.Info) error { keys = append(keys, i.Key); return nil }))
	return keys
}

func requireAbsent(t *testing.T, f fixture, digest string) {
	t.Helper()
	_, err := f.Stat(t.Context(), digest)
	require.ErrorIs(t, err, errs.ErrNotFound, "index entry of %s", digest)
	_, err = f.Open(t.Context(), digest)
	require.ErrorIs(t, err, errs.ErrNotFound, "object of %s", digest)
	_, err = f.blobs.Stat(t.Context(), cas.Key(digest))
	require.ErrorIs(t, err, errs.ErrNotFound, "object of %s", digest)
}

const (
	helloSHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	abcSHA256   = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
)

func testPutOpenStat(t *testing.T, f fixture) {
	d, err := f.Put(t.Context(), strings.NewReader("hello"))
	require.NoError(t, err)
	require.Equal(t, helloSHA256, d.Digest)
	require.Equal(t, int64(5), d.Size)
	require.Empty(t, d.Extra)
	require.Equal(t, []byte("hello"), readBlob(t, f, d.Digest))

	st, err := f.Stat(t.Context(), d.Digest)
	require.NoError(t, err)
	require.Equal(t, d.Digest, st.Digest)
	require.Equal(t, int64(5), st.Size)

	// The documented key layout.
	require.Equal(t, "blobs/sha256/2c/f2/"+helloSHA256, cas.Key(helloSHA256))
	info, err := f.blobs.Stat(t.Context(), "blobs/sha256/2c/f2/"+helloSHA256)
	require.NoError(t, err)
	require.Equal(t, int64(5), info.Size)

	// Seekable, for range requests.
	rc, err := f.Open(t.Context(), d.Digest)
	require.NoError(t, err)
	defer rc.Close()
	_, err = rc.Seek(1, io.SeekStart)
	require.NoError(t, err)
	rest, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "ello", string(rest))

	// The empty blob is a blob too.
	e, err := f.Put(t.Context(), bytes.NewReader(nil))
	require.NoError(t, err)
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", e.Digest)
	require.Empty(t, readBlob(t, f, e.Digest))

	requireAbsent(t, f, abcSHA256)
}

func testDedupe(t *testing.T, f fixture) {
	ctx := t.Context()
	data := bytes.Repeat([]byte("dedupe me "), 10000)
	d1, err := f.Put(ctx, bytes.NewReader(data), cas.WithDigests(cas.SHA1))
	require.NoError(t, err)
	info1, err := f.blobs.Stat(ctx, cas.Key(d1.Digest))
	require.NoError(t, err)
	row1, err := f.index.GetBlob(ctx, d1.Digest)
	require.NoError(t, err)

	f.clock.Advance(time.Minute)
	d2, err := f.Put(ctx, bytes.NewReader(data), cas.WithDigests(cas.SHA1))
	require.NoError(t, err)
	require.Equal(t, d1, d2, "storing the same content again returns the same descriptor")

	info2, err := f.blobs.Stat(ctx, cas.Key(d1.Digest))
	require.NoError(t, err)
	require.Equal(t, info1.ModTime, info2.ModTime, "existing content must not be uploaded again")
	row2, err := f.index.GetBlob(ctx, d1.Digest)
	require.NoError(t, err)
	require.True(t, row2.TouchedAt.After(row1.TouchedAt), "reuse must touch the index entry (GC relies on it)")
	if keys := objects(t, f); keys != nil {
		require.Equal(t, []string{cas.Key(d1.Digest)}, keys)
	}
}

func testDigestMismatch(t *testing.T, f fixture) {
	ctx := t.Context()
	wrong := strings.Repeat("0", 64)
	_, err := f.Put(ctx, strings.NewReader("abc"), cas.WithExpected(cas.SHA256, wrong))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	require.ErrorContains(t, err, wrong, "the message names the expected digest")
	require.ErrorContains(t, err, abcSHA256, "the message names the actual digest")
	requireAbsent(t, f, abcSHA256)

	_, err = f.Put(ctx, strings.NewReader("abc"), cas.WithExpected(cas.SHA1, strings.Repeat("1", 40)))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	require.ErrorContains(t, err, "a9993e364706816aba3e25717850c26c9cd0d89d")
	requireAbsent(t, f, abcSHA256)

	_, err = f.Put(ctx, strings.NewReader("abc"), cas.WithExpected(cas.SHAKE256, strings.Repeat("2", 128)))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	requireAbsent(t, f, abcSHA256)

	for _, bad := range []struct {
		alg cas.Algorithm
		hex string
	}{{cas.SHA256, "xyz"}, {cas.SHA1, strings.Repeat("0", 64)}, {"md5", strings.Repeat("0", 32)}} {
		_, err = f.Put(ctx, strings.NewReader("abc"), cas.WithExpected(bad.alg, bad.hex))
		require.ErrorIs(t, err, errs.ErrInvalidArgument, "%s %s", bad.alg, bad.hex)
		requireAbsent(t, f, abcSHA256)
	}
	if keys := objects(t, f); keys != nil {
		require.Empty(t, keys)
	}

	// The right digests, in any case, pass.
	d, err := f.Put(ctx, strings.NewReader("abc"),
		cas.WithExpected(cas.SHA256, strings.ToUpper(abcSHA256)),
		cas.WithExpected(cas.SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"))
	require.NoError(t, err)
	require.Equal(t, abcSHA256, d.Digest)
	require.Equal(t, map[cas.Algorithm]string{cas.SHA1: "a9993e364706816aba3e25717850c26c9cd0d89d"}, d.Extra)
}

func testExtraDigests(t *testing.T, f fixture) {
	// Vectors: FIPS 180 and FIPS 202 examples (SHAKE256 with 512 bits of output).
	cases := []struct {
		name     string
		data     []byte
		sha256   string
		sha1     string
		shake256 string
	}{
		{"empty", nil,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"da39a3ee5e6b4b0d3255bfef95601890afd80709",
			"46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762fd75dc4ddd8c0f200cb05019d67b592f6fc821c49479ab48640292eacb3b7c4be"},
		{"abc", []byte("abc"),
			abcSHA256,
			"a9993e364706816aba3e25717850c26c9cd0d89d",
			"483366601360a8771c6863080cc4114d8db44530f8f1e1ee4f94ea37e78b5739d5a15bef186a5386c75744c0527e1faa9f8726e462a12a4feb06bd8801e751e4"},
		{"million-a", bytes.Repeat([]byte("a"), 1000000),
			"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
			"34aa973cd4c4daa4f61eeb2bdbad27316534016f",
			""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			algs := []cas.Algorithm{cas.SHA1}
			if c.shake256 != "" {
				algs = append(algs, cas.SHAKE256)
			}
			d, err := f.Put(t.Context(), bytes.NewReader(c.data), cas.WithDigests(algs...))
			require.NoError(t, err)
			require.Equal(t, c.sha256, d.Digest)
			require.Equal(t, int64(len(c.data)), d.Size)
			require.Equal(t, c.sha1, d.Extra[cas.SHA1])
			require.Equal(t, c.shake256, d.Extra[cas.SHAKE256])
			st, err := f.Stat(t.Context(), d.Digest)
			require.NoError(t, err)
			require.Equal(t, d, st, "Stat reports the digests recorded at Put")
		})
	}
	_, err := f.Put(t.Context(), strings.NewReader("abc"), cas.WithDigests("md5"))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func testExtraDigestsLater(t *testing.T, f fixture) {
	ctx := t.Context()
	d, err := f.Put(ctx, strings.NewReader("abc"))
	require.NoError(t, err)
	st, err := f.Stat(ctx, d.Digest)
	require.NoError(t, err)
	require.Empty(t, st.Extra)

	_, err = f.Put(ctx, strings.NewReader("abc"), cas.WithDigests(cas.SHA1))
	require.NoError(t, err)
	_, err = f.Put(ctx, strings.NewReader("abc"), cas.WithDigests(cas.SHAKE256))
	require.NoError(t, err)
	st, err = f.Stat(ctx, d.Digest)
	require.NoError(t, err)
	require.Equal(t, map[cas.Algorithm]string{
		cas.SHA1:     "a9993e364706816aba3e25717850c26c9cd0d89d",
		cas.SHAKE256: "483366601360a8771c6863080cc4114d8db44530f8f1e1ee4f94ea37e78b5739d5a15bef186a5386c75744c0527e1faa9f8726e462a12a4feb06bd8801e751e4",
	}, st.Extra, "digests asked for later are recorded for the existing blob")
}

// testMaxSize runs on a store whose MaxSize is 1024.
func testMaxSize(t *testing.T, f fixture) {
	ctx := t.Context()
	exact := bytes.Repeat([]byte{1}, 1024)
	d, err := f.Put(ctx, bytes.NewReader(exact))
	require.NoError(t, err)
	require.Equal(t, int64(1024), d.Size)

	over := bytes.Repeat([]byte{2}, 1025)
	_, err = f.Put(ctx, bytes.NewReader(over))
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	requireAbsent(t, f, sha256Hex(over))

	// A stream far past the cap is cut off, not spooled whole.
	r := &countingReader{r: io.LimitReader(zeros{}, 64<<20)}
	_, err = f.Put(ctx, r)
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.Less(t, r.n, int64(1<<20), "Put read %d bytes of an oversized stream", r.n)

	// WithMaxSize lowers the cap for one Put but cannot raise it.
	small := bytes.Repeat([]byte{3}, 11)
	_, err = f.Put(ctx, bytes.NewReader(small), cas.WithMaxSize(10))
	require.ErrorIs(t, err, errs.ErrTooLarge)
	requireAbsent(t, f, sha256Hex(small))
	_, err = f.Put(ctx, bytes.NewReader(over), cas.WithMaxSize(4096))
	require.ErrorIs(t, err, errs.ErrTooLarge)
	if keys := objects(t, f); keys != nil {
		require.Equal(t, []string{cas.Key(d.Digest)}, keys)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

var errBoom = errors.New("castest: reader failed")

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errBoom
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func testFailedReads(t *testing.T, f fixture) {
	_, err := f.Put(t.Context(), &failingReader{n: 100 << 10})
	require.ErrorIs(t, err, errBoom)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.Put(ctx, strings.NewReader("abc"))
	require.ErrorIs(t, err, context.Canceled)
	requireAbsent(t, f, abcSHA256)
	if keys := objects(t, f); keys != nil {
		require.Empty(t, keys)
	}
}

func testInvalidDigests(t *testing.T, f fixture) {
	for _, d := range []string{"", "abc", strings.ToUpper(abcSHA256), "../../" + abcSHA256[6:], abcSHA256 + "0", "sha256:" + abcSHA256[7:], strings.Repeat("g", 64)} {
		_, err := f.Open(t.Context(), d)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, "Open(%q)", d)
		_, err = f.Stat(t.Context(), d)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, "Stat(%q)", d)
	}
}

func testConcurrentPuts(t *testing.T, f fixture) {
	data := bytes.Repeat([]byte("concurrent "), 30000)
	const n = 8
	descs := make([]cas.Descriptor, n)
	errCh := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			descs[i], err = f.Put(t.Context(), bytes.NewReader(data), cas.WithDigests(cas.SHA1))
			errCh <- err
		})
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		require.NoError(t, err)
	}
	for _, d := range descs[1:] {
		require.Equal(t, descs[0], d)
	}
	require.Equal(t, data, readBlob(t, f, descs[0].Digest))
	st, err := f.Stat(t.Context(), descs[0].Digest)
	require.NoError(t, err)
	require.Equal(t, descs[0], st)
	if keys := objects(t, f); keys != nil {
		require.Equal(t, []string{cas.Key(descs[0].Digest)}, keys)
	}
}

func testGC(t *testing.T, f fixture) {
	ctx := t.Context()
	const grace = time.Hour
	put := func(s string) string {
		d, err := f.Put(ctx, strings.NewReader(s))
		require.NoError(t, err)
		return d.Digest
	}
	referenced, unreferenced, reused := put("referenced"), put("unreferenced"), put("reused")
	require.NoError(t, f.index.AddBlobRef(ctx, f.index.DB(), referenced, "test:pkg/1.0"))

	// Within the grace period nothing goes.
	f.clock.Advance(30 * time.Minute)
	stats, err := f.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, cas.GCStats{}, stats)
	for _, d := range []string{referenced, unreferenced, reused} {
		_, err := f.Stat(ctx, d)
		require.NoError(t, err)
	}

	// Past it, only the unreferenced blob nobody reused goes.
	f.clock.Advance(2 * time.Hour)
	require.Equal(t, reused, put("reused"), "a writer reuses the blob just before GC")
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Records)
	require.Equal(t, 1, stats.Objects)
	requireAbsent(t, f, unreferenced)
	require.Equal(t, []byte("referenced"), readBlob(t, f, referenced))
	require.Equal(t, []byte("reused"), readBlob(t, f, reused))

	// A second run finds nothing more.
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Zero(t, stats.Records+stats.Objects+stats.Orphans)

	// Dropping the reference makes the blob collectable after the grace period.
	require.NoError(t, f.index.RemoveBlobRef(ctx, f.index.DB(), referenced, "test:pkg/1.0"))
	f.clock.Advance(2 * time.Hour)
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, 2, stats.Records)
	require.Equal(t, 2, stats.Objects)
	requireAbsent(t, f, referenced)
	requireAbsent(t, f, reused)

	// Collected content can be stored again.
	require.Equal(t, unreferenced, put("unreferenced"))
	require.Equal(t, []byte("unreferenced"), readBlob(t, f, unreferenced))

	_, err = f.GC(ctx, -time.Second)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func testGCOrphans(t *testing.T, f fixture) {
	if _, ok := f.blobs.(blob.Lister); !ok {
		t.Skip("the blob store cannot list; orphans are only found by listing")
	}
	ctx := t.Context()
	const grace = time.Hour
	// An object uploaded by a Put that crashed before writing the index.
	orphan := []byte("orphan content")
	od := sha256Hex(orphan)
	require.NoError(t, f.blobs.Put(ctx, cas.Key(od), bytes.NewReader(orphan), int64(len(orphan))))
	// Something under blobs/ that is not a blob of this layout is left alone.
	require.NoError(t, f.blobs.Put(ctx, "blobs/sha256/zz/zz/not-a-digest", strings.NewReader("x"), 1))
	// An indexed blob.
	kept, err := f.Put(ctx, strings.NewReader("indexed"))
	require.NoError(t, err)
	require.NoError(t, f.index.AddBlobRef(ctx, f.index.DB(), kept.Digest, "test:kept"))

	// Young orphans stay: their Put may still be about to write the index.
	stats, err := f.GC(ctx, grace)
	require.NoError(t, err)
	require.Zero(t, stats.Orphans)
	_, err = f.blobs.Stat(ctx, cas.Key(od))
	require.NoError(t, err)

	f.clock.Advance(2 * grace)
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Orphans)
	_, err = f.blobs.Stat(ctx, cas.Key(od))
	require.ErrorIs(t, err, errs.ErrNotFound)
	_, err = f.blobs.Stat(ctx, "blobs/sha256/zz/zz/not-a-digest")
	require.NoError(t, err)
	require.Equal(t, []byte("indexed"), readBlob(t, f, kept.Digest))

	// An orphan that a later Put adopts (it records the index row) is kept.
	adopted := []byte("adopted later")
	ad := sha256Hex(adopted)
	require.NoError(t, f.blobs.Put(ctx, cas.Key(ad), bytes.NewReader(adopted), int64(len(adopted))))
	d, err := f.Put(ctx, bytes.NewReader(adopted))
	require.NoError(t, err)
	require.Equal(t, ad, d.Digest)
	require.NoError(t, f.index.AddBlobRef(ctx, f.index.DB(), ad, "test:adopted"))
	f.clock.Advance(2 * grace)
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Zero(t, stats.Orphans)
	require.Equal(t, adopted, readBlob(t, f, ad))
	require.Equal(t, int64(len(adopted)), mustStat(t, f, ad).Size)
}

func mustStat(t *testing.T, f fixture, digest string) cas.Descriptor {
	t.Helper()
	d, err := f.Stat(t.Context(), digest)
	require.NoError(t, err)
	return d
}
