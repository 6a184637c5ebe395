// Package blob is the contract of the blob store: a flat store of bytes
// under relative, slash-separated keys. Its drivers live a floor up
// (storage/filesystem, storage/s3, storage/memory); blobtest beside this
// package is the conformance suite every driver runs.
package blob

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is the contract every blob driver implements.
//
// Keys are relative and slash-separated; ValidKey says which are accepted and
// every method rejects others with errs.ErrInvalidArgument.
type Store interface {
	// Open returns the object for reading. errs.ErrNotFound when missing.
	// The reader is seekable so that HTTP range requests can be served.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, error)
	// Stat describes the object. errs.ErrNotFound when missing.
	Stat(ctx context.Context, key string) (Info, error)
	// Put stores r under key atomically: readers see the old object or the
	// whole new one, never a part. size is the exact length or -1 when
	// unknown. r is streamed, never held in memory whole. A cancelled ctx
	// aborts the write and leaves nothing visible.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Delete removes the object; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Lister is implemented by drivers that can walk keys (used by garbage collection).
type Lister interface {
	// List calls fn for every object whose key starts with prefix, where the
	// prefix ends at a "/" boundary or is a whole key prefix of the listed
	// objects; "a/b" lists "a/b/x" but never "a/b-other/x".
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Object is one object of a BatchPutter's batch, already in memory.
type Object struct {
	Key  string
	Data []byte
}

// BatchPutter is implemented by drivers that store many small objects at
// once for less than a Put each: each object as Put stores it (atomically),
// durable when PutAll returns; on an error some may be stored, never a part
// of one.
type BatchPutter interface {
	PutAll(ctx context.Context, objs []Object) error
}

// Pinger is implemented by drivers that can check that their back end is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ValidKey reports whether key is acceptable: non-empty, relative, slash
// separated, without empty, "." or ".." segments, backslashes or NUL bytes.
func ValidKey(key string) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("storage: key %q: %w", key, errs.ErrInvalidArgument)
	}
	if strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("storage: key %q: %w", key, errs.ErrInvalidArgument)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("storage: key %q: %w", key, errs.ErrInvalidArgument)
		}
	}
	return nil
}

// ValidPrefix is ValidKey for listing prefixes, which may also be empty or end with "/".
func ValidPrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		if prefix == "" {
			return nil
		}
		return fmt.Errorf("storage: prefix %q: %w", prefix, errs.ErrInvalidArgument)
	}
	return ValidKey(p)
}

// SeekTarget is the position a Seek(offset, whence) from pos in an object of
// size bytes moves to, for readers that implement io.Seeker themselves; a
// bad whence or a negative result is errs.ErrInvalidArgument.
func SeekTarget(pos, size, offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = pos + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return 0, errs.Invalidf("seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, errs.Invalidf("seek: negative position %d", abs)
	}
	return abs, nil
}
