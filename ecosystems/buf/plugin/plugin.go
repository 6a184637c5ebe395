// Package plugin is packyard's catalog of remote code generation plugins
// and their sandbox. A plugin is a protoc plugin compiled to WebAssembly
// (WASI preview 1), owned by an organization and addressed as
// owner/name:version with a revision: its bytes live in the CAS, its
// metadata in the buf_plugins table (store.go holds all of the SQL).
//
// Catalog adds, lists, removes and resolves plugins; Runner runs one on a
// CodeGeneratorRequest inside wazero with no filesystem, no network, fake
// clocks, a memory limit, a wall-time limit and a bound on parallel runs;
// NewRequest builds that request from descriptors the way the buf CLI does
// for a local plugin. Neither Catalog nor Runner authorizes: callers do.
package plugin

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Plugin is one revision of one version of a plugin.
type Plugin struct {
	ID           string    `json:"id"`             // the revision's id
	Owner        string    `json:"owner"`          // organization name
	Name         string    `json:"name"`           // e.g. "protoc-gen-go" or "go"
	Version      string    `json:"version"`        // semantic version with a leading v, e.g. "v1.36.11"
	Revision     int       `json:"revision"`       // 1, 2, …
	WasmDigest   string    `json:"wasm_digest"`    // sha256 hex of the module in the CAS
	GoDeps       []string  `json:"go_deps"`        // "module@version" the generated Go code requires
	BasePlugin   string    `json:"base_plugin"`    // "owner/name" whose SDK the generated code builds on, or ""
	GoMinVersion string    `json:"go_min_version"` // the go line of generated SDKs, e.g. "1.21", or ""
	CreatedAt    time.Time `json:"created_at"`     // UTC
}

// FullName is "owner/name".
func (p Plugin) FullName() string { return p.Owner + "/" + p.Name }

// Ref is "owner/name:version" with the revision, as errors name a plugin.
func (p Plugin) Ref() string {
	return p.Owner + "/" + p.Name + ":" + p.Version + " (revision " + strconv.Itoa(p.Revision) + ")"
}

// ValidateName checks a plugin name: the rules of module names.
func ValidateName(name string) error { return metadata.ValidateName("plugin", name) }

var semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// ValidateVersion checks a plugin version: vMAJOR.MINOR.PATCH with an
// optional pre-release, no build metadata (Go module versions carry none).
func ValidateVersion(v string) error {
	if len(v) > 64 || !semverRE.MatchString(v) {
		return errs.Invalidf("plugin version %q is invalid: use a semantic version such as v1.2.3 or v1.2.3-rc.1", v)
	}
	return nil
}

var goModuleRE = regexp.MustCompile(`^[a-z0-9][-a-z0-9.]*(/[-A-Za-z0-9_.~+]+)*$`)

// ValidateGoDep checks a "module@version" Go dependency.
func ValidateGoDep(dep string) error {
	mod, ver, ok := strings.Cut(dep, "@")
	if !ok || len(dep) > 300 || !goModuleRE.MatchString(mod) || !strings.Contains(strings.SplitN(mod, "/", 2)[0], ".") ||
		(ValidateVersion(ver) != nil && !goPseudoRE.MatchString(ver)) {
		return errs.Invalidf("Go dependency %q is invalid: use MODULE@VERSION, e.g. google.golang.org/protobuf@v1.36.11", dep)
	}
	return nil
}

var goPseudoRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-[0-9A-Za-z.-]+$`)

var goVersionRE = regexp.MustCompile(`^1\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?$`)

// ValidateGoMinVersion checks a go line version such as 1.21 or 1.22.3.
func ValidateGoMinVersion(v string) error {
	if v != "" && !goVersionRE.MatchString(v) {
		return errs.Invalidf("Go version %q is invalid: use a version such as 1.21 or 1.22.3", v)
	}
	return nil
}

// ValidateBasePlugin checks an "owner/name" base plugin ("" is none).
func ValidateBasePlugin(ref string) error {
	if ref == "" {
		return nil
	}
	owner, name, ok := strings.Cut(ref, "/")
	if !ok || metadata.ValidateName("organization", owner) != nil || ValidateName(name) != nil {
		return errs.Invalidf("base plugin %q is invalid: use OWNER/NAME", ref)
	}
	return nil
}

// CompareVersions orders two valid versions by semantic version precedence:
// negative when a < b, zero when equal, positive when a > b.
func CompareVersions(a, b string) int {
	ma, mb := semverRE.FindStringSubmatch(a), semverRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return strings.Compare(a, b)
	}
	for i := 1; i <= 3; i++ {
		if c := compareNumeric(ma[i], mb[i]); c != 0 {
			return c
		}
	}
	return comparePrerelease(strings.TrimPrefix(ma[4], "-"), strings.TrimPrefix(mb[4], "-"))
}

func compareNumeric(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// comparePrerelease follows semver: no pre-release ranks higher; identifiers
// compare numerically when both are numbers, numbers rank lower than words.
func comparePrerelease(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, nb := isNumber(pa[i]), isNumber(pb[i])
		var c int
		switch {
		case na && nb:
			c = compareNumeric(pa[i], pb[i])
		case na:
			c = -1
		case nb:
			c = 1
		default:
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// latest picks the plugin with the highest version, then revision.
func latest(ps []Plugin) Plugin {
	return slices.MaxFunc(ps, func(a, b Plugin) int {
		if c := CompareVersions(a.Version, b.Version); c != 0 {
			return c
		}
		return a.Revision - b.Revision
	})
}

// sortPlugins orders by owner, name, then version and revision descending.
func sortPlugins(ps []Plugin) {
	slices.SortFunc(ps, func(a, b Plugin) int {
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := CompareVersions(b.Version, a.Version); c != 0 {
			return c
		}
		return b.Revision - a.Revision
	})
}
