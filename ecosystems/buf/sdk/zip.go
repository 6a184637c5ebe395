package sdk

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/packyard/packyard/pkg/errs"
)

// zipTime is every entry's modification time: the zip of an SDK depends on
// nothing but its files, so it is byte-identical wherever it is made.
var zipTime = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// maxZipSize is the Go command's own limit on a module zip.
const maxZipSize = 500 << 20

// File is one file of an SDK, relative to the module root.
type File struct {
	Path    string
	Content []byte
}

// WriteZip writes the module zip of mod@version holding files, as the Go
// command expects it (every entry under "mod@version/"), deterministically:
// entries sorted by path, one fixed time and mode, one compression level.
func WriteZip(w io.Writer, mod, version string, files []File) error {
	if err := module.Check(mod, version); err != nil {
		return errs.Invalidf("%s@%s is not a valid module version", mod, version)
	}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var total int64
	for i, f := range sorted {
		if err := module.CheckFilePath(f.Path); err != nil || strings.HasSuffix(f.Path, "/") {
			return errs.Invalidf("%q cannot be a file of a Go module", f.Path)
		}
		if i > 0 && strings.EqualFold(sorted[i-1].Path, f.Path) {
			return errs.Invalidf("%q appears twice (ignoring case) in the module", f.Path)
		}
		total += int64(len(f.Content))
	}
	if total > maxZipSize {
		return errs.TooLargef("the SDK's files take %d bytes, over the Go command's limit of %d", total, maxZipSize)
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.DefaultCompression)
	})
	prefix := mod + "@" + version + "/"
	for _, f := range sorted {
		h := &zip.FileHeader{Name: prefix + f.Path, Method: zip.Deflate, Modified: zipTime}
		h.SetMode(0o644)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Content); err != nil {
			return err
		}
	}
	return zw.Close()
}

// ZipBytes is WriteZip into memory.
func ZipBytes(mod, version string, files []File) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteZip(&buf, mod, version, files); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
