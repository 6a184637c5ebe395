package filesystem_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/blob/blobtest"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/storage/filesystem"
)

func newStore(tb testing.TB, root string) *filesystem.Store {
	tb.Helper()
	s, err := filesystem.New(filesystem.Config{Root: root}, zaptest.NewLogger(tb))
	require.NoError(tb, err)
	return s
}

// requireNoTempFiles fails when a temporary file of an unfinished Put remains under root.
func requireNoTempFiles(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		require.False(t, strings.HasPrefix(d.Name(), ".packyard-tmp-"), "temporary file left behind: %s", p)
		return nil
	})
	require.NoError(t, err)
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		root := t.TempDir()
		// Every behaviour, including failed and cancelled writes, must
		// leave no temporary file behind.
		t.Cleanup(func() { requireNoTempFiles(t, root) })
		return newStore(t, root)
	})
}

func BenchmarkStore(b *testing.B) {
	blobtest.Bench(b, func(b *testing.B) blob.Store { return newStore(b, b.TempDir()) })
}

func TestNew(t *testing.T) {
	_, err := filesystem.New(filesystem.Config{}, nil)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err = filesystem.New(filesystem.Config{Root: file}, nil)
	require.Error(t, err)

	nested := filepath.Join(t.TempDir(), "a", "b")
	s, err := filesystem.New(filesystem.Config{Root: nested}, nil)
	require.NoError(t, err)
	require.DirExists(t, nested)
	require.Equal(t, nested, s.Root())
}

func TestLayout(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	require.NoError(t, s.Put(t.Context(), "blobs/sha256/ab/cd/abcd", bytes.NewReader([]byte("hello")), 5))
	got, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", "ab", "cd", "abcd"))
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	fi, err := os.Stat(filepath.Join(root, "blobs", "sha256", "ab", "cd", "abcd"))
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&0o077&^0o044, "objects must not be writable by others")
}

func TestReservedTempNames(t *testing.T) {
	s := newStore(t, t.TempDir())
	for _, k := range []string{".packyard-tmp-1", "a/.packyard-tmp-x"} {
		err := s.Put(t.Context(), k, bytes.NewReader(nil), 0)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, k)
		_, err = s.Open(t.Context(), k)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, k)
	}
	// A temporary file of a crashed write is never listed.
	root := s.Root()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a", ".packyard-tmp-123"), []byte("partial"), 0o600))
	require.NoError(t, s.Put(t.Context(), "a/real", bytes.NewReader([]byte("x")), 1))
	var keys []string
	require.NoError(t, s.List(t.Context(), "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }))
	require.Equal(t, []string{"a/real"}, keys)
}

func TestFileDirectoryConflicts(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := t.Context()
	require.NoError(t, s.Put(ctx, "a/b", bytes.NewReader([]byte("x")), 1))
	err := s.Put(ctx, "a/b/c", bytes.NewReader([]byte("y")), 1)
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	require.NoError(t, s.Put(ctx, "d/e/f", bytes.NewReader([]byte("z")), 1))
	err = s.Put(ctx, "d/e", bytes.NewReader([]byte("w")), 1)
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	// A directory is not an object.
	require.NoError(t, s.Delete(ctx, "d/e"))
	rc, err := s.Open(ctx, "d/e/f")
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "z", string(b))
	requireNoTempFiles(t, s.Root())
}

func TestPingFailsWithoutRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	s := newStore(t, root)
	require.NoError(t, s.Ping(t.Context()))
	require.NoError(t, os.RemoveAll(root))
	require.ErrorIs(t, s.Ping(t.Context()), errs.ErrUnavailable)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.Ping(ctx), context.Canceled)
}

// Objects are 0600 in 0700 directories, the root included, whatever the
// umask; an existing root readable by others is made private.
func TestPrivateModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := filepath.Join(t.TempDir(), "blobs")
	require.NoError(t, os.MkdirAll(root, 0o755))
	s := newStore(t, root)
	require.NoError(t, s.Put(context.Background(), "blobs/sha256/ab/cd/abcdef", strings.NewReader("x"), 1))
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		require.Equal(t, want, fi.Mode().Perm(), p)
		return nil
	}))
}
