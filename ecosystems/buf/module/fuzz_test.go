package module

import (
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

// A valid file path is relative, normalized and inside the module; every
// refusal is an InvalidArgument.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a.proto", "pet/v1/pet.proto", "LICENSE", "buf.md", "a..b.proto", "..a.proto", "", ".", "..",
		"../a.proto", "a/../../b", "/abs.proto", "a//b.proto", "a/./b.proto", "a\\b.proto", "a\x00b", "\xff.proto", strings.Repeat("a/", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		require.True(t, utf8.ValidString(p))
		require.False(t, path.IsAbs(p), "absolute path %q accepted", p)
		require.Equal(t, p, path.Clean(p), "path %q accepted but not clean", p)
		require.NotEqual(t, "..", p)
		require.False(t, strings.HasPrefix(p, "../"), "path %q escapes the module", p)
		require.NotContains(t, p, "\\")
		require.NotContains(t, p, "\x00")
		_ = ClassifyPath(p)
	})
}

// A module's file list is accepted only when every path is valid and unique.
func FuzzValidateModuleFiles(f *testing.F) {
	f.Add("a.proto\nLICENSE\nREADME.md")
	f.Add("a.proto\na.proto")
	f.Add("buf.md\nREADME.md\nx.proto")
	f.Add("../x.proto")
	f.Add("")
	f.Fuzz(func(t *testing.T, list string) {
		paths := strings.Split(list, "\n")
		err := ValidateModuleFiles(paths)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		seen := map[string]bool{}
		for _, p := range paths {
			require.NoError(t, ValidatePath(p))
			require.False(t, seen[p], "%q given twice", p)
			seen[p] = true
		}
	})
}

var idRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// NormalizeID accepts ids with or without dashes, in any case, and gives 32
// lower-case hex digits; it is a fixed point on its own output.
func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"0190F3A1-2B3C-7D4E-8F90-0123456789AB", "0190f3a12b3c7d4e8f900123456789ab", "main", "v1.0.0",
		"zz90f3a12b3c7d4e8f900123456789ab", "--------------------------------", "", "0190f3a1-2b3c-7d4e-8f90-0123456789ab-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := NormalizeID(s)
		if !ok {
			require.Empty(t, id)
			return
		}
		require.Regexp(t, idRE, id)
		again, ok := NormalizeID(id)
		require.True(t, ok)
		require.Equal(t, id, again)
	})
}

var moduleNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// Module and label names, the parts of a module reference
// (owner/module:label): a refusal is an InvalidArgument, and an accepted
// name has no separator or space that would make the reference ambiguous.
func FuzzRefNames(f *testing.F) {
	for _, s := range []string{"acme", "pet-store", "a.b_c", "A", "-a", "a-", "a/b", "a:b", "main", "v1.2.3", "feature/x", "a b",
		"a\nb", "\u00a0", "\xff", strings.Repeat("x", 251), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidateModuleName(s); err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
		} else {
			require.Regexp(t, moduleNameRE, s)
		}
		if err := ValidateLabelName(s); err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
		} else {
			require.True(t, len(s) >= 1 && len(s) <= 250)
			require.True(t, utf8.ValidString(s), "label %q is not UTF-8", s)
			require.False(t, strings.ContainsAny(s, " \t\r\n"), "label %q has spaces", s)
		}
	})
}

// Any content parses to imports or to an InvalidArgument, never a panic.
func FuzzParseImports(f *testing.F) {
	f.Add([]byte("syntax = \"proto3\";\npackage a;\nimport \"b/b.proto\";\nmessage A { string v = 1; }\n"))
	f.Add([]byte("syntax = \"proto2\";\nimport public \"x.proto\";\nimport weak \"y.proto\";\n"))
	f.Add([]byte("edition = \"2023\";\npackage e;\n"))
	f.Add([]byte("syntax = \"proto3\"; message {"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		imports, err := ParseImports("fuzz.proto", b)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		for _, i := range imports {
			require.NotEmpty(t, i)
		}
	})
}
