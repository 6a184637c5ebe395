package composer

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// A version's README is read on demand from its dist archive, the archive
// Composer installs, so what the page shows is what a project gets. A dist
// never changes (its sha1 is fixed), so the README is cached by the
// archive's digest for readmeTTL with no invalidation. Reading it costs one
// open of the archive and one inflate of README.md, at most readmeMaxSize;
// a page served from the cache costs a cache read.

const (
	// readmeMaxSize is the largest README shown; a larger one is cut there.
	readmeMaxSize = 256 << 10
	readmeTTL     = 24 * time.Hour
)

// Readme is the Markdown README of a version, from its dist archive; nil
// when the version has no stored archive or the archive has no README.
func (s *Service) Readme(ctx context.Context, v VersionDetail) ([]byte, error) {
	if v.digest == "" {
		return nil, nil
	}
	key := "composer:readme:" + v.digest
	if b, err := s.repo.cache.Get(ctx, key); err == nil && len(b) > 0 {
		return b[1:], nil // b[0] is 1 when a README was found
	}
	md, err := s.readReadme(ctx, v.digest, v.Size)
	if err != nil {
		return nil, err
	}
	_ = s.repo.cache.Set(ctx, key, append([]byte{1}, md...), readmeTTL) // a cache that is down only costs the next read
	return md, nil
}

func (s *Service) readReadme(ctx context.Context, digest string, size int64) ([]byte, error) {
	rc, err := s.cas.Open(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w", digest, err)
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok { // a store without random access: copy the archive to a spool file
		f, err := s.tmp.Create(ctx, "packyard-composer-readme-*.zip")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := io.Copy(f, io.LimitReader(rc, size)); err != nil {
			return nil, fmt.Errorf("copy archive %s: %w", digest, err)
		}
		ra = f
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, nil // not a zip archive: no README to show
	}
	return readmeOf(zr)
}

// readmeOf reads the README of an archive: README.md (or README.markdown,
// README), any case, at the root or in the archive's single top directory,
// at most readmeMaxSize bytes of it.
func readmeOf(zr *zip.Reader) ([]byte, error) {
	var best *zip.File
	bestDepth := 3
	for _, f := range zr.File {
		depth := strings.Count(strings.Trim(f.Name, "/"), "/")
		switch strings.ToLower(path.Base(f.Name)) {
		case "readme.md", "readme.markdown", "readme":
		default:
			continue
		}
		if depth < bestDepth && !f.FileInfo().IsDir() {
			best, bestDepth = f, depth
		}
	}
	if best == nil || bestDepth > 1 {
		return nil, nil
	}
	r, err := best.Open()
	if err != nil {
		return nil, nil // an unreadable entry is no README
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, readmeMaxSize))
	if err != nil {
		return nil, nil
	}
	return b, nil
}
