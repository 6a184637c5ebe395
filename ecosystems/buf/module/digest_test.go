package module

import (
	"crypto/sha3"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

func hexShake(s string) string { return hex.EncodeToString(Shake256([]byte(s))) }

func TestShake256(t *testing.T) {
	// SHAKE256("") from the FIPS 202 test vectors, first 64 bytes.
	require.Equal(t,
		"46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762fd75dc4ddd8c0f200cb05019d67b592f6fc821c49479ab48640292eacb3b7c4be",
		hexShake(""))
	require.Len(t, Shake256([]byte("x")), 64)
	h := sha3.NewSHAKE256()
	h.Write([]byte("abc"))
	want := make([]byte, 64)
	h.Read(want)
	require.Equal(t, want, Shake256([]byte("abc")))
}

func TestManifest(t *testing.T) {
	a, b, c := hexShake("a"), hexShake("b"), hexShake("c")
	tests := []struct {
		name    string
		files   []FileDigest
		want    string
		wantErr string
	}{
		{name: "empty module", files: nil, want: ""},
		{
			name:  "sorted by path byte order, two spaces, trailing newline",
			files: []FileDigest{{"pet/v1/pet.proto", c}, {"README.md", b}, {"LICENSE", a}},
			want:  "shake256:" + a + "  LICENSE\nshake256:" + b + "  README.md\nshake256:" + c + "  pet/v1/pet.proto\n",
		},
		{
			name:  "upper case sorts before lower case",
			files: []FileDigest{{"a.proto", a}, {"B.proto", b}},
			want:  "shake256:" + b + "  B.proto\nshake256:" + a + "  a.proto\n",
		},
		{name: "duplicate path", files: []FileDigest{{"a.proto", a}, {"a.proto", b}}, wantErr: "duplicate"},
		{name: "empty path", files: []FileDigest{{"", a}}, wantErr: "empty"},
		{name: "bad digest", files: []FileDigest{{"a.proto", "abc"}}, wantErr: "not a SHAKE256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Manifest(tt.files)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestB4IsShakeOfManifest(t *testing.T) {
	content := []byte("syntax = \"proto3\";\npackage base;\n")
	files := []FileDigest{{Path: "base.proto", Shake256: hex.EncodeToString(Shake256(content))}}
	got, err := FilesDigest(files)
	require.NoError(t, err)
	manifest := "shake256:" + hex.EncodeToString(Shake256(content)) + "  base.proto\n"
	require.Equal(t, Shake256([]byte(manifest)), got)
}

func TestB5(t *testing.T) {
	files := Shake256([]byte("files"))
	d1 := Shake256([]byte("dep1"))
	d2 := Shake256([]byte("dep2"))
	filesStr := "shake256:" + hex.EncodeToString(files)

	// No dependencies: SHAKE256 of the files digest string, no newline.
	require.Equal(t, Shake256([]byte(filesStr)), B5(files, nil))

	// Dependencies joined with "\n", sorted as strings, no trailing newline.
	s1, s2 := "b5:"+hex.EncodeToString(d1), "b5:"+hex.EncodeToString(d2)
	lo, hi := s1, s2
	if hi < lo {
		lo, hi = hi, lo
	}
	want := Shake256([]byte(filesStr + "\n" + lo + "\n" + hi))
	require.Equal(t, want, B5(files, [][]byte{d1, d2}))
	require.Equal(t, want, B5(files, [][]byte{d2, d1}), "order of dependencies must not matter")
	require.NotEqual(t, B5(files, [][]byte{d1}), B5(files, [][]byte{d2}))
}

// TestGoldenFromBufCLI checks the digests the buf CLI v1.75.0 wrote to
// buf.lock and verified on build for a module of base/v1/base.proto and
// LICENSE (e2e/buf_test.go asserts the same values in real lock files).
func TestGoldenFromBufCLI(t *testing.T) {
	files := []FileDigest{
		{Path: "base/v1/base.proto", Shake256: hexShake("syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n")},
		{Path: "LICENSE", Shake256: hexShake("MIT\n")},
	}
	b4, err := FilesDigest(files)
	require.NoError(t, err)
	require.Equal(t, "24fed9d078ef5c9ffda5d80b1c79435e3773786fb6637aa5f50295689620ea16f3c0d0592e02e1a76495f86b82000dade5620ed63cc4906f4ddaf64b72f7f5bd", hex.EncodeToString(b4))
	require.Equal(t, "0892add7aac7d17da16fa3e9bf2b0cc87299559234312e750acd2b203b35d88cd36bd773d86265edd79a619b1312707de2b4cd6ee5287f1e889c6c592cb790f5", hex.EncodeToString(B5(b4, nil)))
}
