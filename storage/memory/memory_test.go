package memory_test

import (
	"testing"

	"github.com/packyard/packyard/storage"
	"github.com/packyard/packyard/storage/memory"
	"github.com/packyard/packyard/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.BlobStore { return memory.New() }, storagetest.InMemory(), storagetest.LargeSize(8<<20))
}

func BenchmarkStore(b *testing.B) {
	storagetest.Bench(b, func(*testing.B) storage.BlobStore { return memory.New() })
}
