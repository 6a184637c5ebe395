package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/testenv"
)

// composerOracle runs the installed Composer on a project: its own
// repository classes through testdata/composer_packages.php, and its CLI.
// Every run has a fresh COMPOSER_HOME and cache, and the projects disable
// the default public repository, so nothing leaves the machine.
type composerOracle struct {
	t        testing.TB
	php      string
	composer string
	autoload string
	auth     string // COMPOSER_AUTH
}

func newComposerOracle(t testing.TB) *composerOracle {
	t.Helper()
	o := &composerOracle{t: t}
	o.php, o.composer, o.autoload = testenv.ComposerPHP(t)
	return o
}

// on is the oracle for a subtest.
func (o *composerOracle) on(t testing.TB) *composerOracle {
	c := *o
	c.t = t
	return &c
}

func (o *composerOracle) env() []string {
	return append(os.Environ(), "COMPOSER_HOME="+o.t.TempDir(), "COMPOSER_CACHE_DIR="+o.t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1", "COMPOSER_AUTH="+o.auth, "COMPOSER_DISABLE_XDEBUG_WARN=1")
}

// project writes a composer.json whose only repository is repo.
func (o *composerOracle) project(repo map[string]string) string {
	o.t.Helper()
	dir := o.t.TempDir()
	b, err := json.Marshal(map[string]any{
		"name":         "test/oracle",
		"repositories": []any{repo, map[string]bool{"packagist": false}},
		"config":       map[string]any{"secure-http": false},
	})
	require.NoError(o.t, err)
	require.NoError(o.t, os.WriteFile(filepath.Join(dir, "composer.json"), b, 0o644))
	return dir
}

// oraclePackage is one version of a package as Composer loaded it.
type oraclePackage struct {
	Name              string  `json:"name"`
	Version           string  `json:"version"`
	VersionNormalized string  `json:"version_normalized"`
	SourceReference   *string `json:"source_reference"`
	DistReference     *string `json:"dist_reference"`
	DefaultBranch     bool    `json:"default_branch"`
	AliasOf           *string `json:"alias_of"`
}

// packages lists the versions of name the project's repository gives, and
// the very verbose log of reading it.
func (o *composerOracle) packages(dir, name string) ([]oraclePackage, string) {
	o.t.Helper()
	cmd := exec.Command(o.php, "testdata/composer_packages.php", o.autoload, dir, name)
	cmd.Env = o.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(o.t, err, "%s", stderr.String())
	var res struct {
		Packages []oraclePackage `json:"packages"`
		Log      string          `json:"log"`
	}
	require.NoError(o.t, json.Unmarshal(out, &res), "%s", out)
	return res.Packages, res.Log
}

// show is `composer show --all NAME --format=json`: the versions the CLI
// lists.
func (o *composerOracle) show(dir, name string) []string {
	o.t.Helper()
	cmd := exec.Command(o.composer, "show", "--all", name, "--format=json", "--no-interaction", "--no-ansi", "--no-plugins")
	cmd.Dir, cmd.Env = dir, o.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(o.t, err, "composer show: %s", stderr.String())
	var res struct {
		Versions []any `json:"versions"` // the CLI prints a numeric version as a number
	}
	require.NoError(o.t, json.Unmarshal(out, &res), "%s", out)
	vs := make([]string, len(res.Versions))
	for i, v := range res.Versions {
		vs[i] = fmt.Sprint(v)
	}
	return vs
}

// describe turns packages into comparable lines: name, pretty and
// normalized version, the commit (Composer's VCS repository gives it as
// the source reference, packyard as the dist reference), default-branch
// and what an alias stands for.
func describe(ps []oraclePackage) []string {
	var out []string
	for _, p := range ps {
		ref := ""
		switch {
		case p.SourceReference != nil && *p.SourceReference != "":
			ref = *p.SourceReference
		case p.DistReference != nil:
			ref = *p.DistReference
		}
		alias := ""
		if p.AliasOf != nil {
			alias = " alias-of=" + *p.AliasOf
		}
		out = append(out, fmt.Sprintf("%s %s (%s) %s default=%v%s", p.Name, p.Version, p.VersionNormalized, ref, p.DefaultBranch, alias))
	}
	slices.Sort(out)
	return out
}

var skippedRE = regexp.MustCompile(`(?m)^(?:<warning>)?Skipped (tag|branch) (\S+?), `)

// composerSkipped lists the refs a VCS repository's log says Composer
// skipped, as "tag NAME" or "branch NAME" (tags without their release-
// prefix, as Composer prints them).
func composerSkipped(log string) []string {
	var out []string
	for _, m := range skippedRE.FindAllStringSubmatch(log, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	slices.Sort(out)
	return out
}

// tagAll tags the last commit with each name.
func tagAll(g *harness.Repo, names ...string) {
	for _, n := range names {
		g.Git("tag", n)
	}
}

// gitHistory builds a test repository; it returns the package name.
type gitHistory struct {
	name  string
	build func(g *harness.Repo)
}

var gitHistories = []gitHistory{
	{"acme/renamed", func(g *harness.Repo) {
		g.Commit(map[string]string{"composer.json": `{"name":"Renamed"}`}) // a name from before vendors
		g.Git("tag", "0.1.0")
		g.Commit(map[string]string{"composer.json": `{"description":"no name"}`})
		g.Git("tag", "0.2.0")
		g.Commit(map[string]string{"composer.json": `{"name":"oldvendor/old-name","description":"another name"}`})
		g.Git("tag", "0.3.0")
		g.Commit(map[string]string{"composer.json": `{"name":"Acme/Old_Name__Style"}`})
		g.Git("tag", "v0.4.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/renamed"}`})
		g.Git("tag", "1.0.0")
		g.Commit(map[string]string{"src/A.php": "<?php"})
	}},
	{"acme/tags", func(g *harness.Repo) {
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags"}`})
		tagAll(g, "1.0.0", "v1.0.0", "1.0", "not-a-version", "latest", "1.0.0-SNAPSHOT", "1.0.0-dev")
		g.Commit(map[string]string{"README": "p1"})
		tagAll(g, "1.0.0-p1", "v1.0.0-pl2")
		g.Commit(map[string]string{"README": "rc"})
		tagAll(g, "1.1.0-RC1", "v1.1.0-rc.2")
		g.Git("tag", "-a", "1.2.0-beta.2", "-m", "annotated")
		tagAll(g, "1.2.0b3", "v1.3.0-alpha.3", "1.2.3.4", "v2", "release-2.1.0", "2.2.0+build5", "2024.01.15", "20240101")
		for _, tag := range []string{"V4.0.0", "v4.1.0.0", "4.2.0-RC", "4.3.0-beta", "4.4.0.RC1", "4.5.0_rc1", "4.6-stable",
			"4.7.0-patch1", "4.8.0-alpha1-dev", "1.2.3.4.5", "4.9.0-beta.1.2", "5.0.0-rc1+meta", "v5.1"} {
			g.Git("tag", tag)
		}
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags","version":"3.0.0"}`})
		g.Git("tag", "v2.5.0") // the declared version disagrees
		g.Git("tag", "3.0.0")  // agrees
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags","version":"3.1.0-dev"}`})
		g.Git("tag", "3.1.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags","version":"v3.2"}`})
		g.Git("tag", "3.2.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags","version":"not a version"}`})
		g.Git("tag", "3.3.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags",`})
		g.Git("tag", "3.4.0") // broken JSON
		g.Commit(map[string]string{"composer.json": ""})
		g.Git("tag", "3.5.0") // no composer.json
		g.Commit(map[string]string{"composer.json": `{"name":"acme/tags"}`})
	}},
	{"acme/branches", func(g *harness.Repo) {
		main := `{"name":"acme/branches","extra":{"branch-alias":{"dev-main":"3.x-dev"}}}`
		g.Commit(map[string]string{"composer.json": main})
		g.Git("tag", "2.0.0")
		for _, b := range []struct{ branch, manifest string }{
			{"1.x", `{"name":"acme/branches","extra":{"branch-alias":{"1.x-dev":"1.5.x-dev"}}}`},
			// Branches normalizing to the version of another: both served.
			{"v1.x", `{"name":"acme/branches","extra":{"branch-alias":{"v1.x-dev":"1.6.x-dev"}}}`},
			{"1.0", `{"name":"acme/branches"}`},
			{"v1.0", `{"name":"acme/branches","description":"v1.0"}`},
			{"2.0", `{"name":"acme/branches","extra":{"branch-alias":{"2.0.x-dev":"3.0.x-dev"}}}`}, // not a prefix: ignored
			{"v2.1.x", `{"name":"acme/branches"}`},
			{"3", `{"name":"acme/branches"}`},
			{"feature/x", `{"name":"acme/branches","extra":{"branch-alias":{"dev-feature/x":"not-a-version"}}}`},
			{"feature/y", `{"name":"acme/branches","extra":{"branch-alias":{"dev-feature/y":"2.x"}}}`}, // no -dev
			{"feature/z", `{"name":"acme/branches","extra":{"branch-alias":{"dev-feature/z":"dev-other"}}}`},
			{"fix#12", `{"name":"acme/branches"}`},
			{"1.x-dev", `{"name":"acme/branches"}`},
			{"nocomposer", ""},
			{"broken", `{"name":`},
		} {
			g.Git("checkout", "-q", "-b", b.branch, "main")
			g.Commit(map[string]string{"composer.json": b.manifest, "b.txt": b.branch})
		}
		g.Git("checkout", "-q", "main")
		g.Commit(map[string]string{"src/Main.php": "<?php"})
	}},
	{"acme/odd-manifests", func(g *harness.Repo) {
		g.Commit(map[string]string{"composer.json": `{"name":"acme/odd-manifests"}`})
		g.Git("tag", "1.0.0")
		g.Commit(map[string]string{"composer.json": `[]`})
		g.Git("tag", "1.1.0")
		g.Commit(map[string]string{"composer.json": `{"description":5,"homepage":[],"keywords":"x"}`})
		g.Git("tag", "1.2.0")
		g.Commit(map[string]string{"composer.json": `{"require":"php","extra":"x"}`})
		g.Git("tag", "1.3.0")
		g.Commit(map[string]string{"composer.json": `{"name":5,"version":"1.4.0"}`})
		g.Git("tag", "1.4.0")
		g.Commit(map[string]string{"composer.json": `{"version":1.5}`})
		g.Git("tag", "1.5.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/odd-manifests"}`})
		g.Commit(map[string]string{"composer.json": `{}`})
		g.Git("tag", "1.6.0")
		g.Commit(map[string]string{"composer.json": `{"version":"1.7","require":{"php":">=8.1","a/b":5,"c/d":["x"]},"provide":"x"}`})
		g.Git("tag", "1.7.0")
		g.Commit(map[string]string{"composer.json": `{"require":{"php":">=8.1 <>"}}`})
		g.Git("tag", "1.8.0") // an invalid constraint
		g.Commit(map[string]string{"composer.json": `{"require":{"a/b":"self.version"},"replace":{"c/d":"self.version"}}`})
		g.Git("tag", "1.9.0")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/odd-manifests"}`})
		// Two branches with one normalized version at one commit ("1.x"
		// and "v1.x", "2.0" and "v2.0") are both listed by Composer's VCS
		// repository, and served.
		for _, b := range []string{"1.x", "v1.x", "2.0", "v2.0", "v3", "1.0.0", "1.2.3.4", "a|b", "x,y", "dev-1", "release-2"} {
			g.Git("branch", b)
		}
	}},
	{"acme/on-master", func(g *harness.Repo) {
		g.Git("checkout", "-q", "-b", "master")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/on-master","extra":{"branch-alias":{"dev-master":"1.0.x-dev","dev-main":"9.0.x-dev"}}}`})
		g.Git("tag", "v0.9.0")
		g.Git("checkout", "-q", "-b", "main")
		g.Commit(map[string]string{"b.txt": "main is not the default here"})
		g.Git("checkout", "-q", "master")
	}},
}

// TestVersionsAsComposerDerivesThem syncs repositories with the histories
// real libraries have and compares every version packyard serves for them
// (as the real Composer reads it from packyard) with what Composer's own
// VCS repository derives from the same repository: name, pretty and
// normalized version, commit, default branch, branch aliases, and the refs
// skipped.
func TestVersionsAsComposerDerivesThem(t *testing.T) {
	o := newComposerOracle(t)
	s := newStack(t, stackOpts{})
	s.org("acme")
	read := s.token("acme", metadata.RoleRead)
	u, err := url.Parse(s.url)
	require.NoError(t, err)
	o.auth = string(mustJSON(t, map[string]any{"http-basic": map[string]any{u.Host: map[string]string{"username": "token", "password": read}}}))
	served := o.project(map[string]string{"type": "composer", "url": s.url + "/composer/acme"})
	for _, h := range gitHistories {
		t.Run(h.name, func(t *testing.T) {
			o := o.on(t)
			g := harness.GitRepo(t)
			h.build(g)
			_, _, err := s.svc.AddSource(t.Context(), "acme", SourceInput{URL: g.Dir, Operator: true})
			require.NoError(t, err)
			reps, err := s.svc.Sync(t.Context(), "acme", g.Dir)
			require.NoError(t, err)
			require.Len(t, reps, 1)
			require.Equal(t, h.name, reps[0].Package)

			vcs := o.project(map[string]string{"type": "vcs", "url": g.Dir})
			want, log := o.packages(vcs, h.name)
			got, _ := o.packages(served, h.name)
			require.NotEmpty(t, want)
			require.Equal(t, describe(want), describe(got), "versions as Composer reads them (VCS log:\n%s)", log)

			var skipped []string
			for _, r := range reps[0].Warnings {
				if tag, ok := strings.CutPrefix(r.Ref, "refs/tags/"); ok {
					skipped = append(skipped, "tag "+strings.ReplaceAll(tag, "release-", ""))
				} else {
					skipped = append(skipped, "branch "+strings.TrimPrefix(r.Ref, "refs/heads/"))
				}
			}
			slices.Sort(skipped)
			require.Equal(t, composerSkipped(log), skipped, "skipped refs (packyard: %v)", reps[0].Warnings)

			// The CLI's order of versions that compare equal (dev-*
			// branches) is the order they were read in: compared as sets.
			listed, servedList := o.show(vcs, h.name), o.show(served, h.name)
			slices.Sort(listed)
			slices.Sort(servedList)
			require.Equal(t, listed, servedList, "composer show --all")
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
