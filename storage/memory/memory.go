// Package memory is an in-memory blob.Store for tests and
// throwaway runs. Stored bytes are never modified in place (a Put builds a
// new slice and swaps it in), so a reader keeps the version it opened and
// never sees part of a later write.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/storage/internal/streamio"
)

// Store keeps objects in a map.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
	now     func() time.Time
}

type object struct {
	data    []byte // immutable once stored
	modTime time.Time
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
	_ blob.Pinger = (*Store)(nil)
)

// New returns an empty store.
func New() *Store { return &Store{objects: map[string]object{}, now: time.Now} }

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return nopCloser{bytes.NewReader(o.data)}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (s *Store) get(ctx context.Context, key string) (object, error) {
	if err := blob.ValidKey(key); err != nil {
		return object{}, err
	}
	if err := ctx.Err(); err != nil {
		return object{}, err
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return object{}, fmt.Errorf("memory: object %s: %w", key, errs.ErrNotFound)
	}
	return o, nil
}

// Put implements blob.Store. It reads r into a new buffer and only
// then swaps it in, so a failed or cancelled Put changes nothing.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rd := streamio.Exact(streamio.WithContext(ctx, r), size)
	var data []byte
	var err error
	if size >= 0 {
		// Exactly size bytes, then one more Read: streamio.Exact reports
		// missing or extra content there.
		data = make([]byte, size)
		if _, err = io.ReadFull(rd, data); err == nil {
			if _, err = rd.Read(make([]byte, 1)); err == io.EOF {
				err = nil
			}
		}
	} else {
		data, err = io.ReadAll(rd)
	}
	if err != nil {
		return fmt.Errorf("memory: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	s.mu.Lock()
	s.objects[key] = object{data: data, modTime: s.now()}
	s.mu.Unlock()
	return nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// List implements blob.Lister, in key order, over a snapshot taken at the start.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	dir := strings.TrimSuffix(prefix, "/")
	s.mu.RLock()
	var infos []blob.Info
	for k, o := range s.objects {
		if dir == "" || k == dir || strings.HasPrefix(k, dir+"/") {
			infos = append(infos, blob.Info{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, i := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(i); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Ping implements blob.Pinger; memory is always reachable.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }
