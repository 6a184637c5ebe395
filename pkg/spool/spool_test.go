package spool_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/spool"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

// The directory is 0700 and files 0600 whatever the umask.
func TestModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data", "tmp")
	s, err := spool.New(dir, 0)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), mode(t, dir))
	f, err := s.Create(t.Context(), "upload-*.zip")
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, fs.FileMode(0o600), mode(t, f.Name()))
	require.Equal(t, dir, filepath.Dir(f.Name()))
	d, err := s.MkdirTemp(t.Context(), "clone-*")
	require.NoError(t, err)
	defer d.Remove()
	require.Equal(t, fs.FileMode(0o700), mode(t, d.Path()))
}

// Files count what is written through them until they are closed (and
// removed); past the cap a write fails naming the limit: ResourceExhausted
// while others hold the space, TooLarge when one file alone would not fit.
func TestCap(t *testing.T) {
	s, err := spool.New(t.TempDir(), 100)
	require.NoError(t, err)
	a, err := s.Create(t.Context(), "a-*")
	require.NoError(t, err)
	n, err := a.Write(bytes.Repeat([]byte("a"), 60))
	require.NoError(t, err)
	require.Equal(t, 60, n)
	require.EqualValues(t, 60, s.Used())

	b, err := s.Create(t.Context(), "b-*")
	require.NoError(t, err)
	_, err = b.Write(bytes.Repeat([]byte("b"), 30))
	require.NoError(t, err)
	n, err = b.Write(bytes.Repeat([]byte("b"), 30))
	require.ErrorIs(t, err, errs.ErrResourceExhausted)
	require.ErrorContains(t, err, "PACKYARD_TMP_MAX_SIZE")
	require.Zero(t, n, "nothing is written past the cap")
	require.EqualValues(t, 90, s.Used())

	_, err = b.Write(bytes.Repeat([]byte("b"), 80))
	require.ErrorIs(t, err, errs.ErrTooLarge, "110 bytes in one file never fit")
	require.ErrorContains(t, err, "PACKYARD_TMP_MAX_SIZE")

	// The content reads back; closing removes the file and frees its bytes.
	_, err = a.Seek(0, io.SeekStart)
	require.NoError(t, err)
	got, err := io.ReadAll(a)
	require.NoError(t, err)
	require.Len(t, got, 60)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	_, err = os.Stat(a.Name())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualValues(t, 30, s.Used())
	_, err = b.Write(bytes.Repeat([]byte("b"), 30))
	require.NoError(t, err)
	require.NoError(t, b.Close())
	require.Zero(t, s.Used())
}

// A directory counts what Charge measured until Remove.
func TestDirCharge(t *testing.T) {
	s, err := spool.New(t.TempDir(), 100)
	require.NoError(t, err)
	d, err := s.MkdirTemp(t.Context(), "clone-*")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(d.Path(), ".git", "objects"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), ".git", "objects", "x"), make([]byte, 70), 0o600))
	require.NoError(t, d.Charge())
	require.EqualValues(t, 70, s.Used())
	f, err := s.Create(t.Context(), "f-*")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(make([]byte, 40))
	require.ErrorIs(t, err, errs.ErrResourceExhausted)
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), "y"), make([]byte, 40), 0o600))
	require.ErrorIs(t, d.Charge(), errs.ErrTooLarge)
	require.NoError(t, d.Remove())
	require.Zero(t, s.Used())
	_, err = os.Stat(d.Path())
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// Grow counts a directory's writes before they happen: past the cap it
// counts nothing and names the limit; Charge then counts what is there.
func TestDirGrow(t *testing.T) {
	s, err := spool.New(t.TempDir(), 100)
	require.NoError(t, err)
	d, err := s.MkdirTemp(t.Context(), "clone-*")
	require.NoError(t, err)
	require.NoError(t, d.Grow(60))
	require.EqualValues(t, 60, s.Used())
	err = d.Grow(41)
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorContains(t, err, spool.LimitName)
	require.EqualValues(t, 60, s.Used(), "a refused write counts nothing")
	require.NoError(t, d.Grow(40))
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), "x"), make([]byte, 30), 0o600))
	require.NoError(t, d.Charge())
	require.EqualValues(t, 30, s.Used(), "Charge replaces the running count by the measured size")
	other, err := s.MkdirTemp(t.Context(), "clone-*")
	require.NoError(t, err)
	require.ErrorIs(t, other.Grow(71), errs.ErrResourceExhausted, "the space the first holds")
	require.NoError(t, d.Remove())
	require.NoError(t, other.Grow(71))
	require.NoError(t, other.Remove())
	require.Zero(t, s.Used())
	require.Error(t, d.Grow(1), "a removed directory takes no more")
}

// Clean empties the directory (what a crashed process left) and fixes its mode.
func TestClean(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "leftover-upload"), []byte("x"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "leftover-clone", ".git"), 0o755))
	s, err := spool.New(dir, 0)
	require.NoError(t, err)
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 2, "New does not clean")
	require.NoError(t, s.Clean())
	entries, _ = os.ReadDir(dir)
	require.Empty(t, entries)
	require.Equal(t, fs.FileMode(0o700), mode(t, dir))
}
