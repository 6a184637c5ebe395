package filesystem_test

import (
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
)

// TestPutAll: a batch stores every object as Put does, replaces existing
// ones whole, and leaves no temporary file behind, also when a key is refused.
func TestPutAll(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	require.NoError(t, s.Put(ctx, "a/b/old", strings.NewReader("old content"), 11))
	objs := []blob.Object{{Key: "a/b/one", Data: []byte("one")}, {Key: "a/c/two", Data: []byte("two!")},
		{Key: "a/b/old", Data: []byte("new")}, {Key: "empty", Data: nil}}
	require.NoError(t, s.PutAll(ctx, objs))
	for _, o := range objs {
		rc, err := s.Open(ctx, o.Key)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, rc.Close())
		require.NoError(t, err)
		require.Equal(t, string(o.Data), string(got), o.Key)
	}

	err := s.PutAll(ctx, []blob.Object{{Key: "a/b/three", Data: []byte("3")}, {Key: "../escape", Data: []byte("x")}})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, err = s.Stat(ctx, "a/b/three")
	require.ErrorIs(t, err, errs.ErrNotFound, "a refused batch renames nothing")
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		require.NotContains(t, d.Name(), ".packyard-tmp-", "temporary file left behind")
		return nil
	}))
}
