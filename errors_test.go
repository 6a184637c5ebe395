package packyard_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A categorized error's text is what a client reads, so it is written by
// packyard: lower-level errors (a driver's, the network's, a decoder's)
// reach it only as errs.Wrap's cause. This test reads the source for the
// ways their text used to slip into the message:
//
//	errs.Invalidf("bad URL: %v", err)                 // a constructor formatting an error
//	fmt.Errorf("query: %v: %w", err, errs.ErrUnavailable) // a category beside an error's text
//	fmt.Errorf("redis: %w: %w", errs.ErrUnavailable, err)
//	errs.Wrap(cat, fmt.Sprintf("... %v", err), err)   // the cause pasted into the message
//
// An argument counts as an error when it is named err, ends in Err or err,
// or calls Error(). Messages built from errs.PublicMessage are fine.
func TestNoErrorTextInPublicMessages(t *testing.T) {
	var bad []string
	fset := token.NewFileSet()
	for _, dir := range []string{"pkg", "auth", "storage", "migrations", "ecosystems", "cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if why := leaks(call); why != "" {
					bad = append(bad, fmt.Sprintf("%s: %s", fset.Position(call.Pos()), why))
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(bad) > 0 {
		t.Errorf("lower-level error text in a public message (use errs.Wrap(category, message, err)):\n%s", strings.Join(bad, "\n"))
	}
}

var constructor = regexp.MustCompile(`^[A-Z][A-Za-z]*f$`) // errs.Invalidf, errs.NotFoundf, ...

// leaks says how call puts an error's text into a categorized message, or "".
func leaks(call *ast.CallExpr) string {
	pkg, name := selector(call.Fun)
	switch {
	case pkg == "errs" && constructor.MatchString(name):
		if errorArg(call.Args[1:]) {
			return "errs." + name + " formats an error"
		}
	case pkg == "errs" && name == "Wrap" && len(call.Args) == 3:
		if inner, ok := call.Args[1].(*ast.CallExpr); ok {
			if p, n := selector(inner.Fun); p == "fmt" && n == "Sprintf" && errorArg(inner.Args[1:]) {
				return "errs.Wrap's message formats an error"
			}
		}
	case pkg == "fmt" && name == "Errorf" && len(call.Args) > 1:
		if category(call.Args[1:]) && errorArg(call.Args[1:]) {
			return "fmt.Errorf puts a category beside an error's text"
		}
	}
	return ""
}

func selector(e ast.Expr) (pkg, name string) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", ""
	}
	return id.Name, sel.Sel.Name
}

// category reports whether args hold a category sentinel (errs.ErrX).
func category(args []ast.Expr) bool {
	for _, a := range args {
		if p, n := selector(a); p == "errs" && strings.HasPrefix(n, "Err") {
			return true
		}
	}
	return false
}

// errorArg reports whether args hold something that looks like an error
// (or its text) from below packyard.
func errorArg(args []ast.Expr) bool {
	for _, a := range args {
		switch a := a.(type) {
		case *ast.Ident:
			if a.Name == "err" || strings.HasSuffix(a.Name, "Err") || strings.HasSuffix(a.Name, "err") {
				return true
			}
		case *ast.CallExpr:
			if sel, ok := a.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" && len(a.Args) == 0 {
				return true
			}
		case *ast.BasicLit:
			if s, err := strconv.Unquote(a.Value); err == nil && strings.Contains(s, "Go value of type") {
				return true
			}
		}
	}
	return false
}
