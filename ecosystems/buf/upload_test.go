package buf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCommitDigests(t *testing.T) {
	files := []FileDigest{{Path: "a/a.proto", Shake256: hexShake("syntax = \"proto3\";\n")}}
	wantB4, err := FilesDigest(files)
	require.NoError(t, err)
	d1, d2 := Shake256([]byte("dep1")), Shake256([]byte("dep2"))
	digests := map[string][]byte{"c1": d1, "c2": d2, "unused": Shake256([]byte("x"))}

	b4, b5, err := commitDigests(files, nil, digests)
	require.NoError(t, err)
	require.Equal(t, wantB4, b4)
	require.Equal(t, B5(wantB4, nil), b5)

	b4, b5, err = commitDigests(files, []string{"c2", "c1"}, digests)
	require.NoError(t, err)
	require.Equal(t, wantB4, b4)
	require.Equal(t, B5(wantB4, [][]byte{d1, d2}), b5)

	_, _, err = commitDigests(files, []string{"c1", "missing"}, digests)
	require.ErrorContains(t, err, "no digest for dependency commit missing")

	_, _, err = commitDigests([]FileDigest{files[0], files[0]}, nil, digests)
	require.ErrorContains(t, err, "duplicate path")
}
