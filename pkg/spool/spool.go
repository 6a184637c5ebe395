// Package spool owns packyard's temporary files: upload spools, archives
// being built, git clones. They live in one directory (PACKYARD_DATA_DIR/tmp,
// mode 0700, emptied when the daemon starts), files are 0600, and together
// they may hold at most a configured number of bytes
// (PACKYARD_TMP_MAX_SIZE): a write past that fails with a message naming
// the limit (errs.ErrResourceExhausted while other temporary files hold the
// space, errs.ErrTooLarge when one file alone would not fit), so a flood of
// uploads cannot fill the disk. A File counts the bytes written through it
// and is removed when closed; a Dir (for tools that write files themselves,
// like git) is counted as its user charges each write (Grow) and when it
// measures the directory (Charge).
package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/packyard/packyard/pkg/errs"
)

// LimitName is the setting the cap's errors name.
const LimitName = "PACKYARD_TMP_MAX_SIZE"

// Spool hands out temporary files and directories under one directory.
// It is safe for concurrent use.
type Spool struct {
	dir  string
	max  int64 // 0: no cap
	used atomic.Int64
}

// New returns a spool over dir, creating it (mode 0700) when missing; it
// does not touch what dir holds (see Clean). maxBytes caps the bytes all
// its live files hold together; 0 means no cap.
func New(dir string, maxBytes int64) (*Spool, error) {
	if dir == "" {
		return nil, fmt.Errorf("spool: empty directory: %w", errs.ErrInvalidArgument)
	}
	if maxBytes < 0 {
		maxBytes = 0
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("spool: create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o700); err != nil { // whatever the umask
			return nil, fmt.Errorf("spool: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool{dir: dir, max: maxBytes}, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Max is the cap in bytes (0: none).
func (s *Spool) Max() int64 { return s.max }

// Used is the number of bytes the live files and charged directories hold.
func (s *Spool) Used() int64 { return s.used.Load() }

// Clean empties the directory and sets its mode to 0700: what a previous
// process left behind (after a crash) is gone. Call it at start, before
// anything is spooled, and only from the process that owns the directory
// (the daemon, not the admin CLI).
func (s *Spool) Clean() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return fmt.Errorf("spool: clean: %w", err)
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// reserve counts n more bytes of a file or directory that holds held
// bytes already, or refuses them.
func (s *Spool) reserve(held, n int64) error {
	if n <= 0 {
		return nil
	}
	if s.max > 0 && held+n > s.max {
		return errs.TooLargef("a temporary file would exceed %s (%d bytes)", LimitName, s.max)
	}
	if total := s.used.Add(n); s.max > 0 && total > s.max {
		s.used.Add(-n)
		return fmt.Errorf("temporary files are at %s (%d bytes): retry when other uploads are done: %w",
			LimitName, s.max, errs.ErrResourceExhausted)
	}
	return nil
}

func (s *Spool) release(n int64) {
	if n > 0 {
		s.used.Add(-n)
	}
}

// Create makes a temporary file (mode 0600) named after pattern (as
// os.CreateTemp: "upload-*.zip"). Close it to remove it.
func (s *Spool) Create(ctx context.Context, pattern string) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &File{f: f, s: s}, nil
}

// MkdirTemp makes a temporary directory (mode 0700) named after pattern.
// Its content counts against the cap when Charge measures it; Remove it
// when done.
func (s *Spool) MkdirTemp(ctx context.Context, pattern string) (*Dir, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := os.MkdirTemp(s.dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.Chmod(p, 0o700); err != nil {
		_ = os.RemoveAll(p)
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Dir{path: p, s: s}, nil
}
