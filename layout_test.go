// Package packyard_test checks the repository's layout: one floor per
// concern, and imports that only go down.
//
//	cmd/packyard          the binary and the composition of fx modules
//	ecosystems/<name>     protocol code: pkg and auth only; never another ecosystem
//	auth storage migrations
//	                      implementations: pkg and themselves only
//	pkg/...               contracts, the server, shared libraries: nothing outside pkg
//
// The rule is read from `go list -json ./...`, so a violation fails here
// with the import that breaks it, whatever package it is in.
package packyard_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/packyard/packyard"

// listedPackage is what the rule needs of `go list -json`.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// floor is where a package of the module sits: "pkg", "auth", "storage",
// "migrations", "ecosystems/<name>", "cmd", "e2e", "bench", or "" for the
// test-only packages at the root and in charts/.
func floor(path string) string {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	parts := strings.Split(rel, "/")
	switch parts[0] {
	case "pkg", "auth", "storage", "migrations", "cmd", "e2e", "bench":
		return parts[0]
	case "ecosystems":
		if len(parts) > 1 {
			return "ecosystems/" + parts[1]
		}
		return "ecosystems"
	}
	return ""
}

// isProject reports whether an import path is one of the module's packages.
func isProject(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// allowed reports whether code on floor from may import a package on floor
// to, and if not, why.
func allowed(from, to string) (bool, string) {
	isEcosystem := func(f string) bool { return strings.HasPrefix(f, "ecosystems/") }
	switch {
	case from == to:
		return true, ""
	case to == "pkg":
		return true, "" // every floor may use the contracts and shared libraries
	case to == "cmd":
		return from == "e2e", "only cmd itself and the end-to-end harness import cmd"
	case from == "pkg":
		return false, "pkg imports nothing of the project outside pkg"
	case from == "auth" || from == "storage" || from == "migrations":
		return false, from + " imports only pkg and " + from
	case isEcosystem(from):
		if isEcosystem(to) {
			return false, "an ecosystem never imports another ecosystem"
		}
		return to == "auth", "an ecosystem imports only pkg, auth and itself (never storage drivers, migrations or cmd)"
	case from == "cmd":
		return to != "e2e" && to != "bench", "cmd does not import test harnesses or tools"
	case from == "e2e":
		return true, ""
	case from == "bench":
		return false, "bench imports only pkg"
	}
	return true, ""
}

// allowedInTests is the looser rule for the imports of _test.go files. A
// test is a consumer, not a floor: nothing imports a test, so a test that
// reaches up cannot make the production graph cycle or bend. Tests may
// therefore run the contracts against the real drivers (storage, with
// migrations to create the tables), and ecosystem tests may build a real
// kernel (cmd/packyard/kernel) or run the daemon through e2e/harness. Two
// limits stay: an ecosystem's tests never use another ecosystem, and only
// ecosystem tests, cmd and e2e may reach cmd/packyard/kernel or e2e/harness.
func allowedInTests(from, to, path string) (bool, string) {
	if ok, _ := allowed(from, to); ok {
		return true, ""
	}
	isEcosystem := func(f string) bool { return strings.HasPrefix(f, "ecosystems/") }
	switch {
	case isEcosystem(to):
		return from == "cmd" || from == "e2e" || from == "", "tests never import an ecosystem other than their own"
	case to == "storage" || to == "migrations":
		return true, ""
	case to == "cmd":
		return isEcosystem(from) && path == module+"/cmd/packyard/kernel",
			"only ecosystem tests may build a kernel (cmd/packyard/kernel); nothing else of cmd is imported"
	case to == "e2e":
		return isEcosystem(from) || from == "", "only ecosystem tests use the e2e harness"
	case to == "auth":
		return from != "storage" && from != "migrations", "storage and migrations tests never import auth"
	}
	return false, "not allowed even in tests"
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func short(path string) string {
	if path == module {
		return "(root)"
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestLayout lists the module's packages once and checks each rule on them.
func TestLayout(t *testing.T) {
	pkgs := listPackages(t)
	t.Run("ImportsGoDown", func(t *testing.T) { checkImports(t, pkgs) })
	t.Run("TestImportsGoDown", func(t *testing.T) { checkTestImports(t, pkgs) })
	t.Run("ForbiddenDependencies", func(t *testing.T) { checkForbiddenDeps(t, pkgs) })
	t.Run("EveryPackageHasAFloor", func(t *testing.T) { checkFloors(t, pkgs) })
	t.Run("ReadmeLayoutTable", func(t *testing.T) { checkReadmeLayout(t, pkgs) })
}

// checkImports applies the floor rule to every package's imports
// (production code).
func checkImports(t *testing.T, pkgs []listedPackage) {
	for _, p := range pkgs {
		from := floor(p.ImportPath)
		for _, imp := range p.Imports {
			if !isProject(imp) {
				continue
			}
			if ok, why := allowed(from, floor(imp)); !ok {
				t.Errorf("%s imports %s: %s", short(p.ImportPath), short(imp), why)
			}
		}
	}
}

// checkTestImports applies the looser rule to the imports of _test.go files.
func checkTestImports(t *testing.T, pkgs []listedPackage) {
	for _, p := range pkgs {
		from := floor(p.ImportPath)
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			if !isProject(imp) || imp == p.ImportPath {
				continue
			}
			if ok, why := allowedInTests(from, floor(imp), imp); !ok {
				t.Errorf("tests of %s import %s: %s", short(p.ImportPath), short(imp), why)
			}
		}
	}
}

// checkForbiddenDeps checks that some packages do not even depend on the
// server or the HTTP framework indirectly.
func checkForbiddenDeps(t *testing.T, pkgs []listedPackage) {
	// Transitive dependencies these packages must never have, so that the
	// adapters stay free of the HTTP framework and the server.
	forbiddenDeps := []struct {
		pkg       string // a package, or a prefix ending in "/..."
		forbidden []string
	}{
		{"storage/...", []string{"pkg/server", "ecosystems/", "cmd/", "github.com/labstack/echo"}},
		{"auth", []string{"pkg/server", "ecosystems/", "cmd/", "github.com/labstack/echo"}},
		{"pkg/metadata", []string{"pkg/server", "ecosystems/", "cmd/"}},
		{"pkg/cas", []string{"pkg/server", "ecosystems/", "cmd/"}},
		{"pkg/cache/...", []string{"pkg/server", "ecosystems/", "cmd/"}},
		{"pkg/access", []string{"pkg/server", "github.com/labstack/echo"}},
	}
	for _, rule := range forbiddenDeps {
		matched := 0
		for _, p := range pkgs {
			name := short(p.ImportPath)
			if prefix, ok := strings.CutSuffix(rule.pkg, "/..."); ok {
				if name != prefix && !strings.HasPrefix(name, prefix+"/") {
					continue
				}
			} else if name != rule.pkg {
				continue
			}
			matched++
			for _, d := range p.Deps {
				for _, f := range rule.forbidden {
					full := f
					if !strings.Contains(f, ".") {
						full = module + "/" + f
					}
					if strings.HasPrefix(d, full) {
						t.Errorf("%s must not depend on %s (it depends on %s)", name, f, d)
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("rule for %s matches no package", rule.pkg)
		}
	}
}

// checkFloors checks that the floor of every package is known: a new
// top-level folder must be placed in the rule before it is used.
func checkFloors(t *testing.T, pkgs []listedPackage) {
	for _, p := range pkgs {
		rel := short(p.ImportPath)
		if floor(p.ImportPath) == "" && rel != "(root)" && rel != "charts" {
			t.Errorf("package %s is on no floor: add its folder to the layout rule", rel)
		}
		if floor(p.ImportPath) == "ecosystems" {
			t.Errorf("package %s: ecosystems/ holds only ecosystems' folders", rel)
		}
	}
}

// checkReadmeLayout checks that the README's layout table matches the tree:
// every path it names exists, and every package is under a path it names.
func checkReadmeLayout(t *testing.T, pkgs []listedPackage) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var paths []string
	for _, line := range strings.Split(section, "\n") {
		first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		if !ok || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			p := strings.TrimSuffix(m[1], "/")
			if _, err := os.Stat(p); err != nil {
				t.Errorf("README layout table names %s, which does not exist", m[1])
			}
			paths = append(paths, p)
		}
	}
	for _, p := range pkgs {
		rel := short(p.ImportPath)
		if rel == "(root)" {
			continue
		}
		covered := slices.ContainsFunc(paths, func(path string) bool { return rel == path || strings.HasPrefix(rel, path+"/") })
		if !covered {
			t.Errorf("package %s is under no path of the README layout table", rel)
		}
	}
}
