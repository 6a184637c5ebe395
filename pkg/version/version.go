// Package version reports packyard's version, set at build time with
// -ldflags "-X github.com/packyard/packyard/pkg/version.Version=v1.2.3",
// or read from the module's build information.
package version

import "runtime/debug"

// Version is set by the build; empty means "read the build information".
var Version = ""

// String returns the version, the VCS revision when known, or "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
