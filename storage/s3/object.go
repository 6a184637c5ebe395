package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
)

// object is an open S3 object: one GET streams it from the start, and a
// read after a Seek elsewhere issues a ranged GET pinned to the same
// version with If-Match on its ETag. If the object was overwritten in
// between, that read fails (errs.ErrFailedPrecondition) rather than mixing
// two versions. (minio's own *Object sends a HEAD before its first GET, so
// an overwrite between Open and the first Read fails a plain sequential read;
// this type avoids that round trip and that failure.)
type object struct {
	s    *Store
	ctx  context.Context
	key  string
	name string
	size int64
	etag string

	body    io.ReadCloser // nil when no response is open
	bodyPos int64         // offset of body's next byte
	pos     int64         // offset of the caller's next Read
	closed  bool
}

func (s *Store) openObject(ctx context.Context, key, name string) (*object, error) {
	body, info, _, err := s.core.GetObject(ctx, s.cfg.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.mapErr(ctx, "open", key, err)
	}
	return &object{s: s, ctx: ctx, key: key, name: name, size: info.Size, etag: info.ETag, body: body}, nil
}

func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, fmt.Errorf("s3: read %s: %w", o.key, errClosed)
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil || o.bodyPos != o.pos {
		if err := o.reopen(); err != nil {
			return 0, err
		}
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyPos += int64(n)
	switch {
	case err == io.EOF && o.pos < o.size:
		return n, fmt.Errorf("s3: read %s: %w", o.key, io.ErrUnexpectedEOF)
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		_ = o.body.Close()
		o.body = nil
		return n, o.s.mapErr(o.ctx, "read", o.key, err)
	}
	return n, nil
}

var errClosed = errors.New("object is closed")

// reopen starts a ranged GET at pos for the version Open saw.
func (o *object) reopen() error {
	if o.body != nil {
		_ = o.body.Close()
		o.body = nil
	}
	opts := minio.GetObjectOptions{}
	if o.etag != "" {
		if err := opts.SetMatchETag(o.etag); err != nil {
			return fmt.Errorf("s3: read %s: %w", o.key, err)
		}
	}
	if o.pos > 0 {
		if err := opts.SetRange(o.pos, 0); err != nil {
			return fmt.Errorf("s3: read %s: %w", o.key, err)
		}
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.cfg.Bucket, o.name, opts)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed") {
			return fmt.Errorf("s3: read %s: the object was replaced while open: %w", o.key, errs.ErrFailedPrecondition)
		}
		return o.s.mapErr(o.ctx, "read", o.key, err)
	}
	o.body, o.bodyPos = body, o.pos
	return nil
}

// Seek moves the read position; the next Read fetches from there. Seeking
// to the current position keeps the open response.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, fmt.Errorf("s3: seek %s: %w", o.key, errClosed)
	}
	abs, err := blob.SeekTarget(o.pos, o.size, offset, whence)
	if err != nil {
		return 0, fmt.Errorf("s3: seek %s: %w", o.key, err)
	}
	o.pos = abs
	return abs, nil
}

// Close releases the open response.
func (o *object) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}
