package format

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// Composer's version rules (composer/semver's VersionParser and the tag and
// branch rules of its VCS repository), reimplemented from their documented
// behaviour. The test vectors in version_test.go come from Composer 2.5.5.

// Stability is a version's stability as Composer reports it.
type Stability string

const (
	StabilityStable Stability = "stable"
	StabilityRC     Stability = "RC"
	StabilityBeta   Stability = "beta"
	StabilityAlpha  Stability = "alpha"
	StabilityDev    Stability = "dev"
)

// defaultBranchAlias is the alias Composer gives a non-numeric default branch.
const defaultBranchAlias = "9999999-dev"

const modifier = `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?`

var (
	reAlias        = regexp.MustCompile(`^([^,\s]+) +as +([^,\s]+)$`)
	reStabFlag     = regexp.MustCompile(`(?i)@(?:stable|RC|beta|alpha|dev)$`)
	reBuild        = regexp.MustCompile(`^([^,\s+]+)\+\S+$`)
	reClassical    = regexp.MustCompile(`(?i)^v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + modifier + `$`)
	reDate         = regexp.MustCompile(`(?i)^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3})?)` + modifier + `$`)
	reDevSuffix    = regexp.MustCompile(`(?i)^(.*?)[.-]?dev$`)
	reNonDigit     = regexp.MustCompile(`\D`)
	reStability    = regexp.MustCompile(`(?i)` + modifier + `(?:\+.*)?$`)
	reRefSuffix    = regexp.MustCompile(`#.+$`)
	reBranch       = regexp.MustCompile(`(?i)^v?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?$`)
	reNumericAlias = regexp.MustCompile(`(?i)^((?:\d+\.)*\d+)(?:\.x)?-dev$`)
	reNines        = regexp.MustCompile(`(\.9{7})+`)
	reTagDev       = regexp.MustCompile(`(?i)[.-]?dev$`)
	reNormDev      = regexp.MustCompile(`(?i)(^dev-|[.-]?dev$)`)
)

// expandStability maps Composer's stability abbreviations to their full names.
func expandStability(s string) string {
	switch s = strings.ToLower(s); s {
	case "a":
		return "alpha"
	case "b":
		return "beta"
	case "p", "pl":
		return "patch"
	case "rc":
		return "RC"
	}
	return s
}

// Normalize turns a version string into Composer's normalized form
// ("v1.0" → "1.0.0.0", "1.0.0-rc.1" → "1.0.0.0-RC1", "dev-main" → "dev-main").
// It fails with errs.ErrInvalidArgument for strings Composer rejects.
func Normalize(version string) (string, error) {
	v := phpTrim(version)
	orig := v
	if m := reAlias.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	if loc := reStabFlag.FindStringIndex(v); loc != nil {
		v = v[:loc[0]]
	}
	switch v {
	case "master", "trunk", "default":
		v = "dev-" + v
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "dev-") {
		return "dev-" + v[4:], nil
	}
	if m := reBuild.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	var (
		m     []string
		index int
		out   string
	)
	if m = reClassical.FindStringSubmatch(v); m != nil {
		out = m[1]
		for _, p := range m[2:5] {
			if p == "" {
				p = ".0"
			}
			out += p
		}
		index = 5
	} else if m = reDate.FindStringSubmatch(v); m != nil {
		out = reNonDigit.ReplaceAllString(m[1], ".")
		index = 2
	}
	if index > 0 {
		if m[index] != "" {
			if m[index] == "stable" {
				return out, nil
			}
			out += "-" + expandStability(m[index]) + strings.TrimLeft(m[index+1], ".-")
		}
		if m[index+2] != "" {
			out += "-dev"
		}
		return out, nil
	}
	if m := reDevSuffix.FindStringSubmatch(v); m != nil {
		if n := NormalizeBranch(m[1]); !strings.HasPrefix(n, "dev-") {
			return n, nil
		}
	}
	return "", errs.Invalidf("invalid version string %q", orig)
}

// ParseStability returns the stability of a (pretty or normalized) version.
func ParseStability(version string) Stability {
	v := reRefSuffix.ReplaceAllString(version, "")
	if strings.HasPrefix(v, "dev-") || strings.HasSuffix(v, "-dev") {
		return StabilityDev
	}
	m := reStability.FindStringSubmatch(strings.ToLower(v))
	if m == nil {
		return StabilityStable
	}
	if m[3] != "" {
		return StabilityDev
	}
	switch m[1] {
	case "beta", "b":
		return StabilityBeta
	case "alpha", "a":
		return StabilityAlpha
	case "rc":
		return StabilityRC
	}
	return StabilityStable
}

// NormalizeBranch turns a branch name into a dev version: numeric names
// ("1.x", "v2.0", "3") become "N.N.N.N-dev" with 9999999 for the wildcard
// parts, anything else "dev-NAME".
func NormalizeBranch(name string) string {
	name = phpTrim(name)
	if m := reBranch.FindStringSubmatch(name); m != nil {
		var b strings.Builder
		b.WriteString(m[1])
		for _, p := range m[2:5] {
			if p == "" {
				p = ".x"
			}
			b.WriteString(strings.NewReplacer("*", "x", "X", "x").Replace(p))
		}
		return strings.ReplaceAll(b.String(), "x", "9999999") + "-dev"
	}
	return "dev-" + name
}

// BranchVersion applies Composer's VCS rules to a branch name: it returns the
// normalized and the pretty version ("1.x" → "1.9999999.9999999.9999999-dev",
// "1.x-dev"; "main" → "dev-main", "dev-main"), or an error when Composer
// would skip the branch.
func BranchVersion(branch string) (normalized, pretty string, err error) {
	n := NormalizeBranch(branch)
	if !validConstraint(n) {
		return "", "", errs.Invalidf("branch name %q cannot be used as a version", branch)
	}
	if strings.HasPrefix(n, "dev-") || n == defaultBranchAlias {
		return n, "dev-" + branch, nil
	}
	prefix := ""
	if strings.HasPrefix(branch, "v") {
		prefix = "v"
	}
	return n, prefix + reNines.ReplaceAllString(n, ".x"), nil
}

// TagVersion applies Composer's VCS rules to a tag. declared is the
// "version" of the composer.json at the tag ("" when absent). It returns the
// pretty and normalized version, or an error (a warning for the user) when
// Composer would skip the tag.
func TagVersion(tag, declared string) (normalized, pretty string, err error) {
	t := strings.ReplaceAll(tag, "release-", "")
	parsed, err := Normalize(t)
	if err != nil {
		return "", "", errs.Invalidf("tag %q skipped: invalid version", tag)
	}
	pretty, normalized = t, parsed
	if declared != "" {
		n, err := Normalize(declared)
		if err != nil {
			return "", "", errs.Invalidf("tag %q skipped: composer.json version %q is invalid", tag, declared)
		}
		pretty, normalized = declared, n
	}
	pretty = reTagDev.ReplaceAllString(pretty, "")
	normalized = reNormDev.ReplaceAllString(normalized, "")
	if normalized != parsed {
		if declared != "" {
			return "", "", errs.Invalidf("tag %q skipped: tag (%s) does not match version (%s) in composer.json", tag, parsed, normalized)
		}
		return "", "", errs.Invalidf("tag %q skipped: a tag cannot be a dev version (%s)", tag, parsed)
	}
	return normalized, pretty, nil
}

// validConstraint reports whether Composer's parser accepts a constraint.
func validConstraint(s string) bool {
	_, err := ParseConstraint(s)
	return err == nil
}

// NumericAliasPrefix returns "2.1." for "2.1.x-dev" or "2.1-dev", "" otherwise.
func NumericAliasPrefix(branch string) string {
	if m := reNumericAlias.FindStringSubmatch(branch); m != nil {
		return m[1] + "."
	}
	return ""
}

// BranchAlias returns the normalized alias Composer derives for a dev
// version from extra.branch-alias, or from default-branch for a
// non-numeric default branch; "" when there is none.
func BranchAlias(pretty string, aliases map[string]string, defaultBranch bool) string {
	if !strings.HasPrefix(pretty, "dev-") && !strings.HasSuffix(pretty, "-dev") {
		return ""
	}
	for _, src := range slices.Sorted(maps.Keys(aliases)) {
		target := aliases[src]
		if !strings.HasSuffix(target, "-dev") {
			continue
		}
		validated := defaultBranchAlias
		if target != defaultBranchAlias {
			validated = NormalizeBranch(strings.TrimSuffix(target, "-dev"))
		}
		if !strings.HasSuffix(validated, "-dev") || strings.HasPrefix(validated, "dev-") {
			continue
		}
		if !strings.EqualFold(pretty, src) {
			continue
		}
		sp, tp := NumericAliasPrefix(src), NumericAliasPrefix(target)
		if sp != "" && tp != "" && !strings.HasPrefix(strings.ToLower(tp), strings.ToLower(sp)) {
			continue
		}
		return validated
	}
	if defaultBranch && NumericAliasPrefix(strings.TrimPrefix(pretty, "v")) == "" {
		return defaultBranchAlias
	}
	return ""
}

// CompareNormalized orders two normalized versions like Composer's
// version_compare on normalized strings, enough to sort a package's
// versions newest first: numeric parts, then stability (dev < alpha < beta <
// RC < stable < patch) and its number. Branch names (dev-*) sort after
// numeric versions, by name.
func CompareNormalized(a, b string) int {
	ad, bd := strings.HasPrefix(a, "dev-"), strings.HasPrefix(b, "dev-")
	switch {
	case ad && bd:
		return strings.Compare(a, b)
	case ad:
		return -1
	case bd:
		return 1
	}
	an, as, _ := strings.Cut(a, "-")
	bn, bs, _ := strings.Cut(b, "-")
	// Numeric parts, a missing one being 0, compared without allocating:
	// sorting hundreds of versions compares thousands of pairs.
	for an != "" || bn != "" {
		var x, y string
		x, an, _ = strings.Cut(an, ".")
		y, bn, _ = strings.Cut(bn, ".")
		xi, _ := strconv.ParseInt(x, 10, 64)
		yi, _ := strconv.ParseInt(y, 10, 64)
		if xi != yi {
			if xi < yi {
				return -1
			}
			return 1
		}
	}
	return compareSuffix(as, bs)
}

// suffixRank orders a normalized version's suffix: dev < alpha < beta < RC <
// (none) < patch, then by number, then a "-dev" pre-release of it first.
func suffixRank(s string) (rank int, n int64, dev bool) {
	if s == "" {
		return 4, 0, false
	}
	if s == "dev" {
		return 0, 0, true
	}
	s, dev = strings.CutSuffix(s, "-dev")
	for _, st := range []struct {
		name string
		rank int
	}{{"alpha", 1}, {"beta", 2}, {"RC", 3}, {"patch", 5}} {
		if rest, ok := strings.CutPrefix(s, st.name); ok {
			n, _ := strconv.ParseInt(strings.NewReplacer(".", "", "-", "").Replace(rest), 10, 64)
			return st.rank, n, dev
		}
	}
	return 0, 0, dev
}

func compareSuffix(a, b string) int {
	ar, an, ad := suffixRank(a)
	br, bn, bd := suffixRank(b)
	switch {
	case ar != br:
		return cmpInt(int64(ar), int64(br))
	case an != bn:
		return cmpInt(an, bn)
	case ad != bd:
		if ad {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// packageNameRE is Composer's rule for package names (lower case).
var packageNameRE = regexp.MustCompile(`^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*$`)

// ValidatePackageName checks a "vendor/name" package name.
func ValidatePackageName(name string) error {
	if len(name) > 200 || !packageNameRE.MatchString(name) {
		return errs.Invalidf("package name %q is invalid: use lower-case \"vendor/name\" (letters, digits, and single '.', '_' or '-' between them)", name)
	}
	return nil
}
