package format

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

type zf struct {
	name   string
	body   string
	method uint16
}

func makeZip(t testing.TB, files ...zf) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: f.method}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = io.WriteString(w, f.body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

const okManifest = `{"name":"acme/foo","require":{"php":">=8.1"}}`

func TestInspectZip(t *testing.T) {
	lim := DefaultArchiveLimits
	tests := []struct {
		name    string
		zip     []byte
		want    string
		wantErr string
		tooBig  bool
	}{
		{name: "root manifest", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "src/Foo.php", body: "<?php"}), want: okManifest},
		{name: "single top directory", zip: makeZip(t, zf{name: "foo-1.0/"}, zf{name: "foo-1.0/composer.json", body: okManifest}, zf{name: "foo-1.0/src/A.php", body: "x"}), want: okManifest},
		{name: "no manifest", zip: makeZip(t, zf{name: "src/A.php", body: "x"}), wantErr: "composer.json not found"},
		{name: "manifest too deep", zip: makeZip(t, zf{name: "a/b/composer.json", body: okManifest}), wantErr: "composer.json not found"},
		{name: "two top directories", zip: makeZip(t, zf{name: "a/composer.json", body: okManifest}, zf{name: "b/x", body: "x"}), wantErr: "composer.json not found"},
		{name: "zip slip", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "../../etc/passwd", body: "x"}), wantErr: "parent directory"},
		{name: "zip slip nested", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "a/../../x", body: "x"}), wantErr: "parent directory"},
		{name: "absolute", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "/etc/x", body: "x"}), wantErr: "absolute"},
		{name: "backslash", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: `..\x`, body: "x"}), wantErr: "backslash"},
		{name: "drive", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: `C:/x`, body: "x"}), wantErr: "drive letter"},
		{name: "duplicate", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "composer.json", body: "{}"}), wantErr: "twice"},
		{name: "not a zip", zip: []byte("hello world, not a zip at all"), wantErr: "not a valid zip"},
		{name: "empty zip", zip: makeZip(t), wantErr: "empty"},
		{name: "bomb ratio", zip: makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "zeros", body: strings.Repeat("\x00", 8<<20), method: zip.Deflate}), wantErr: "compression ratio", tooBig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InspectZip(bytes.NewReader(tt.zip), int64(len(tt.zip)), lim)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errs.ErrInvalidArgument)
				require.ErrorContains(t, err, tt.wantErr)
				if tt.tooBig {
					require.ErrorIs(t, err, errs.ErrTooLarge)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

func TestInspectZipLimits(t *testing.T) {
	z := makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "a", body: strings.Repeat("a", 1000)}, zf{name: "b", body: "b"})
	_, err := InspectZip(bytes.NewReader(z), int64(len(z)), ArchiveLimits{MaxEntries: 2, MaxUncompressed: 1 << 20, MaxRatio: 100, MaxManifest: 1 << 10})
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorContains(t, err, "3 entries")
	_, err = InspectZip(bytes.NewReader(z), int64(len(z)), ArchiveLimits{MaxEntries: 10, MaxUncompressed: 500, MaxRatio: 100, MaxManifest: 1 << 10})
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorContains(t, err, "expands to more than 500 bytes")
	_, err = InspectZip(bytes.NewReader(z), int64(len(z)), ArchiveLimits{MaxEntries: 10, MaxUncompressed: 1 << 20, MaxRatio: 100, MaxManifest: 10})
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorContains(t, err, "composer.json is larger")
}

func TestInspectZipLyingSize(t *testing.T) {
	// An entry whose declared size is smaller than its data is refused
	// while reading (the reader enforces the declared size / CRC).
	z := makeZip(t, zf{name: "composer.json", body: okManifest}, zf{name: "data", body: strings.Repeat("abc", 1000), method: zip.Deflate})
	i := bytes.LastIndex(z, []byte("PK\x01\x02")) // central directory entry of "data"
	require.Positive(t, i)
	// uncompressed size field at offset 24 of the central header
	z[i+24], z[i+25], z[i+26], z[i+27] = 10, 0, 0, 0
	_, err := InspectZip(bytes.NewReader(z), int64(len(z)), DefaultArchiveLimits)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	require.ErrorContains(t, err, "corrupt")
}

func TestBuildZipDeterministic(t *testing.T) {
	files := func() []ArchiveFile {
		open := func(s string) func() (io.ReadCloser, error) {
			return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
		}
		return []ArchiveFile{
			{Path: "composer.json", Open: open(okManifest)},
			{Path: "bin", Dir: true},
			{Path: "bin/tool", Executable: true, Open: open("#!/bin/sh\n")},
			{Path: "link", Symlink: true, Open: open("bin/tool")},
		}
	}
	mt := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	var a, b bytes.Buffer
	require.NoError(t, BuildZip(&a, "acme-foo-abc1234/", mt, files()))
	time.Sleep(1100 * time.Millisecond)
	require.NoError(t, BuildZip(&b, "acme-foo-abc1234/", mt, files()))
	require.Equal(t, sha1.Sum(a.Bytes()), sha1.Sum(b.Bytes()), "same input, same bytes")

	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		require.True(t, f.Modified.Equal(mt), f.Name)
	}
	require.Equal(t, []string{"acme-foo-abc1234/", "acme-foo-abc1234/composer.json", "acme-foo-abc1234/bin/", "acme-foo-abc1234/bin/tool", "acme-foo-abc1234/link"}, names)
	require.Equal(t, "-rwxr-xr-x", zr.File[3].Mode().String())
	require.NotZero(t, zr.File[4].Mode()&(1<<27))

	// Our own builds pass our own upload checks (apart from the symlink).
	files2 := files()[:3]
	var c bytes.Buffer
	require.NoError(t, BuildZip(&c, "p/", mt, files2))
	m, err := InspectZip(bytes.NewReader(c.Bytes()), int64(c.Len()), DefaultArchiveLimits)
	require.NoError(t, err)
	require.Equal(t, okManifest, string(m))
}

func FuzzInspectZip(f *testing.F) {
	f.Add(makeZip(f, zf{name: "composer.json", body: okManifest}))
	f.Add(makeZip(f, zf{name: "p/"}, zf{name: "p/composer.json", body: okManifest, method: zip.Deflate}))
	f.Add(makeZip(f, zf{name: "../x", body: "x"}))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	lim := ArchiveLimits{MaxEntries: 100, MaxUncompressed: 1 << 20, MaxRatio: 50, MaxManifest: 1 << 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := InspectZip(bytes.NewReader(b), int64(len(b)), lim)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		require.LessOrEqual(t, int64(len(m)), lim.MaxManifest)
		_, _ = ParseManifest(m, true)
	})
}
