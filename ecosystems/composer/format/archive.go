package format

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
)

// ArchiveLimits bound what an uploaded archive may contain, so a small
// upload cannot expand into a huge one (zip bombs).
type ArchiveLimits struct {
	MaxEntries      int   // files and directories
	MaxUncompressed int64 // sum of every entry's uncompressed size
	MaxRatio        int64 // uncompressed/compressed, per entry larger than 1 MiB
	MaxManifest     int64 // composer.json
}

// DefaultArchiveLimits are the limits used when the configuration does not say.
var DefaultArchiveLimits = ArchiveLimits{MaxEntries: 20000, MaxUncompressed: 1 << 30, MaxRatio: 200, MaxManifest: 1 << 20}

const ratioFloor = 1 << 20 // entries smaller than this are not ratio-checked

// InspectZip checks a whole zip archive (every name, size and checksum) and
// returns the bytes of its composer.json, found at the root or inside the
// archive's single top-level directory. Every problem is an
// errs.ErrInvalidArgument (errs.ErrTooLarge for limits) with a message for
// the uploader.
func InspectZip(r io.ReaderAt, size int64, lim ArchiveLimits) ([]byte, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, errs.Wrap(errs.ErrInvalidArgument, "the upload is not a valid zip archive", err)
	}
	if len(zr.File) == 0 {
		return nil, errs.Invalidf("the zip archive is empty")
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, errs.TooLargef("the zip archive has %d entries; the limit is %d", len(zr.File), lim.MaxEntries)
	}
	var total uint64
	tops := map[string]bool{}
	rootFiles := false
	var manifests = map[string]*zip.File{}
	seen := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		name, isDir, err := cleanEntryName(f.Name)
		if err != nil {
			return nil, err
		}
		if f.FileInfo().IsDir() {
			isDir = true
		}
		if seen[name] {
			return nil, errs.Invalidf("the zip archive holds %q twice", f.Name)
		}
		seen[name] = true
		if f.Mode()&fs.ModeSymlink != 0 {
			return nil, errs.Invalidf("the zip archive holds a symbolic link %q; links are not accepted in uploads", f.Name)
		}
		top, rest, nested := strings.Cut(name, "/")
		tops[top] = true
		if !nested && !isDir {
			rootFiles = true
		}
		if name == "composer.json" || (nested && rest == "composer.json") {
			manifests[name] = f
		}
		total += f.UncompressedSize64
		if total > uint64(lim.MaxUncompressed) {
			return nil, errs.TooLargef("the zip archive expands to more than %d bytes", lim.MaxUncompressed)
		}
		if f.UncompressedSize64 > ratioFloor && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(lim.MaxRatio) {
			return nil, errs.TooLargef("entry %q has a compression ratio above %d:1", f.Name, lim.MaxRatio)
		}
	}
	var want *zip.File
	switch {
	case manifests["composer.json"] != nil:
		want = manifests["composer.json"]
	case len(tops) == 1 && !rootFiles && len(manifests) == 1:
		for _, f := range manifests {
			want = f
		}
	default:
		return nil, errs.Invalidf("composer.json not found at the root of the zip archive (or in its single top-level directory)")
	}
	if want.UncompressedSize64 > uint64(lim.MaxManifest) {
		return nil, errs.TooLargef("composer.json is larger than %d bytes", lim.MaxManifest)
	}
	// Read every entry: the reader enforces the declared sizes and checks
	// CRCs, so a corrupt or lying archive is refused before it is stored.
	var manifest bytes.Buffer
	buf := make([]byte, 32<<10)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("entry %q cannot be read", f.Name), err)
		}
		var dst io.Writer = io.Discard
		if f == want {
			dst = &manifest
		}
		_, err = io.CopyBuffer(dst, rc, buf)
		rc.Close()
		if err != nil {
			return nil, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("entry %q is corrupt", f.Name), err)
		}
	}
	return manifest.Bytes(), nil
}

// cleanEntryName refuses names that escape the extraction directory
// (zip-slip) or that different systems would read differently.
func cleanEntryName(name string) (clean string, isDir bool, err error) {
	bad := func(why string) (string, bool, error) {
		return "", false, errs.Invalidf("the zip archive holds an unsafe path %q: %s", name, why)
	}
	switch {
	case name == "":
		return bad("empty name")
	case strings.ContainsRune(name, 0):
		return bad("NUL byte")
	case strings.Contains(name, `\`):
		return bad("backslash")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case len(name) >= 2 && name[1] == ':':
		return bad("drive letter")
	}
	isDir = strings.HasSuffix(name, "/")
	for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if seg == ".." {
			return bad("parent directory reference")
		}
	}
	clean = path.Clean(name)
	if clean == "." || strings.HasPrefix(clean, "../") {
		return bad("outside the archive")
	}
	return clean, isDir, nil
}

// ArchiveFile is one entry of a zip built by BuildZip.
type ArchiveFile struct {
	Path       string // slash-separated, relative; directories end without "/"
	Dir        bool
	Executable bool
	Symlink    bool // Open returns the link target
	Open       func() (io.ReadCloser, error)
}

// BuildZip writes a zip of files under prefix (e.g. "acme-foo-1a2b3c4/") in
// the order given, with every timestamp set to modTime, as "git archive
// --format=zip" does: the same input always gives the same bytes.
func BuildZip(w io.Writer, prefix string, modTime time.Time, files []ArchiveFile) error {
	zw := zip.NewWriter(w)
	mt := modTime.UTC().Truncate(time.Second)
	if prefix != "" {
		if _, err := zw.CreateHeader(dirHeader(prefix, mt)); err != nil {
			return err
		}
	}
	for _, f := range files {
		name := prefix + f.Path
		if f.Dir {
			if _, err := zw.CreateHeader(dirHeader(name+"/", mt)); err != nil {
				return err
			}
			continue
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mt}
		switch {
		case f.Symlink:
			h.SetMode(0o777 | fs.ModeSymlink)
			h.Method = zip.Store
		case f.Executable:
			h.SetMode(0o755)
		default:
			h.SetMode(0o644)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("open %s: %w", f.Path, err)
		}
		_, err = io.Copy(fw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return zw.Close()
}

func dirHeader(name string, mt time.Time) *zip.FileHeader {
	h := &zip.FileHeader{Name: name, Method: zip.Store, Modified: mt}
	h.SetMode(0o755 | fs.ModeDir)
	return h
}
