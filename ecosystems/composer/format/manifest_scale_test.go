package format

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// manyKeys is a composer.json with n extra keys besides its name.
func manyKeys(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"name":"acme/many"`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":{"v":%d}`, i, i)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// BenchmarkParseManifest: parsing composer.json with 1k, 10k and 100k keys
// (time per parse grows linearly with the number of keys).
func BenchmarkParseManifest(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		doc := manyKeys(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := ParseManifest(doc, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// allocated is the number of bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestParseIsLinear: parsing (and serving and minifying) a composer.json
// of 20,000 keys allocates a small multiple of its size; copying the object
// once per key, as before, allocated gigabytes.
func TestParseIsLinear(t *testing.T) {
	doc := manyKeys(20_000)
	var m Manifest
	var err error
	n := allocated(func() { m, err = ParseManifest(doc, true) })
	require.NoError(t, err)
	require.Len(t, m.Fields, 20_001)
	require.Less(t, n, uint64(100*len(doc)), "ParseManifest allocated %d bytes for %d", n, len(doc))

	other := append(Object(nil), m.Fields...)
	other[0].Value = []byte(`"acme/other"`)
	n = allocated(func() { Expand(Minify([]Object{m.Fields, other, m.Fields})) })
	require.Less(t, n, uint64(100*len(doc)), "Minify and Expand allocated %d bytes for %d", n, len(doc))
}
