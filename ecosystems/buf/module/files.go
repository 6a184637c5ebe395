package module

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/packyard/packyard/pkg/errs"
)

// FileType is the kind of a module file, as buf counts them.
type FileType int

const (
	FileTypeUnknown FileType = iota
	FileTypeProto            // *.proto
	FileTypeDoc              // buf.md, README.md or README.markdown
	FileTypeLicense          // LICENSE
)

// docFiles are the documentation files in buf's order of preference: only
// the first present one belongs to a module.
var docFiles = []string{"buf.md", "README.md", "README.markdown"}

// ClassifyPath returns what kind of module file p is.
func ClassifyPath(p string) FileType {
	switch {
	case strings.HasSuffix(p, ".proto"):
		return FileTypeProto
	case p == "LICENSE":
		return FileTypeLicense
	}
	for _, d := range docFiles {
		if p == d {
			return FileTypeDoc
		}
	}
	return FileTypeUnknown
}

// ValidatePath checks that p is a normalized, relative, slash-separated path
// that stays inside the module.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return errs.Invalidf("file path is empty")
	case len(p) > 4096:
		return errs.Invalidf("file path %.64q... is too long", p)
	case !utf8.ValidString(p):
		return errs.Invalidf("file path %q is not valid UTF-8", p)
	case strings.ContainsAny(p, "\\\x00"):
		return errs.Invalidf("file path %q must use '/' separators and no NUL bytes", p)
	case strings.HasPrefix(p, "/"):
		return errs.Invalidf("file path %q must be relative to the module root", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return errs.Invalidf("file path %q escapes the module", p)
	case path.Clean(p) != p || p == ".":
		return errs.Invalidf("file path %q is not normalized (no '.', '..' or empty components)", p)
	}
	return nil
}

// ValidateModuleFiles checks the paths of a module's files: each valid and
// unique, each a .proto file, LICENSE or a documentation file, at most one
// documentation file, and at least one .proto file.
func ValidateModuleFiles(paths []string) error {
	seen := make(map[string]bool, len(paths))
	var doc string
	protos := 0
	for _, p := range paths {
		if err := ValidatePath(p); err != nil {
			return err
		}
		if seen[p] {
			return errs.Invalidf("file %q is given twice", p)
		}
		seen[p] = true
		switch ClassifyPath(p) {
		case FileTypeProto:
			protos++
		case FileTypeDoc:
			if doc != "" {
				return errs.Invalidf("files %q and %q: a module has at most one documentation file", doc, p)
			}
			doc = p
		case FileTypeLicense:
		default:
			return errs.Invalidf("file %q: a module holds only .proto files, LICENSE and one of %s", p, strings.Join(docFiles, ", "))
		}
	}
	if protos == 0 {
		return errs.Invalidf("a module needs at least one .proto file")
	}
	return nil
}
