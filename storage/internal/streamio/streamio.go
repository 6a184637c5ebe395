// Package streamio holds the reader wrappers the blob drivers share: one that
// stops a stream when its context ends and one that enforces a declared
// length. Both expose only Read, so a driver's client never sees (and never
// relies on) io.ReaderAt or io.Seeker of the caller's reader.
package streamio

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/packyard/packyard/pkg/errs"
)

// WithContext returns a reader that fails with ctx's error once ctx is done.
func WithContext(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Exact returns a reader that yields exactly size bytes of r. When r ends
// early it fails with io.ErrUnexpectedEOF wrapped in errs.ErrInvalidArgument;
// when r has more than size bytes, the Read that delivers the last declared
// byte also reports an errs.ErrInvalidArgument, so a consumer that stops after
// size bytes still sees the error. size < 0 means unknown: r passes through
// (still hiding its other methods).
func Exact(r io.Reader, size int64) io.Reader {
	return &exactReader{r: r, size: size, left: size}
}

type exactReader struct {
	r    io.Reader
	size int64
	left int64
	err  error
}

// errLonger and errShorter describe a length mismatch; both are invalid arguments.
var (
	errLonger  = fmt.Errorf("content is longer than the declared size: %w", errs.ErrInvalidArgument)
	errShorter = fmt.Errorf("content is shorter than the declared size (%w): %w", io.ErrUnexpectedEOF, errs.ErrInvalidArgument)
)

// check verifies that r, read to the declared size, has nothing more.
func (e *exactReader) check() error {
	var one [1]byte
	for range 100 {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("declared %d bytes: %w", e.size, errLonger)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.size < 0 {
		return e.r.Read(p)
	}
	if e.left == 0 {
		e.err = e.check()
		if e.err == nil {
			e.err = io.EOF
		}
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		if err != nil && err != io.EOF {
			e.err = err
			return n, err
		}
		if cerr := e.check(); cerr != nil {
			e.err = cerr
			return n, cerr
		}
		e.err = io.EOF
		return n, nil
	case err == io.EOF:
		e.err = fmt.Errorf("declared %d bytes, got %d: %w", e.size, e.size-e.left, errShorter)
		return n, e.err
	case err != nil:
		e.err = err
	}
	return n, err
}

// CheckEmpty verifies that r has no content; drivers call it for size 0,
// where their client may never read the body.
func CheckEmpty(r io.Reader) error {
	e := &exactReader{r: r}
	return e.check()
}

// Recorder remembers the first error other than io.EOF that its reader
// returned. Clients such as net/http replace a request body's read error
// with their own ("connection closed"); a driver asks the Recorder for the
// real cause.
type Recorder struct {
	r   io.Reader
	mu  sync.Mutex // the client may read from another goroutine
	err error
}

// Record wraps r.
func Record(r io.Reader) *Recorder { return &Recorder{r: r} }

func (rec *Recorder) Read(p []byte) (int, error) {
	n, err := rec.r.Read(p)
	if err != nil && err != io.EOF {
		rec.mu.Lock()
		if rec.err == nil {
			rec.err = err
		}
		rec.mu.Unlock()
	}
	return n, err
}

// Err returns the first read error, or nil.
func (rec *Recorder) Err() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.err
}
