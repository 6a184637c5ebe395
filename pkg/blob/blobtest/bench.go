package blobtest

import (
	"bytes"
	"fmt"
	"github.com/packyard/packyard/pkg/blob"
	"io"
	"testing"
)

// BenchFactory returns a fresh, empty store for one benchmark.
type BenchFactory func(b *testing.B) blob.Store

// Bench measures Put and Open throughput of 1 MiB objects (reported as MB/s
// through b.SetBytes). Run it with `go test -run '^$' -bench . ./storage/...`.
func Bench(b *testing.B, newStore BenchFactory) {
	const size = 1 << 20
	data := pattern(7, size)

	b.Run("Put/1MiB", func(b *testing.B) {
		s := newStore(b)
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("bench/put/%d", i%32)
			if err := s.Put(b.Context(), key, bytes.NewReader(data), size); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("PutUnknownSize/1MiB", func(b *testing.B) {
		s := newStore(b)
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("bench/put/%d", i%32)
			if err := s.Put(b.Context(), key, struct{ io.Reader }{bytes.NewReader(data)}, -1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Get/1MiB", func(b *testing.B) {
		s := newStore(b)
		if err := s.Put(b.Context(), "bench/get", bytes.NewReader(data), size); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			rc, err := s.Open(b.Context(), "bench/get")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	})
	b.Run("Stat", func(b *testing.B) {
		s := newStore(b)
		if err := s.Put(b.Context(), "bench/stat", bytes.NewReader(data[:1]), 1); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Stat(b.Context(), "bench/stat"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
