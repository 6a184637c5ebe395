package protodoc

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Source is a .proto file to compile: the module's own, or one its files
// may import (a dependency's), with where it comes from.
type Source struct {
	Path    string
	Content []byte
	Own     bool
	Origin  string // for files that are not the module's own
}

// maxErrors is how many compile problems an error names.
const maxErrors = 3

// Document compiles the module's own sources (importing the others and the
// well-known types) with source info and documents them. A module that does
// not compile is an error naming its first problems; a cancelled ctx stops
// the compilation.
func Document(ctx context.Context, sources []Source) (Docs, error) {
	byPath := make(map[string]Source, len(sources))
	var own []string
	for _, s := range sources {
		if _, dup := byPath[s.Path]; dup {
			continue // the first of a path wins, as when the module was pushed
		}
		byPath[s.Path] = s
		if s.Own {
			own = append(own, s.Path)
		}
	}
	sort.Strings(own)
	resolve := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		s, ok := byPath[path]
		if !ok {
			return protocompile.SearchResult{}, fs.ErrNotExist
		}
		return protocompile.SearchResult{Source: bytes.NewReader(s.Content)}, nil
	})
	var msgs []string
	rep := reporter.NewReporter(func(err reporter.ErrorWithPos) error {
		msgs = append(msgs, strings.TrimSpace(err.Error()))
		if len(msgs) >= maxErrors {
			return err
		}
		return nil
	}, nil)
	comp := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(resolve),
		SourceInfoMode: protocompile.SourceInfoStandard,
		MaxParallelism: 1,
		Reporter:       rep,
	}
	files, err := comp.Compile(ctx, own...)
	switch {
	case ctx.Err() != nil:
		return Docs{}, ctx.Err()
	case len(msgs) > 0:
		return Docs{}, fmt.Errorf("the module's files do not compile: %s", strings.Join(msgs, "; "))
	case err != nil:
		return Docs{}, fmt.Errorf("compile the module's files: %w", err)
	}
	fds := make([]protoreflect.FileDescriptor, len(files))
	for i, f := range files {
		fds[i] = f
	}
	return Build(fds, func(path string) string {
		s, ok := byPath[path]
		switch {
		case !ok:
			return StandardOrigin
		case s.Own:
			return ""
		}
		return s.Origin
	}), nil
}
