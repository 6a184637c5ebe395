package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/packyard/packyard/pkg/errs"
)

// Source is the .proto files of one module commit.
type Source struct {
	Owner  string
	Module string
	Files  map[string][]byte // path -> content; .proto files only
}

// Compiled is a commit compiled with its dependencies: every file the
// commit's files need, imports before the files that import them, and the
// commit's own files, sorted, as the files to generate.
type Compiled struct {
	Files    []*descriptorpb.FileDescriptorProto
	Generate []string
	// Modules names, for each file that is not a well-known type, the
	// index in the sources (0: the root) of the module it comes from.
	Modules map[string]int
}

// maxCompileErrors is how many problems a failed compilation reports.
const maxCompileErrors = 5

// Compile compiles the root's files against its dependencies' files (and
// the well-known types) with source info, the way an image carries them.
func Compile(ctx context.Context, root Source, deps []Source) (Compiled, error) {
	all := append([]Source{root}, deps...)
	owner := map[string]int{}
	for i, s := range all {
		for p := range s.Files {
			if _, dup := owner[p]; !dup {
				owner[p] = i
			}
		}
	}
	generate := make([]string, 0, len(root.Files))
	for p := range root.Files {
		generate = append(generate, p)
	}
	sort.Strings(generate)
	if len(generate) == 0 {
		return Compiled{}, errs.PreconditionFailedf("the commit has no .proto files to generate")
	}
	var problems []string
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(p string) (io.ReadCloser, error) {
				i, ok := owner[p]
				if !ok {
					return nil, fmt.Errorf("%s: %w", p, errNoFile)
				}
				return io.NopCloser(strings.NewReader(string(all[i].Files[p]))), nil
			},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			if len(problems) < maxCompileErrors {
				problems = append(problems, err.Error())
			}
			return nil
		}, nil),
	}
	files, err := c.Compile(ctx, generate...)
	if err != nil {
		if len(problems) == 0 {
			problems = append(problems, err.Error())
		}
		return Compiled{}, errs.Wrap(errs.ErrFailedPrecondition,
			"the commit does not compile: "+strings.Join(problems, "; "), err)
	}
	out := Compiled{Generate: generate, Modules: map[string]int{}}
	seen := map[string]bool{}
	for _, f := range files {
		out.Files = appendWithImports(out.Files, f, seen)
	}
	for _, fd := range out.Files {
		if i, ok := owner[fd.GetName()]; ok {
			out.Modules[fd.GetName()] = i
		}
	}
	return out, nil
}

var errNoFile = errors.New("no such file in the module or its dependencies")

// appendWithImports appends f after the files it imports (depth first, in
// import order), each file once.
func appendWithImports(out []*descriptorpb.FileDescriptorProto, f protoreflect.FileDescriptor, seen map[string]bool) []*descriptorpb.FileDescriptorProto {
	if seen[f.Path()] {
		return out
	}
	seen[f.Path()] = true
	imports := f.Imports()
	for i := range imports.Len() {
		out = appendWithImports(out, imports.Get(i).FileDescriptor, seen)
	}
	if r, ok := f.(linker.Result); ok {
		return append(out, proto.Clone(r.FileDescriptorProto()).(*descriptorpb.FileDescriptorProto))
	}
	return append(out, protodesc.ToFileDescriptorProto(f))
}

// packageVersionRE is a proto package's version component (v1, v2beta1).
var packageVersionRE = regexp.MustCompile(`^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$`)

// GoPackage is the go_package of a file at filePath with proto package pkg
// in an SDK: the SDK's import path for the file's directory, and, when the
// package ends in a version (acme.pet.v1), the package name made of its last
// two components (petv1), as buf's managed mode names it.
func GoPackage(sdk ModulePath, filePath, pkg string) string {
	gp := sdk.ImportPath(path.Dir(filePath))
	parts := strings.Split(pkg, ".")
	if n := len(parts); n >= 2 && packageVersionRE.MatchString(parts[n-1]) {
		gp += ";" + parts[n-2] + parts[n-1]
	}
	return gp
}

// SetGoPackages sets the go_package of every file that comes from a module
// (well-known types keep theirs) to its place in the SDK sdkOf names for
// that module's index.
func SetGoPackages(c Compiled, sdkOf func(module int) ModulePath) {
	for _, fd := range c.Files {
		i, ok := c.Modules[fd.GetName()]
		if !ok {
			continue
		}
		if fd.Options == nil {
			fd.Options = &descriptorpb.FileOptions{}
		}
		fd.Options.GoPackage = proto.String(GoPackage(sdkOf(i), fd.GetName(), fd.GetPackage()))
	}
}
