package cachetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/packyard/packyard/pkg/cache"
)

// Bench measures a driver with 4 KiB values (the size of a small p2
// document): Get hits, Sets, and both again from parallel goroutines.
func Bench(b *testing.B, newCache func(b *testing.B) cache.Cache) {
	const size = 4 << 10
	value := pattern(size)

	b.Run("GetHit4KiB", func(b *testing.B) {
		c := newCache(b)
		if err := c.Set(b.Context(), "bench", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(b.Context(), "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("Set4KiB", func(b *testing.B) {
		c := newCache(b)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(b.Context(), "bench", value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("GetHit4KiBParallel", func(b *testing.B) {
		c := newCache(b)
		if err := c.Set(b.Context(), "bench", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Get(b.Context(), "bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("GetOrLoadHit4KiB", func(b *testing.B) {
		c := newCache(b)
		var g cache.Group
		if err := c.Set(b.Context(), "bench", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.GetOrLoad(b.Context(), c, &g, "bench", time.Hour, noLoad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func noLoad(context.Context) ([]byte, error) {
	return nil, errors.New("cachetest: the benchmark value was not cached")
}
