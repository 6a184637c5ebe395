package buf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/errs"
)

const (
	// linkTimeout bounds the linking of one upload.
	linkTimeout = 30 * time.Second
	// linkParallelism bounds the files one link compiles at once.
	linkParallelism = 2
	// maxLinkErrors is how many problems a refused upload reports.
	maxLinkErrors = 5
)

// linkSource is a file a module's files may import: a pushed file, or a
// file of an existing commit, read from the CAS when needed. Pushed files are
// parsed again rather than kept parsed from prepare: a parsed file takes some
// 40 times the memory of its source, which an upload of the maximum size
// would multiply, while parsing 1,000 files again costs tens of milliseconds.
type linkSource struct {
	content []byte        // a pushed file's content
	parsed  parser.Result // a file of the module being linked, as prepare parsed it
	file    CommitFile    // a stored file, when stored
	stored  bool
}

// linkCache holds, for one upload, the files of existing commits and the
// contents read from the CAS, shared by the links of its modules.
type linkCache struct {
	s       *Service
	mu      sync.Mutex
	files   map[string][]CommitFile // commit id -> its files
	content map[string][]byte       // blob -> content
}

func (s *Service) newLinkCache() *linkCache {
	return &linkCache{s: s, files: map[string][]CommitFile{}, content: map[string][]byte{}}
}

func (c *linkCache) commitFiles(ctx context.Context, id string) ([]CommitFile, error) {
	if files, ok := c.files[id]; ok {
		return files, nil
	}
	files, err := c.s.st.commitFiles(ctx, id)
	if err != nil {
		return nil, err
	}
	c.files[id] = files
	return files, nil
}

func (c *linkCache) read(ctx context.Context, f CommitFile) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.content[f.Blob]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := c.s.readBlob(ctx, f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.content[f.Blob] = b
	c.mu.Unlock()
	return b, nil
}

// linkModule compiles the .proto files of pushed module i against its own
// files, the files of the commits it depends on (closure: pushed ones by
// index in pushedCommit, the others from the CAS) and the well-known types.
// Unknown types, unresolvable imports, duplicate symbols and the like are an
// InvalidArgument naming the first few problems by file, line and column.
func (s *Service) linkModule(ctx context.Context, cache *linkCache, preps []*prepared, i int, closure []string, pushedCommit map[string]int) error {
	p := preps[i]
	visible, own, err := linkSources(ctx, cache, preps, i, closure, pushedCommit)
	if err != nil {
		return err
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, linkTimeout)
	defer cancel()
	var (
		mu      sync.Mutex
		msgs    []string
		readErr error
	)
	resolve := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		src, ok := visible[path]
		switch {
		case !ok:
			return protocompile.SearchResult{}, fs.ErrNotExist
		case src.parsed != nil: // linked once, by this module alone: never parsed again
			return protocompile.SearchResult{ParseResult: src.parsed}, nil
		case !src.stored:
			return protocompile.SearchResult{Source: bytes.NewReader(src.content)}, nil
		}
		b, err := cache.read(ctx, src.file)
		if err != nil {
			mu.Lock()
			if readErr == nil {
				readErr = err
			}
			mu.Unlock()
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Source: bytes.NewReader(b)}, nil
	})
	rep := reporter.NewReporter(func(err reporter.ErrorWithPos) error {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, strings.TrimSpace(err.Error()))
		if len(msgs) >= maxLinkErrors {
			return err // enough to act on: stop
		}
		return nil
	}, nil)
	comp := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(resolve),
		MaxParallelism: linkParallelism,
		Reporter:       rep,
	}
	_, err = comp.Compile(ctx, own...)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errs.TooLargef("%s: checking the proto files took longer than %s", p.module.FullName(), linkTimeout)
	case readErr != nil:
		return fmt.Errorf("link %s: %w", p.module.FullName(), readErr)
	case len(msgs) > 0:
		return errs.Invalidf("%s: invalid proto files: %s", p.module.FullName(), strings.Join(msgs, "; "))
	case err == nil:
		return nil
	default:
		return fmt.Errorf("link %s: %w", p.module.FullName(), err)
	}
}

// linkSources returns the files pushed module i's files may import (its
// own .proto files, then those of its closure, the first of a path
// winning) and its own .proto paths, sorted.
func linkSources(ctx context.Context, cache *linkCache, preps []*prepared, i int, closure []string, pushedCommit map[string]int) (map[string]linkSource, []string, error) {
	p := preps[i]
	visible := map[string]linkSource{}
	var own []string
	for _, f := range p.files {
		if module.ClassifyPath(f.Path) == module.FileTypeProto {
			visible[f.Path] = linkSource{content: f.Content, parsed: p.parsed[f.Path]}
			own = append(own, f.Path)
		}
	}
	sort.Strings(own)
	for _, id := range closure {
		if j, ok := pushedCommit[id]; ok {
			for _, f := range preps[j].files {
				if _, dup := visible[f.Path]; !dup && module.ClassifyPath(f.Path) == module.FileTypeProto {
					visible[f.Path] = linkSource{content: f.Content}
				}
			}
			continue
		}
		files, err := cache.commitFiles(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("link %s: files of commit %s: %w", p.module.FullName(), id, err)
		}
		for _, f := range files {
			if _, dup := visible[f.Path]; !dup && module.ClassifyPath(f.Path) == module.FileTypeProto {
				visible[f.Path] = linkSource{file: f, stored: true}
			}
		}
	}
	return visible, own, nil
}
