package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// File is a temporary file of a Spool. Every byte written through it
// counts against the spool's cap until Close, which removes the file.
// Rewriting a part counts again (the count is of bytes written, so it
// never falls short). A File is for one goroutine at a time.
type File struct {
	f       *os.File
	s       *Spool
	written int64
	closed  bool
}

var (
	_ io.ReadWriteSeeker = (*File)(nil)
	_ io.ReaderAt        = (*File)(nil)
	_ io.Closer          = (*File)(nil)
)

// Write implements io.Writer; past the cap it writes nothing and fails.
func (f *File) Write(p []byte) (int, error) {
	if err := f.s.reserve(f.written, int64(len(p))); err != nil {
		return 0, err
	}
	n, err := f.f.Write(p)
	f.written += int64(n)
	f.s.release(int64(len(p) - n))
	return n, err
}

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) { return f.f.Read(p) }

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

// Seek implements io.Seeker.
func (f *File) Seek(offset int64, whence int) (int64, error) { return f.f.Seek(offset, whence) }

// Sync commits the file's content to stable storage.
func (f *File) Sync() error { return f.f.Sync() }

// Name is the file's path.
func (f *File) Name() string { return f.f.Name() }

// Written is the number of bytes written (and counted) so far.
func (f *File) Written() int64 { return f.written }

// Close closes and removes the file and gives its bytes back to the
// spool. Closing twice is harmless.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	cerr := f.f.Close()
	rerr := os.Remove(f.f.Name())
	f.s.release(f.written)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", rerr)
	}
	return cerr
}

// Dir is a temporary directory of a Spool, for tools that write files
// themselves (a git clone). Its content counts against the cap from the
// last Charge (and every Grow since) until Remove. Grow may be called from
// several goroutines; the other methods from one at a time.
type Dir struct {
	path    string
	s       *Spool
	mu      sync.Mutex
	charged int64
	removed bool
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Grow counts n more bytes the directory is about to hold (a write into
// one of its files), before they are written: past the cap it counts
// nothing and fails with the cap's error, so a writer that charges each
// write stops at the cap rather than after it. Charge later replaces the
// running count with the measured size.
func (d *Dir) Grow(n int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return fmt.Errorf("spool: %s was removed", d.path)
	}
	if err := d.s.reserve(d.charged, n); err != nil {
		return err
	}
	if n > 0 {
		d.charged += n
	}
	return nil
}

// Charge measures the directory's content and counts it against the cap;
// past the cap it fails (and the caller should Remove the directory).
// Call it after the tool wrote (or while it writes, to stop it early).
func (d *Dir) Charge() error {
	var size int64
	err := filepath.WalkDir(d.path, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return err
			}
			size += info.Size()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: measure %s: %w", d.path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if size <= d.charged {
		d.s.release(d.charged - size)
		d.charged = size
		return nil
	}
	if err := d.s.reserve(d.charged, size-d.charged); err != nil {
		return err
	}
	d.charged = size
	return nil
}

// Remove deletes the directory with its content and gives its bytes back
// to the spool. Removing twice is harmless.
func (d *Dir) Remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return nil
	}
	d.removed = true
	d.s.release(d.charged)
	d.charged = 0
	if err := os.RemoveAll(d.path); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
