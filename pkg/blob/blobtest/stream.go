package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/blob"
)

// pattern returns n deterministic bytes that differ for each seed.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	newStream(seed).fill(b, 0)
	return b
}

// streamPeriod is the length of a stream's repeating block: odd, so that no
// power-of-two chunking of the stream lines up with it and a driver that
// reorders or repeats chunks is caught.
const streamPeriod = 64<<10 + 13

// stream is an endless deterministic byte sequence: a pseudo-random block
// of streamPeriod bytes, repeated. Filling is a memmove, fast even under -race.
type stream struct{ block []byte }

func newStream(seed uint64) stream {
	b := make([]byte, streamPeriod+7)
	for i := 0; i < streamPeriod; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix(seed^uint64(i)))
	}
	return stream{block: b[:streamPeriod]}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fill writes the stream's bytes from offset off into p.
func (s stream) fill(p []byte, off int64) {
	for len(p) > 0 {
		n := copy(p, s.block[off%streamPeriod:])
		p = p[n:]
		off += int64(n)
	}
}

type cancelReader struct {
	s      stream
	cancel func()
	after  int
	off    int
	total  int
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.off >= r.total {
		return 0, io.EOF
	}
	if r.off >= r.after {
		r.cancel()
		time.Sleep(time.Millisecond)
	}
	p = p[:min(len(p), r.total-r.off, 64<<10)]
	r.s.fill(p, int64(r.off))
	r.off += len(p)
	return len(p), nil
}

func testCancelledContext(t *testing.T, s blob.Store) {
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Put(ctx, "cancel/before", bytes.NewReader([]byte("data")), 4)
		require.ErrorIs(t, err, context.Canceled)
		requireMissing(t, s, "cancel/before")
	})
	for _, size := range []int64{4 << 20, -1} {
		t.Run(fmt.Sprintf("during/size=%d", size), func(t *testing.T) {
			key := fmt.Sprintf("cancel/during/%d", size)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := s.Put(ctx, key, &cancelReader{s: newStream(50), cancel: cancel, after: 1 << 20, total: 4 << 20}, size)
			require.Error(t, err)
			require.ErrorIs(t, err, context.Canceled)
			requireMissing(t, s, key)
		})
	}
	t.Run("during-overwrite", func(t *testing.T) {
		old := []byte("old")
		put(t, s, "cancel/overwrite", old)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		err := s.Put(ctx, "cancel/overwrite", &cancelReader{s: newStream(50), cancel: cancel, after: 1 << 20, total: 4 << 20}, 4<<20)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, old, read(t, s, "cancel/overwrite"))
	})
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	const key = "concurrent/key"
	const n = 8
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = pattern(uint64(100+i), 64<<10+i*1000)
	}
	var wg sync.WaitGroup
	errCh := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			size := int64(len(contents[i]))
			if i%2 == 1 {
				size = -1
			}
			errCh <- s.Put(t.Context(), key, &slowReader{data: contents[i], chunk: 8 << 10}, size)
		})
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		require.NoError(t, err)
	}
	got := read(t, s, key)
	require.True(t, slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }),
		"the final object (%d bytes) is none of the written ones", len(got))
	info, err := s.Stat(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, int64(len(got)), info.Size)
}

// genReader produces size bytes of a pattern without holding them. It
// samples the live heap (after a GC) every 8 MiB and at the end of the
// stream, while the driver is in the middle of its Put.
type genReader struct {
	s        stream
	off      int64
	size     int64
	sample   bool
	next     int64
	peakHeap uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		g.measure()
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-g.off)]
	g.s.fill(p, g.off)
	g.off += int64(len(p))
	if g.off >= g.next {
		g.measure()
		g.next += 8 << 20
	}
	return len(p), nil
}

func (g *genReader) measure() {
	if !g.sample {
		return
	}
	g.peakHeap = max(g.peakHeap, liveHeap())
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func streamDigest(seed uint64, size int64) []byte {
	h := sha256.New()
	_, _ = io.Copy(h, &genReader{s: newStream(seed), size: size})
	return h.Sum(nil)
}

func testLargeStream(t *testing.T, s blob.Store, cfg config) {
	size := cfg.largeSize
	for _, known := range []bool{true, false} {
		name := "known-size"
		declared := size
		if !known {
			name, declared = "unknown-size", -1
		}
		t.Run(name, func(t *testing.T) {
			key := "large/" + name
			seed := uint64(size) ^ 77
			g := &genReader{s: newStream(seed), size: size, sample: !cfg.inMemory, next: 8 << 20}
			base := liveHeap()
			require.NoError(t, s.Put(t.Context(), key, g, declared))
			require.Equal(t, size, g.off, "the driver did not read the whole stream")
			if !cfg.inMemory {
				grew := int64(g.peakHeap) - int64(base)
				bound := size / 2
				if cfg.allowance > 0 {
					bound = cfg.allowance + 8<<20
					require.GreaterOrEqual(t, size, 2*bound, "LargeSize is too small to tell streaming from buffering with this buffer allowance")
				}
				t.Logf("peak live-heap growth %d KiB while streaming %d KiB (bound %d KiB)", grew>>10, size>>10, bound>>10)
				require.Less(t, grew, bound, "the driver held the stream in memory")
			}
			info, err := s.Stat(t.Context(), key)
			require.NoError(t, err)
			require.Equal(t, size, info.Size)
			rc, err := s.Open(t.Context(), key)
			require.NoError(t, err)
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			require.NoError(t, err)
			require.Equal(t, size, n)
			require.Equal(t, streamDigest(seed, size), h.Sum(nil), "content read back differs")
			require.NoError(t, s.Delete(t.Context(), key))
		})
	}
}

func testPing(t *testing.T, s blob.Store) {
	p, ok := s.(blob.Pinger)
	if !ok {
		t.Skip("driver does not implement blob.Pinger")
	}
	require.NoError(t, p.Ping(t.Context()))
}
