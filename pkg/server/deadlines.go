package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Request bodies and responses get progress deadlines rather than one
// deadline for the whole request: each read of the body (each write of the
// response) must make progress within PACKYARD_HTTP_READ_TIMEOUT
// (PACKYARD_HTTP_WRITE_TIMEOUT), and the deadline starts afresh with the
// next. A stalled or trickling client is dropped, while an upload of the
// largest allowed size, or a dist of any size, passes at whatever speed the
// link keeps up; the time a handler spends working between writes
// (fetching from an upstream, reading the blob store) never counts. The
// deadlines are set through http.ResponseController (HTTP/1 and HTTP/2
// alike). A write deadline is cleared after each write, so that work
// between writes never counts, and set once more when the handler returns,
// for the server's final flush (the server clears it before the next
// request on a kept-alive connection). Headers and the TLS
// handshake are bounded by PACKYARD_HTTP_READ_HEADER_TIMEOUT, idle
// connections by PACKYARD_HTTP_IDLE_TIMEOUT.

// progress is a deadline armed around one blocking call.
type progress struct {
	set func(time.Time) error // ResponseController.SetReadDeadline or SetWriteDeadline
	d   time.Duration         // 0: none
	off bool                  // the connection does not support deadlines
}

func (p *progress) arm() {
	if p.d <= 0 || p.off || p.set == nil {
		return
	}
	if err := p.set(time.Now().Add(p.d)); err != nil {
		p.off = true
	}
}

func (p *progress) disarm() {
	if p.d <= 0 || p.off || p.set == nil {
		return
	}
	_ = p.set(time.Time{})
}

// deadlineBody is a request body that must keep arriving: the read
// deadline is set when the request starts and moved on by every read, so a
// body the handler reads must make progress within the read timeout. When
// the handler returns with the body unread, the deadline is set afresh: the
// server discards up to 256 KiB of the rest after the answer, and a client
// that does not send it within the read timeout loses the connection
// instead of holding it. Once the body has been read to its end the
// deadline is left to the server (which clears it to watch for a closed
// connection); after a timeout it stays expired.
type deadlineBody struct {
	io.ReadCloser
	read          progress
	eof, timedOut bool
}

func newDeadlineBody(body io.ReadCloser, read progress) *deadlineBody {
	b := &deadlineBody{ReadCloser: body, read: read}
	b.read.arm()
	return b
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.read.arm()
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut = true
		return n, &BodyTimeoutError{Timeout: b.read.d}
	case err == io.EOF:
		b.eof = true
	}
	return n, err
}

// handlerDone gives the rest of an unread body the whole read timeout to
// arrive for the server's discard.
func (b *deadlineBody) handlerDone() {
	if !b.eof && !b.timedOut {
		b.read.arm()
	}
}

// BodyTimeoutError is a request body that stopped arriving for longer than
// the read timeout; it answers 408.
type BodyTimeoutError struct{ Timeout time.Duration }

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("request body: no data for %s (PACKYARD_HTTP_READ_TIMEOUT)", e.Timeout)
}

func (e *BodyTimeoutError) Unwrap() error { return os.ErrDeadlineExceeded }
