// Package blobtest is the conformance suite every blob.Store driver
// runs (filesystem, s3, memory), and the matching benchmarks. A driver's test
// is a few lines:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
//	}
//
// Each subtest gets a fresh, empty store from the factory, so
// `go test -run 'TestConformance/Overwrite'` works on its own.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
)

// Factory returns a fresh, empty store for one subtest, cleaned up with t.Cleanup.
type Factory func(t *testing.T) blob.Store

// DefaultLargeSize is the length of the stream the large-stream test writes.
const DefaultLargeSize = 64 << 20

// Option adjusts the suite for a driver.
type Option func(*config)

type config struct {
	largeSize int64
	inMemory  bool
	allowance int64
}

// LargeSize sets the length of the large-stream test (default DefaultLargeSize).
// Keep it well above the driver's own buffering (for S3, its part size) or
// the memory bound the test checks is meaningless.
func LargeSize(n int64) Option { return func(c *config) { c.largeSize = n } }

// BufferAllowance declares that the driver holds up to n bytes of a stream
// at once by design (the S3 driver: one multipart part). The large-stream
// test then allows n plus 8 MiB of heap growth instead of half the stream,
// and needs a stream at least twice that long to tell streaming from
// buffering.
func BufferAllowance(n int64) Option { return func(c *config) { c.allowance = n } }

// InMemory declares that the driver keeps objects in memory by design (the
// memory driver): the large-stream test then checks the content but not the
// heap, which such a driver necessarily grows by the object's size.
func InMemory() Option { return func(c *config) { c.inMemory = true } }

// Run runs every behaviour of the blob.Store contract against the
// stores newStore makes.
func Run(t *testing.T, newStore Factory, opts ...Option) {
	cfg := config{largeSize: DefaultLargeSize}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"MissingKey", testMissingKey},
		{"RoundTrip", testRoundTrip},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"Overwrite", testOverwrite},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"Seek", testSeek},
		{"Stat", testStat},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentPuts", testConcurrentPuts},
		{"LargeStream", func(t *testing.T, s blob.Store) { testLargeStream(t, s, cfg) }},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NotNil(t, s, "factory returned nil store")
			tc.fn(t, s)
		})
	}
}

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))), "put %s", key)
}

func read(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	require.NoError(t, err, "open %s", key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err, "read %s", key)
	return b
}

func requireMissing(t *testing.T, s blob.Store, key string) {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	require.ErrorIs(t, err, errs.ErrNotFound, "stat %s must say not found", key)
	rc, err := s.Open(t.Context(), key)
	if err == nil {
		rc.Close()
	}
	require.ErrorIs(t, err, errs.ErrNotFound, "open %s must say not found", key)
}

func testMissingKey(t *testing.T, s blob.Store) {
	requireMissing(t, s, "missing/key")
	put(t, s, "present/key", []byte("x"))
	requireMissing(t, s, "present/key/below")
	requireMissing(t, s, "present") // a "directory" is not an object
}

func testRoundTrip(t *testing.T, s blob.Store) {
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"one-byte", []byte{0x7f}},
		{"1MiB", pattern(1, 1<<20)},
		{"non-utf8", []byte{0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00, 0x80}},
	}
	for _, c := range cases {
		for _, known := range []bool{true, false} {
			name := c.name + "/known-size"
			size := int64(len(c.data))
			if !known {
				name = c.name + "/unknown-size"
				size = -1
			}
			t.Run(name, func(t *testing.T) {
				key := "roundtrip/" + name
				// A plain io.Reader (no Seek, no ReadAt, no Len) so that
				// the driver cannot learn the size another way.
				r := struct{ io.Reader }{bytes.NewReader(c.data)}
				require.NoError(t, s.Put(t.Context(), key, r, size))
				got := read(t, s, key)
				require.Equal(t, len(c.data), len(got))
				require.True(t, bytes.Equal(c.data, got), "content differs")
				info, err := s.Stat(t.Context(), key)
				require.NoError(t, err)
				require.Equal(t, int64(len(c.data)), info.Size)
			})
		}
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	old := []byte("the old content")
	cases := []struct {
		name     string
		data     []byte
		declared int64
	}{
		{"shorter", pattern(2, 100), 150},
		{"longer", pattern(3, 150), 100},
		{"empty-declared-content-given", []byte("x"), 0},
		{"content-missing", []byte{}, 10},
		{"longer-1MiB", pattern(4, 1<<20+1), 1 << 20},
		{"shorter-1MiB", pattern(5, 1<<20-1), 1 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fresh := "mismatch/fresh/" + c.name
			err := s.Put(t.Context(), fresh, struct{ io.Reader }{bytes.NewReader(c.data)}, c.declared)
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "declared %d, gave %d", c.declared, len(c.data))
			requireMissing(t, s, fresh)

			existing := "mismatch/existing/" + c.name
			put(t, s, existing, old)
			err = s.Put(t.Context(), existing, struct{ io.Reader }{bytes.NewReader(c.data)}, c.declared)
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			require.Equal(t, old, read(t, s, existing), "a failed overwrite must keep the old object")
		})
	}
}

var errBoom = errors.New("blobtest: reader failed on purpose")

// failingReader yields n bytes of a pattern, then fails.
type failingReader struct {
	n   int
	off int
	s   stream
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.off >= f.n {
		return 0, errBoom
	}
	p = p[:min(len(p), f.n-f.off)]
	f.s.fill(p, int64(f.off))
	f.off += len(p)
	return len(p), nil
}

func testReaderError(t *testing.T, s blob.Store) {
	for _, size := range []int64{1 << 20, -1} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			key := fmt.Sprintf("readererr/%d", size)
			err := s.Put(t.Context(), key, &failingReader{n: 512 << 10, s: newStream(9)}, size)
			require.Error(t, err)
			requireMissing(t, s, key)
		})
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "over/key", pattern(10, 5000))
	put(t, s, "over/key", []byte("short"))
	require.Equal(t, []byte("short"), read(t, s, "over/key"))
	info, err := s.Stat(t.Context(), "over/key")
	require.NoError(t, err)
	require.Equal(t, int64(5), info.Size)
	require.NoError(t, s.Put(t.Context(), "over/key", bytes.NewReader(nil), 0))
	require.Empty(t, read(t, s, "over/key"))
}

// slowReader hands out data in small chunks, yielding between them, so that
// a Put takes long enough for concurrent readers to look in the middle of it.
type slowReader struct {
	data  []byte
	chunk int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	runtime.Gosched()
	return n, nil
}

func testOverwriteAtomic(t *testing.T, s blob.Store) {
	const key = "atomic/key"
	versions := [][]byte{pattern(20, 256<<10), pattern(21, 300<<10), pattern(22, 200<<10)}
	put(t, s, key, versions[0])

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	reads := 0
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				rc, err := s.Open(ctx, key)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						bad = append(bad, "open: "+err.Error())
						mu.Unlock()
					}
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						bad = append(bad, "read: "+err.Error())
						mu.Unlock()
					}
					return
				}
				mu.Lock()
				reads++
				if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
					bad = append(bad, fmt.Sprintf("read %d bytes that are none of the written versions", len(got)))
				}
				mu.Unlock()
			}
		})
	}
	for i := range 12 {
		v := versions[(i+1)%len(versions)]
		size := int64(len(v))
		if i%2 == 1 {
			size = -1
		}
		require.NoError(t, s.Put(t.Context(), key, &slowReader{data: v, chunk: 16 << 10}, size))
	}
	// Let readers see the final version too.
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	require.Empty(t, bad, "readers saw partial or failed objects")
	require.Positive(t, reads, "readers never completed a read")
}

func testSeek(t *testing.T, s blob.Store) {
	data := pattern(30, 10000)
	put(t, s, "seek/key", data)
	rc, err := s.Open(t.Context(), "seek/key")
	require.NoError(t, err)
	defer rc.Close()

	steps := []struct {
		offset int64
		whence int
		want   int64 // position after Seek
		n      int   // bytes to read after
	}{
		{100, io.SeekStart, 100, 10},
		{-10, io.SeekEnd, 9990, 10},
		{5000, io.SeekStart, 5000, 100},
		{50, io.SeekCurrent, 5150, 7},
		{0, io.SeekStart, 0, 10000},
	}
	for _, st := range steps {
		pos, err := rc.Seek(st.offset, st.whence)
		require.NoError(t, err)
		require.Equal(t, st.want, pos)
		buf := make([]byte, st.n)
		_, err = io.ReadFull(rc, buf)
		require.NoError(t, err)
		require.Equal(t, data[pos:pos+int64(st.n)], buf, "read after seek to %d", pos)
	}
	// At the end: EOF.
	n, err := rc.Read(make([]byte, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
	// Seeking to the end reports the size (http.ServeContent relies on it).
	end, err := rc.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), end)
}

func testStat(t *testing.T, s blob.Store) {
	// Object stores keep modification times to the second.
	before := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	put(t, s, "stat/key", pattern(40, 1234))
	after := time.Now().Add(2 * time.Second)
	info, err := s.Stat(t.Context(), "stat/key")
	require.NoError(t, err)
	require.Equal(t, "stat/key", info.Key)
	require.Equal(t, int64(1234), info.Size)
	require.False(t, info.ModTime.Before(before), "mtime %v before the write started (%v)", info.ModTime, before)
	require.False(t, info.ModTime.After(after), "mtime %v after the write ended (%v)", info.ModTime, after)
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "del/a", []byte("a"))
	put(t, s, "del/b", []byte("b"))
	require.NoError(t, s.Delete(t.Context(), "del/a"))
	requireMissing(t, s, "del/a")
	require.NoError(t, s.Delete(t.Context(), "del/a"), "deleting twice is not an error")
	require.NoError(t, s.Delete(t.Context(), "del/never-existed"))
	require.Equal(t, []byte("b"), read(t, s, "del/b"), "delete must not touch other keys")
	// A deleted key can be written again.
	put(t, s, "del/a", []byte("again"))
	require.Equal(t, []byte("again"), read(t, s, "del/a"))
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	keys := []string{"", "/abs", "/", "../x", "a/../../b", "a/..", "a//b", "./a", "a/./b", "a/", "a\\b", "..\\x", "nul\x00byte"}
	ctx := t.Context()
	for _, k := range keys {
		t.Run(fmt.Sprintf("%q", k), func(t *testing.T) {
			_, err := s.Open(ctx, k)
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "Open")
			_, err = s.Stat(ctx, k)
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "Stat")
			err = s.Put(ctx, k, bytes.NewReader([]byte("x")), 1)
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "Put")
			require.ErrorIs(t, s.Delete(ctx, k), errs.ErrInvalidArgument, "Delete")
		})
	}
	if l, ok := s.(blob.Lister); ok {
		for _, p := range []string{"/", "/abs", "../x", "a//b", "a/../b", "a\\b"} {
			err := l.List(ctx, p, func(blob.Info) error { return nil })
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "List(%q)", p)
		}
	}
	// Nothing was written by the rejected calls.
	if l, ok := s.(blob.Lister); ok {
		require.Empty(t, listKeys(t, l, ""))
	}
}

func listKeys(t *testing.T, l blob.Lister, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := l.List(t.Context(), prefix, func(i blob.Info) error {
		_, dup := got[i.Key]
		require.False(t, dup, "key %s listed twice", i.Key)
		require.False(t, i.ModTime.IsZero(), "key %s listed without a modification time", i.Key)
		got[i.Key] = i.Size
		return nil
	})
	require.NoError(t, err, "List(%q)", prefix)
	return got
}

func testList(t *testing.T, s blob.Store) {
	l, ok := s.(blob.Lister)
	if !ok {
		t.Skip("driver does not implement blob.Lister")
	}
	objects := map[string]int64{
		"list/a/b/x":       1,
		"list/a/b/y/z":     2,
		"list/a/b-other/x": 3,
		"list/a/bc":        4,
		"list/a/c":         5,
		"other/top":        6,
	}
	for k, n := range objects {
		put(t, s, k, pattern(uint64(n), int(n)))
	}
	sub := func(keys ...string) map[string]int64 {
		m := map[string]int64{}
		for _, k := range keys {
			m[k] = objects[k]
		}
		return m
	}
	cases := []struct {
		prefix string
		want   map[string]int64
	}{
		{"list/a/b", sub("list/a/b/x", "list/a/b/y/z")},
		{"list/a/b/", sub("list/a/b/x", "list/a/b/y/z")},
		{"list/a/b/y", sub("list/a/b/y/z")},
		{"list/a/bc", sub("list/a/bc")},
		{"list/a", sub("list/a/b/x", "list/a/b/y/z", "list/a/b-other/x", "list/a/bc", "list/a/c")},
		{"list/a/b-", sub()},
		{"list/none", sub()},
		{"lis", sub()},
		{"", objects},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.prefix), func(t *testing.T) {
			require.Equal(t, c.want, listKeys(t, l, c.prefix))
		})
	}
	t.Run("stops-on-error", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := l.List(t.Context(), "list", func(blob.Info) error { calls++; return stop })
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, calls)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := l.List(ctx, "list", func(blob.Info) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
	})
}

// cancelReader cancels its context after handing out `after` bytes and then
// keeps producing data, as a client would that does not notice.
