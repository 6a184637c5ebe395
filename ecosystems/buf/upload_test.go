package buf

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/buf/module"
)

func TestCommitDigests(t *testing.T) {
	files := []module.FileDigest{{Path: "a/a.proto", Shake256: hex.EncodeToString(module.Shake256([]byte("syntax = \"proto3\";\n")))}}
	wantB4, err := module.FilesDigest(files)
	require.NoError(t, err)
	d1, d2 := module.Shake256([]byte("dep1")), module.Shake256([]byte("dep2"))
	digests := map[string][]byte{"c1": d1, "c2": d2, "unused": module.Shake256([]byte("x"))}

	b4, b5, err := commitDigests(files, nil, digests)
	require.NoError(t, err)
	require.Equal(t, wantB4, b4)
	require.Equal(t, module.B5(wantB4, nil), b5)

	b4, b5, err = commitDigests(files, []string{"c2", "c1"}, digests)
	require.NoError(t, err)
	require.Equal(t, wantB4, b4)
	require.Equal(t, module.B5(wantB4, [][]byte{d1, d2}), b5)

	_, _, err = commitDigests(files, []string{"c1", "missing"}, digests)
	require.ErrorContains(t, err, "no digest for dependency commit missing")

	_, _, err = commitDigests([]module.FileDigest{files[0], files[0]}, nil, digests)
	require.ErrorContains(t, err, "duplicate path")
}
