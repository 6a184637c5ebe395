package format

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

// Vectors from composer-protocol.md section 14 (Composer 2.5.5).
func TestTagVectors(t *testing.T) {
	tests := []struct {
		tag, normalized, pretty string
		stability               Stability
	}{
		{"1.0.0", "1.0.0.0", "1.0.0", StabilityStable},
		{"v1.0.0", "1.0.0.0", "v1.0.0", StabilityStable},
		{"1.0", "1.0.0.0", "1.0", StabilityStable},
		{"v2", "2.0.0.0", "v2", StabilityStable},
		{"1.0.0-beta1", "1.0.0.0-beta1", "1.0.0-beta1", StabilityBeta},
		{"v1.0.0-RC2", "1.0.0.0-RC2", "v1.0.0-RC2", StabilityRC},
		{"1.0.0-alpha.3", "1.0.0.0-alpha3", "1.0.0-alpha.3", StabilityAlpha},
		{"1.0.0-p2", "1.0.0.0-patch2", "1.0.0-p2", StabilityStable},
		{"2.4.8-p3", "2.4.8.0-patch3", "2.4.8-p3", StabilityStable},
		{"1.2.3.4", "1.2.3.4", "1.2.3.4", StabilityStable},
		{"1.0.0+build5", "1.0.0.0", "1.0.0+build5", StabilityStable},
		{"20240101", "20240101", "20240101", StabilityStable},
		{"2024.01.15", "2024.01.15.0", "2024.01.15", StabilityStable},
		{"1.0.0b2", "1.0.0.0-beta2", "1.0.0b2", StabilityBeta},
		{"1.0.0-rc.1", "1.0.0.0-RC1", "1.0.0-rc.1", StabilityRC},
		{"release-1.2.0", "1.2.0.0", "1.2.0", StabilityStable},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			n, err := Normalize(tt.tag)
			if tt.tag == "release-1.2.0" {
				require.Error(t, err, "normalize itself does not strip release-")
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.normalized, n)
			}
			require.Equal(t, tt.stability, ParseStability(tt.normalized))
			tn, tp, err := TagVersion(tt.tag, "")
			require.NoError(t, err)
			require.Equal(t, tt.normalized, tn)
			require.Equal(t, tt.pretty, tp)
		})
	}
}

func TestTagsSkipped(t *testing.T) {
	for _, tag := range []string{"1.0.0-dev", "1.0.0-SNAPSHOT", "foo", "", "v", "x1.0"} {
		t.Run(tag, func(t *testing.T) {
			_, _, err := TagVersion(tag, "")
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
		})
	}
	n, err := Normalize("1.0.0-dev")
	require.NoError(t, err)
	require.Equal(t, "1.0.0.0-dev", n)
	require.Equal(t, StabilityDev, ParseStability("1.0.0-dev"))
	for _, bad := range []string{"1.0.0-SNAPSHOT", "foo"} {
		_, err := Normalize(bad)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

func TestTagWithDeclaredVersion(t *testing.T) {
	n, p, err := TagVersion("v1.2.0", "1.2.0")
	require.NoError(t, err)
	require.Equal(t, "1.2.0.0", n)
	require.Equal(t, "1.2.0", p)

	_, _, err = TagVersion("v1.2.0", "1.3.0")
	require.ErrorContains(t, err, "does not match version (1.3.0.0)")

	_, _, err = TagVersion("v1.2.0", "not a version")
	require.ErrorContains(t, err, "is invalid")

	// A declared -dev suffix is stripped, as Composer does for tags.
	n, p, err = TagVersion("1.2.0", "1.2.0-dev")
	require.NoError(t, err)
	require.Equal(t, "1.2.0.0", n)
	require.Equal(t, "1.2.0", p)
}

func TestBranchVectors(t *testing.T) {
	tests := []struct {
		branch, normalizeBranch, normalized, pretty string
	}{
		{"master", "dev-master", "dev-master", "dev-master"},
		{"main", "dev-main", "dev-main", "dev-main"},
		{"feature/foo-bar", "dev-feature/foo-bar", "dev-feature/foo-bar", "dev-feature/foo-bar"},
		{"1.x", "1.9999999.9999999.9999999-dev", "1.9999999.9999999.9999999-dev", "1.x-dev"},
		{"v1.x", "1.9999999.9999999.9999999-dev", "1.9999999.9999999.9999999-dev", "v1.x-dev"},
		{"2.0", "2.0.9999999.9999999-dev", "2.0.9999999.9999999-dev", "2.0.x-dev"},
		{"1.2.x", "1.2.9999999.9999999-dev", "1.2.9999999.9999999-dev", "1.2.x-dev"},
		{"3", "3.9999999.9999999.9999999-dev", "3.9999999.9999999.9999999-dev", "3.x-dev"},
		{"fix#12", "dev-fix#12", "dev-fix#12", "dev-fix#12"},
		{"1.x-dev", "dev-1.x-dev", "dev-1.x-dev", "dev-1.x-dev"},
		{"1.*", "1.9999999.9999999.9999999-dev", "1.9999999.9999999.9999999-dev", "1.x-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.branch, func(t *testing.T) {
			require.Equal(t, tt.normalizeBranch, NormalizeBranch(tt.branch))
			n, p, err := BranchVersion(tt.branch)
			require.NoError(t, err)
			require.Equal(t, tt.normalized, n)
			require.Equal(t, tt.pretty, p)
			require.Equal(t, StabilityDev, ParseStability(n))
			require.Equal(t, StabilityDev, ParseStability(p))
		})
	}
	_, _, err := BranchVersion("a|b")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, _, err = BranchVersion("a,b")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func TestNormalizeMore(t *testing.T) {
	tests := map[string]string{
		"dev-main":           "dev-main",
		"DEV-Main":           "dev-Main",
		"master":             "dev-master",
		"1.0.0@beta":         "1.0.0.0",
		"1.2.x-dev":          "1.2.9999999.9999999-dev",
		"1.0.0-beta.2-dev":   "1.0.0.0-beta2-dev",
		"1.0.0-stable":       "1.0.0.0",
		"1.0.0-pl1":          "1.0.0.0-patch1",
		"1.0.0-a1":           "1.0.0.0-alpha1",
		" 1.0 ":              "1.0.0.0",
		"1.0.0 as 2.0.0":     "1.0.0.0",
		"2010-01-02":         "2010.01.02",
		"2010-01-02.5":       "2010.01.02.5",
		"20100102-203040-p1": "20100102.203040-patch1",
		"99999.0":            "99999.0.0.0",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			got, err := Normalize(in)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestParseStability(t *testing.T) {
	tests := map[string]Stability{
		"1.0.0":             StabilityStable,
		"dev-main":          StabilityDev,
		"1.x-dev":           StabilityDev,
		"1.0.0-dev":         StabilityDev,
		"1.0.0.0-beta1":     StabilityBeta,
		"1.0.0-b1":          StabilityBeta,
		"1.0.0-alpha2":      StabilityAlpha,
		"1.0.0-a2":          StabilityAlpha,
		"1.0.0-rc1":         StabilityRC,
		"1.0.0-RC1":         StabilityRC,
		"1.0.0-patch1":      StabilityStable,
		"1.0.0-p1":          StabilityStable,
		"1.0.0+build":       StabilityStable,
		"dev-main#abcdef":   StabilityDev,
		"1.0.x-dev#abcdef":  StabilityDev,
		"1.0.0.0-beta1-dev": StabilityDev,
	}
	for in, want := range tests {
		require.Equal(t, want, ParseStability(in), in)
	}
}

func TestBranchAlias(t *testing.T) {
	tests := []struct {
		name          string
		pretty        string
		aliases       map[string]string
		defaultBranch bool
		want          string
	}{
		{"alias of main", "dev-main", map[string]string{"dev-main": "1.2.x-dev"}, true, "1.2.9999999.9999999-dev"},
		{"key must equal version", "dev-main", map[string]string{"dev-master": "1.2.x-dev"}, false, ""},
		{"key must equal version, default branch fallback", "dev-main", map[string]string{"dev-master": "1.2.x-dev"}, true, "9999999-dev"},
		{"target must end in -dev", "dev-main", map[string]string{"dev-main": "1.2.x"}, false, ""},
		{"target must be numeric", "dev-main", map[string]string{"dev-main": "dev-other"}, false, ""},
		{"numeric source prefix of target", "1.x-dev", map[string]string{"1.x-dev": "1.2.x-dev"}, false, "1.2.9999999.9999999-dev"},
		{"numeric source not prefix", "1.x-dev", map[string]string{"1.x-dev": "2.0.x-dev"}, false, ""},
		{"stable versions have none", "1.0.0", map[string]string{"1.0.0": "1.x-dev"}, false, ""},
		{"numeric default branch has none", "2.x-dev", nil, true, ""},
		{"case-insensitive key", "dev-Main", map[string]string{"dev-main": "3.0.x-dev"}, false, "3.0.9999999.9999999-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, BranchAlias(tt.pretty, tt.aliases, tt.defaultBranch))
		})
	}
}

func TestCompareNormalized(t *testing.T) {
	in := []string{"1.0.0.0", "dev-main", "1.0.0.0-beta1", "1.0.0.0-RC1", "1.0.0.0-alpha2", "1.0.0.0-patch1",
		"2.0.0.0", "1.10.0.0", "1.9.0.0", "1.0.0.0-beta1-dev", "dev-feature"}
	sort.Slice(in, func(i, j int) bool { return CompareNormalized(in[i], in[j]) > 0 })
	require.Equal(t, []string{"2.0.0.0", "1.10.0.0", "1.9.0.0", "1.0.0.0-patch1", "1.0.0.0", "1.0.0.0-RC1",
		"1.0.0.0-beta1", "1.0.0.0-beta1-dev", "1.0.0.0-alpha2", "dev-main", "dev-feature"}, in)
}

func TestValidatePackageName(t *testing.T) {
	for _, ok := range []string{"acme/foo", "a/b", "acme-corp/foo.bar_baz", "acme/foo--bar", "0/0"} {
		require.NoError(t, ValidatePackageName(ok), ok)
	}
	for _, bad := range []string{"", "acme", "Acme/foo", "acme/foo/bar", "acme/-foo", "acme/foo-", "../x", "acme/fo o", "acme/foo..bar"} {
		require.ErrorIs(t, ValidatePackageName(bad), errs.ErrInvalidArgument, bad)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"1.0.0", "v1.0.0-RC2", "1.0.0-alpha.3", "20240101", "2024.01.15", "dev-main",
		"1.x-dev", "1.0.0+build5", "release-1.2.0", "1.0.0-SNAPSHOT", "foo", "v1.x", "fix#12", "1.0.0 as 2.0", "@dev", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		// A normalized version is a fixed point, except for branch names
		// that collide with the "master"/"as"/"@" syntax, and for date
		// versions of fewer than four parts, which Composer itself reads
		// again as classical versions ("0000:00" → "0000.00" → "0000.00.0.0").
		n2, err := Normalize(n)
		core, _, _ := strings.Cut(n, "-")
		if err == nil && !strings.HasPrefix(n, "dev-") && strings.Count(core, ".") == 3 {
			require.Equal(t, n, n2, "normalize(%q)=%q is not stable", s, n)
		}
		_ = ParseStability(s)
		_ = NormalizeBranch(s)
		_, _, _ = BranchVersion(s)
		_, _, _ = TagVersion(s, "")
	})
}

// BenchmarkConstraintMatches: matching normalized versions against parsed
// constraints of the usual shapes (one match per op), and parsing them.
func BenchmarkConstraintMatches(b *testing.B) {
	constraints := []string{"^1.2", "~2.0.3", ">=1.0,<1.4.2 || >=2.0,<2.1.5", "1.2.*", "^0.3@dev", "dev-main", "1.0 - 2.0", "*"}
	versions := []string{"1.2.0.0", "1.3.7.0", "2.0.4.0", "2.1.9.0-beta2", "0.3.1.0-dev", "dev-main", "1.9999999.9999999.9999999-dev"}
	parsed := make([]Constraint, len(constraints))
	for i, c := range constraints {
		var err error
		if parsed[i], err = ParseConstraint(c); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("match", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			if parsed[i%len(parsed)].Matches(versions[i%len(versions)]) {
				n++
			}
		}
		_ = n
	})
	b.Run("parse", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := ParseConstraint(constraints[i%len(constraints)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// phpVersionCompare agrees with itself on its fast path (versions of
// letters, digits, '.' and '-') and its general one.
func TestPHPVersionCompareFastPath(t *testing.T) {
	vs := []string{"1.0.0.0", "1.0.0.0-dev", "1.0.0.0-alpha1", "1.0.0.0-RC2", "1.0.0.0-patch1", "1.0.0.0-beta", "1.0", "1.0.0.0.1",
		"10.0.0.0", "1.0.0.0-stable", "1.0.0.0-pl2", "1.0.0.0-dev2", "2024.01.15.0", "1a", "1.0-x", "1..0", "1.0.", "99999999999999999999.1"}
	for _, a := range vs {
		for _, b := range vs {
			require.True(t, simpleVersion(a) && simpleVersion(b))
			require.Equal(t, compareParts(versionParts(a), versionParts(b)), compareSimple(a, b), "%s <=> %s", a, b)
		}
	}
	require.Equal(t, -1, phpVersionCompare("-1", "1"), "a leading '-' is a part of its own")
}
