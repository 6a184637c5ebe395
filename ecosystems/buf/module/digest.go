package module

import (
	"crypto/sha3"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// shake256Size is the output length buf uses for SHAKE256 digests.
const shake256Size = 64

// Shake256 returns the 64-byte SHAKE256 digest of b.
func Shake256(b []byte) []byte {
	h := sha3.NewSHAKE256()
	_, _ = h.Write(b)
	out := make([]byte, shake256Size)
	_, _ = h.Read(out)
	return out
}

// FileDigest is one file of a module with the hex SHAKE256 of its content.
type FileDigest struct {
	Path     string
	Shake256 string // 128 lower-case hex digits
}

// Manifest renders buf's manifest: one "shake256:<hex>  <path>\n" line per
// file, sorted by path (byte order). Duplicate or empty paths are an error.
func Manifest(files []FileDigest) (string, error) {
	sorted := append([]FileDigest(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b strings.Builder
	for i, f := range sorted {
		if f.Path == "" {
			return "", errs.Invalidf("manifest: empty file path")
		}
		if i > 0 && sorted[i-1].Path == f.Path {
			return "", errs.Invalidf("manifest: duplicate path %q", f.Path)
		}
		if len(f.Shake256) != 2*shake256Size {
			return "", fmt.Errorf("manifest: %s: digest %q is not a SHAKE256 hex digest", f.Path, f.Shake256)
		}
		b.WriteString("shake256:")
		b.WriteString(f.Shake256)
		b.WriteString("  ")
		b.WriteString(f.Path)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// FilesDigest is SHAKE256 of the manifest of files: buf's B4 when files are
// a module's counted files (packyard never serves buf.yaml or buf.lock), and
// the files part of B5.
func FilesDigest(files []FileDigest) ([]byte, error) {
	m, err := Manifest(files)
	if err != nil {
		return nil, err
	}
	return Shake256([]byte(m)), nil
}

// B5 combines a module's files digest with the B5 digests of all its direct
// and transitive dependencies: SHAKE256 of "shake256:<files hex>" followed,
// for each dependency's "b5:<hex>" in sorted order, by "\n" and that string.
func B5(filesDigest []byte, depB5 [][]byte) []byte {
	deps := make([]string, len(depB5))
	for i, d := range depB5 {
		deps[i] = "b5:" + hex.EncodeToString(d)
	}
	sort.Strings(deps)
	var b strings.Builder
	b.WriteString("shake256:")
	b.WriteString(hex.EncodeToString(filesDigest))
	for _, d := range deps {
		b.WriteByte('\n')
		b.WriteString(d)
	}
	return Shake256([]byte(b.String()))
}
