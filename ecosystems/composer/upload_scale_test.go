package composer

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

// TestUploadOfManyKeys: a composer.json of 20,000 keys is parsed once,
// before the write transaction, in linear time (it took 14 s before); the
// bound is generous for the race detector on a busy machine, the timing
// itself is BenchmarkParseManifest's. The stored version keeps only the
// fields a registry serves, so rebuilding documents (before the write
// transaction, see TestPublishParsesOutsideTheTransaction) parses little.
func TestUploadOfManyKeys(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	var b strings.Builder
	b.WriteString(`{"name":"acme/many","description":"many keys"`)
	for i := range 20_000 {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	start := time.Now()
	_, err := s.svc.Upload(t.Context(), "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: b.String()})))
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)

	var entry string
	require.NoError(t, s.meta.DB().QueryRow(t.Context(), `SELECT entry FROM composer_versions`).Scan(&entry))
	require.Less(t, len(entry), 1000, "the stored version holds the served fields only")
	require.Len(t, s.p2("acme", "acme/many", s.token("acme", metadata.RoleRead)), 1)
}
