package module

import (
	"bytes"
	"errors"
	"strings"

	"github.com/bufbuild/protocompile/ast"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"

	"github.com/packyard/packyard/pkg/errs"
)

// ParseImports parses one .proto file and returns the paths it imports. A
// file that is not valid protobuf source is an InvalidArgument naming the
// file, line and column; so is one that imports a path no module file can
// have (such as "").
func ParseImports(path string, content []byte) ([]string, error) {
	imports, _, err := Parse(path, content)
	return imports, err
}

// Parse is ParseImports that also returns the parse itself, which a
// compiler given it need not redo.
func Parse(path string, content []byte) ([]string, parser.Result, error) {
	var first error
	rep := reporter.NewReporter(func(err reporter.ErrorWithPos) error {
		if first == nil {
			first = err
		}
		return nil // keep going so the first error is the one reported
	}, nil)
	h := reporter.NewHandler(rep)
	node, err := parse(path, content, h)
	if err == nil && first == nil {
		var res parser.Result
		res, err = parser.ResultFromAST(node, true, h)
		if err == nil && first == nil {
			imports, err := checkImports(path, res.FileDescriptorProto().GetDependency())
			if err != nil {
				return nil, nil, err
			}
			return imports, res, nil
		}
	}
	if first == nil {
		first = err
	}
	if first == nil {
		first = errors.New("invalid protobuf source")
	}
	return nil, nil, errs.Invalidf("invalid proto file %s", strings.TrimSpace(first.Error()))
}

// parse runs the protobuf parser, whose lexer can panic on some malformed
// input (an invalid escape followed by bytes that are not UTF-8): such a
// file is invalid source, never a crash.
func parse(path string, content []byte, h *reporter.Handler) (node *ast.FileNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			node, err = nil, errors.New(path+": the parser could not read this file (malformed string literal or encoding)")
		}
	}()
	return parser.Parse(path, bytes.NewReader(content), h)
}

// checkImports refuses an import that names no file a module could hold
// (an empty, absolute or escaping path).
func checkImports(path string, imports []string) ([]string, error) {
	for _, imp := range imports {
		if err := ValidatePath(imp); err != nil {
			return nil, errs.Invalidf("invalid proto file %s: import %q does not name a file of a module", path, imp)
		}
	}
	return imports, nil
}

// wellKnownTypes are the files the protobuf compiler provides itself. An
// import of one of them that no module provides is not a dependency.
var wellKnownTypes = map[string]bool{
	"google/protobuf/any.proto":             true,
	"google/protobuf/api.proto":             true,
	"google/protobuf/compiler/plugin.proto": true,
	"google/protobuf/cpp_features.proto":    true,
	"google/protobuf/descriptor.proto":      true,
	"google/protobuf/duration.proto":        true,
	"google/protobuf/empty.proto":           true,
	"google/protobuf/field_mask.proto":      true,
	"google/protobuf/go_features.proto":     true,
	"google/protobuf/java_features.proto":   true,
	"google/protobuf/source_context.proto":  true,
	"google/protobuf/struct.proto":          true,
	"google/protobuf/timestamp.proto":       true,
	"google/protobuf/type.proto":            true,
	"google/protobuf/wrappers.proto":        true,
}

// IsWellKnownType reports whether path is a file the compiler provides.
func IsWellKnownType(path string) bool { return wellKnownTypes[path] }
