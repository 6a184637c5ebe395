package sdk

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/packyard/packyard/pkg/errs"
)

// DefaultGoVersion is the go line of an SDK whose plugin declares no
// minimum Go version.
const DefaultGoVersion = "1.21"

// Require is one requirement of an SDK's go.mod.
type Require struct {
	Path    string
	Version string
}

// ParseGoDep reads a plugin's declared Go dependency, "module@version".
func ParseGoDep(s string) (Require, error) {
	p, v, ok := strings.Cut(s, "@")
	if !ok || module.Check(p, v) != nil || semver.Canonical(v) != v {
		return Require{}, errs.Invalidf("Go dependency %q must be MODULE@vX.Y.Z", s)
	}
	return Require{Path: p, Version: v}, nil
}

// GoMod renders the go.mod of an SDK: its module path, the go line and its
// requirements, sorted, each module once (the highest version when two
// ask for the same module).
func GoMod(mod, goVersion string, reqs []Require) []byte {
	if goVersion == "" {
		goVersion = DefaultGoVersion
	}
	best := map[string]string{}
	for _, r := range reqs {
		if r.Path == mod {
			continue
		}
		if v, ok := best[r.Path]; !ok || semver.Compare(r.Version, v) > 0 {
			best[r.Path] = r.Version
		}
	}
	paths := make([]string, 0, len(best))
	for p := range best {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n", mod, goVersion)
	if len(paths) > 0 {
		b.WriteString("\nrequire (\n")
		for _, p := range paths {
			fmt.Fprintf(&b, "\t%s %s\n", p, best[p])
		}
		b.WriteString(")\n")
	}
	return []byte(b.String())
}
