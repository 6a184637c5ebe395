package module

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestValidatePath(t *testing.T) {
	ok := []string{"a.proto", "pet/v1/pet.proto", "LICENSE", "a..b.proto", "..a.proto"}
	bad := []string{"", "/a.proto", "../a.proto", "..", "a/../../b.proto", "a/./b.proto", "./a.proto",
		"a//b.proto", "a/", "a\\b.proto", ".", "a/..", "x\x00.proto", "\xff.proto"}
	for _, p := range ok {
		require.NoError(t, ValidatePath(p), p)
	}
	for _, p := range bad {
		err := ValidatePath(p)
		require.Error(t, err, "%q", p)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", p)
	}
}

func TestClassifyPath(t *testing.T) {
	tests := map[string]FileType{
		"a.proto": FileTypeProto, "x/y.proto": FileTypeProto, "LICENSE": FileTypeLicense,
		"buf.md": FileTypeDoc, "README.md": FileTypeDoc, "README.markdown": FileTypeDoc,
		"docs/README.md": FileTypeUnknown, "buf.yaml": FileTypeUnknown, "buf.lock": FileTypeUnknown,
		"a.proto.bak": FileTypeUnknown, "x/LICENSE": FileTypeUnknown,
	}
	for p, want := range tests {
		require.Equal(t, want, ClassifyPath(p), p)
	}
}

func TestValidateModuleFiles(t *testing.T) {
	tests := []struct {
		name    string
		paths   []string
		wantErr string
	}{
		{"proto, license and one doc", []string{"a.proto", "LICENSE", "README.md"}, ""},
		{"no proto", []string{"LICENSE"}, "at least one .proto"},
		{"two docs", []string{"a.proto", "buf.md", "README.md"}, "at most one documentation"},
		{"buf.yaml is never uploaded", []string{"a.proto", "buf.yaml"}, "only .proto files"},
		{"duplicate", []string{"a.proto", "a.proto"}, "twice"},
		{"escaping path", []string{"../a.proto"}, "escapes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateModuleFiles(tt.paths)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
		})
	}
}

func TestNamesAndIDs(t *testing.T) {
	require.NoError(t, ValidateLabelName("main"))
	require.NoError(t, ValidateLabelName("v1.2.3"))
	require.NoError(t, ValidateLabelName("feature/x"))
	require.Error(t, ValidateLabelName(""))
	require.Error(t, ValidateLabelName("a b"))
	require.Error(t, ValidateLabelName("a\nb"))

	id, ok := NormalizeID("0190F3A1-2B3C-7D4E-8F90-0123456789AB")
	require.True(t, ok)
	require.Equal(t, "0190f3a12b3c7d4e8f900123456789ab", id)
	_, ok = NormalizeID("main")
	require.False(t, ok)
	_, ok = NormalizeID("zz90f3a12b3c7d4e8f900123456789ab")
	require.False(t, ok)
}
