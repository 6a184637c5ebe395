package buf

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/ecosystems/buf/protodoc"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
)

const (
	// docsCacheKey prefixes the cached documentation of a commit; commits
	// never change, so neither does their documentation.
	docsCacheKey = "buf:docs:1:"
	docsCacheTTL = 24 * time.Hour
	// docsCacheMax is the largest encoded documentation kept in the cache.
	docsCacheMax = 4 << 20
)

// Docs returns the documentation of the view's commit, generated from its
// .proto files compiled against its dependencies. Types a dependency
// defines have the dependency's commit id as their Origin. The
// documentation is made once per commit and kept in the cache.
func (s *Service) Docs(ctx context.Context, v View) (protodoc.Docs, error) {
	if err := v.check(); err != nil {
		return protodoc.Docs{}, err
	}
	if !v.HasCommit {
		return protodoc.Docs{}, nil
	}
	if s.cache == nil {
		return s.buildDocs(ctx, v.Commit)
	}
	c := boundedCache{Cache: s.cache, max: docsCacheMax}
	b, err := cache.GetOrLoad(ctx, c, &s.docLoads, docsCacheKey+v.Commit.ID, docsCacheTTL, func(ctx context.Context) ([]byte, error) {
		d, err := s.buildDocs(ctx, v.Commit)
		if err != nil {
			return nil, err
		}
		return json.Marshal(d)
	})
	if err != nil {
		return protodoc.Docs{}, err
	}
	var d protodoc.Docs
	if err := json.Unmarshal(b, &d); err != nil {
		return protodoc.Docs{}, fmt.Errorf("decode documentation of commit %s: %w", v.Commit.ID, err)
	}
	return d, nil
}

// boundedCache stores only values of at most max bytes.
type boundedCache struct {
	cache.Cache
	max int
}

func (c boundedCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if len(v) > c.max {
		return nil
	}
	return c.Cache.Set(ctx, key, v, ttl)
}

// buildDocs compiles the .proto files of commit c against those of the
// commits it depends on, reading no more bytes than a download may hold.
func (s *Service) buildDocs(ctx context.Context, c Commit) (protodoc.Docs, error) {
	closure, err := s.st.closure(ctx, []string{c.ID})
	if err != nil {
		return protodoc.Docs{}, err
	}
	var files []CommitFile
	var origins []string // per file: "" (own) or the dependency's commit
	var size int64
	for _, id := range append([]string{c.ID}, closure[c.ID]...) {
		fs, err := s.st.commitFiles(ctx, id)
		if err != nil {
			return protodoc.Docs{}, err
		}
		for _, f := range fs {
			if module.ClassifyPath(f.Path) != module.FileTypeProto {
				continue
			}
			origin := id
			if id == c.ID {
				origin = ""
			}
			files, origins = append(files, f), append(origins, origin)
			size += max(f.Size, 0)
		}
	}
	if size > s.cfg.MaxResponseBytes {
		return protodoc.Docs{}, errs.TooLargef("the module and its dependencies hold %d bytes of .proto files, more than documentation is made for (%d, PACKYARD_BUF_MAX_RESPONSE_BYTES)", size, s.cfg.MaxResponseBytes)
	}
	contents, err := s.readFiles(ctx, files)
	if err != nil {
		return protodoc.Docs{}, err
	}
	sources := make([]protodoc.Source, len(files))
	for i, f := range contents {
		sources[i] = protodoc.Source{Path: f.Path, Content: f.Content, Own: origins[i] == "", Origin: origins[i]}
	}
	ctx, cancel := context.WithTimeout(ctx, linkTimeout)
	defer cancel()
	d, err := protodoc.Document(ctx, sources)
	if err != nil && ctx.Err() == nil {
		return protodoc.Docs{}, errs.Wrap(errs.ErrFailedPrecondition,
			"no documentation for commit "+c.ID+": its files do not compile together with their dependencies", err)
	}
	return d, err
}
