package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/testenv"
)

// versionGen makes version strings and constraints of the shapes people
// write, and of shapes near them that Composer refuses, from a seed.
type versionGen struct{ r *rand.Rand }

func (g versionGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g versionGen) num() string {
	switch g.r.IntN(10) {
	case 0:
		return g.pick("10", "99999", "100000", "007", "2024")
	case 1:
		return fmt.Sprint(g.r.IntN(30))
	}
	return fmt.Sprint(g.r.IntN(4))
}

func (g versionGen) stability() string {
	s := g.pick("alpha", "a", "beta", "b", "RC", "rc", "patch", "pl", "p", "stable", "Alpha", "BETA", "dev", "snapshot", "pre")
	switch g.r.IntN(3) {
	case 0:
		return s + g.num()
	case 1:
		return s + g.pick(".", "-", "") + g.num() + g.pick("", ".1", "-2")
	}
	return s
}

// version is a version string, valid or nearly so.
func (g versionGen) version() string {
	switch g.r.IntN(20) {
	case 0:
		return g.pick("dev-", "DEV-", "dev-") + g.pick("main", "feature/x", "1.x", "fix#12", "a b")
	case 1:
		return g.pick("master", "trunk", "default", "foo", "", " ", "1.0.0-SNAPSHOT", "v", "x", "*", "1.0.0.0.0", "1..0", "latest")
	case 2:
		return g.pick("2024", "20240101", "2024.01.15", "2024-01-15", "202401011200", "2024.1", "2024-01-15-10") + g.pick("", "-beta", "-dev", "-p1")
	case 3:
		return g.num() + g.pick(".x", ".*", ".X", ".x.x", ".0.x") + g.pick("-dev", ".dev", "dev", "")
	}
	var b strings.Builder
	b.WriteString(g.pick("", "", "", "v", "V"))
	b.WriteString(g.num())
	for i, n := 0, g.r.IntN(4); i < n; i++ {
		b.WriteString("." + g.num())
	}
	if g.r.IntN(3) == 0 {
		b.WriteString(g.pick("-", ".", "_", "", "+", " ") + g.stability())
	}
	switch g.r.IntN(8) {
	case 0:
		b.WriteString(g.pick("-dev", ".dev", "dev", "-DEV", "_dev"))
	case 1:
		b.WriteString("+" + g.pick("build5", "20240101", "a.b", "x y"))
	case 2:
		b.WriteString("@" + g.pick("dev", "beta", "stable", "RC", "foo"))
	case 3:
		b.WriteString(g.pick(" as 1.0.0", " as dev-main", "#abc123", " "))
	}
	return b.String()
}

// plain is a version of the usual shapes.
func (g versionGen) plain() string {
	v := g.pick("", "", "v") + g.num()
	for i, n := 0, g.r.IntN(3); i < n; i++ {
		v += "." + g.num()
	}
	switch g.r.IntN(6) {
	case 0:
		v += g.pick("-beta", "-RC1", "-alpha.2", "-p1", "-dev", "@dev", "@beta", ".x-dev", ".*")
	case 1:
		return g.pick("dev-main", "dev-feature/x", "1.x-dev", "2.0.x-dev", "dev-1.x")
	}
	return v
}

// condition is one condition of a constraint.
func (g versionGen) condition() string {
	if g.r.IntN(3) > 0 {
		return g.pick("", "", "=", "==", ">", ">=", "<", "<=", "!=", "<>", "^", "~", "^", "~") + g.pick("", "", " ") + g.plain()
	}
	switch g.r.IntN(12) {
	case 0:
		return g.version() + g.pick(" - ", " -", "-", " -  ") + g.version()
	case 1:
		return g.pick("*", "x", "v*", "*.*", "@dev", "@stable", "dev-main#abc", "1.x-dev#abc", "self.version", "~>1.0", "^", "~", ">=", "")
	case 2:
		return g.pick("^", "~") + g.num() + g.pick("", "."+g.num(), "."+g.num()+"."+g.num(), ".x-dev", ".*") + g.pick("", "", "@dev", "-beta", "-dev")
	}
	op := g.pick("", "", "=", "==", ">", ">=", "<", "<=", "!=", "<>", "^", "~", "=>", "=<")
	return op + g.pick("", "", " ", "  ") + g.version()
}

// constraint is a constraint of one to three alternatives of one to three
// conditions.
func (g versionGen) constraint() string {
	var or []string
	for i, n := 0, 1+g.r.IntN(3); i < n; i++ {
		var and []string
		for j, m := 0, 1+g.r.IntN(3); j < m; j++ {
			and = append(and, g.condition())
		}
		or = append(or, strings.Join(and, g.pick(",", ", ", " ", "  ", " ,", ",,")))
	}
	return strings.Join(or, g.pick("||", " || ", "|", " | ", "|||", " "+"||"))
}

// nearBounds lists, for a constraint this package parses, versions at and
// next to each version it compares with.
func nearBounds(constraint string) []string {
	c, err := ParseConstraint(constraint)
	if err != nil {
		return nil
	}
	var bounds []string
	var walk func(Constraint)
	walk = func(c Constraint) {
		switch c := c.(type) {
		case comparison:
			bounds = append(bounds, c.version)
		case multi:
			for _, p := range c.parts {
				walk(p)
			}
		}
	}
	walk(c)
	var out []string
	for _, b := range bounds {
		num, _, _ := strings.Cut(b, "-")
		out = append(out, b, num, num+"-dev", num+"-alpha1", num+"-RC2", num+"-patch1")
		if parts := strings.Split(num, "."); len(parts) == 4 && !strings.HasPrefix(b, "dev-") {
			for i := range parts {
				var n int
				fmt.Sscan(parts[i], &n)
				up, down := slices.Clone(parts), slices.Clone(parts)
				up[i], down[i] = fmt.Sprint(n+1), fmt.Sprint(max(0, n-1))
				out = append(out, strings.Join(up, "."), strings.Join(down, "."))
			}
		}
	}
	return out
}

// semverAnswer is what Composer's semver library answered.
type semverAnswer struct {
	Normalize []struct {
		OK    bool   `json:"ok"`
		Value string `json:"value"`
	} `json:"normalize"`
	Stability   []string `json:"stability"`
	Branch      []string `json:"branch"`
	Constraints []bool   `json:"constraints"`
	Matches     []*bool  `json:"matches"`
}

// TestSemverAgainstComposer compares normalization, stability, branch
// names, constraint parsing and matching with composer/semver as the
// installed Composer ships it, over several thousand generated versions
// and constraints, in one PHP process.
func TestSemverAgainstComposer(t *testing.T) {
	php, _, autoload := testenv.ComposerPHP(t)
	g := versionGen{rand.New(rand.NewPCG(11, 2026))}
	var in struct {
		Versions    []string `json:"versions"`
		Constraints []string `json:"constraints"`
		Pairs       [][2]int `json:"pairs"`
	}
	for i := range 4000 {
		if i%2 == 0 {
			in.Versions = append(in.Versions, g.version())
		} else {
			in.Versions = append(in.Versions, g.plain())
		}
	}
	for range 3000 {
		in.Constraints = append(in.Constraints, g.constraint())
	}
	for c, text := range in.Constraints {
		for range 8 {
			in.Pairs = append(in.Pairs, [2]int{g.r.IntN(len(in.Versions)), c})
		}
		// Versions at and next to the constraint's bounds (as this package
		// reads them: Composer decides whether they match).
		for _, v := range nearBounds(text) {
			in.Pairs = append(in.Pairs, [2]int{len(in.Versions), c})
			in.Versions = append(in.Versions, v)
		}
	}
	body, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := exec.Command(php, "testdata/semver.php", autoload)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var want semverAnswer
	require.NoError(t, json.Unmarshal(out, &want))
	require.Len(t, want.Matches, len(in.Pairs))

	var diffs []string
	valid, parsed, matched := 0, 0, 0
	normalized := make([]string, len(in.Versions))
	for i, v := range in.Versions {
		n, err := Normalize(v)
		normalized[i] = n
		if w := want.Normalize[i]; w.OK != (err == nil) || w.Value != n {
			diffs = append(diffs, fmt.Sprintf("Normalize(%q) = %q, %v; Composer: %q, ok=%v", v, n, err, w.Value, w.OK))
		} else if w.OK {
			valid++
		}
		if s := ParseStability(v); string(s) != want.Stability[i] {
			diffs = append(diffs, fmt.Sprintf("ParseStability(%q) = %s; Composer: %s", v, s, want.Stability[i]))
		}
		if b := NormalizeBranch(v); b != want.Branch[i] {
			diffs = append(diffs, fmt.Sprintf("NormalizeBranch(%q) = %q; Composer: %q", v, b, want.Branch[i]))
		}
	}
	constraints := make([]Constraint, len(in.Constraints))
	for i, c := range in.Constraints {
		var err error
		constraints[i], err = ParseConstraint(c)
		if (err == nil) != want.Constraints[i] {
			diffs = append(diffs, fmt.Sprintf("ParseConstraint(%q): %v; Composer accepts it: %v", c, err, want.Constraints[i]))
		} else if err == nil {
			parsed++
		}
	}
	for i, p := range in.Pairs {
		w := want.Matches[i]
		if w == nil || constraints[p[1]] == nil || normalized[p[0]] == "" {
			continue
		}
		if got := constraints[p[1]].Matches(normalized[p[0]]); got != *w {
			diffs = append(diffs, fmt.Sprintf("%q matches %q (%s): %v; Composer: %v", in.Constraints[p[1]], in.Versions[p[0]], normalized[p[0]], got, *w))
		} else if got {
			matched++
		}
	}
	t.Logf("%d versions (%d valid), %d constraints (%d valid), %d pairs (%d matching)", len(in.Versions), valid, len(in.Constraints), parsed, len(in.Pairs), matched)
	require.Empty(t, diffs, "%d differences from composer/semver, the first: %s", len(diffs), strings.Join(diffs[:min(len(diffs), 40)], "\n"))
	// The generator must reach every kind of answer.
	require.Greater(t, valid, len(in.Versions)/2)
	require.Greater(t, parsed, len(in.Constraints)/5)
	require.Greater(t, matched, len(in.Pairs)/50)
}
