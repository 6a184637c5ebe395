package memory_test

import (
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/blob/blobtest"
	"github.com/packyard/packyard/storage/memory"
	"testing"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(*testing.T) blob.Store { return memory.New() }, blobtest.InMemory(), blobtest.LargeSize(8<<20))
}

func BenchmarkStore(b *testing.B) {
	blobtest.Bench(b, func(*testing.B) blob.Store { return memory.New() })
}
