package composer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
)

func TestDiffRefs(t *testing.T) {
	remote := vcs.Refs{DefaultBranch: "main", Refs: map[string]string{
		"refs/heads/main": "m1", "refs/tags/v2.0.0": "t2", "refs/tags/v1.0.0": "t1", "refs/heads/1.x": "b1",
	}}
	stored := []storedRef{
		{Name: "refs/heads/main", Hash: "m1"}, {Name: "refs/tags/v1.0.0", Hash: "old"}, {Name: "refs/tags/gone", Hash: "g"},
		{Name: "refs/heads/1.x", Hash: "b1"},
	}
	src := sourceRow{Package: "acme/lib", DefaultBranch: "main"}

	c := diffRefs(src, remote, stored)
	require.Equal(t, []string{"refs/tags/v1.0.0", "refs/tags/v2.0.0"}, c.changed, "new and moved refs, by name")
	require.Equal(t, []string{"refs/tags/gone"}, c.removed)
	require.Equal(t, "refs/heads/main", c.defaultRef)
	require.True(t, c.nameKnown)
	require.False(t, c.upToDate())

	// Nothing moved: nothing to do.
	same := []storedRef{{Name: "refs/heads/main", Hash: "m1"}, {Name: "refs/tags/v2.0.0", Hash: "t2"},
		{Name: "refs/tags/v1.0.0", Hash: "t1"}, {Name: "refs/heads/1.x", Hash: "b1"}}
	require.True(t, diffRefs(src, remote, same).upToDate())

	// The package name is read again when the default branch moved or
	// changed, or was never read.
	moved := vcs.Refs{DefaultBranch: "main", Refs: map[string]string{"refs/heads/main": "m2"}}
	require.False(t, diffRefs(src, moved, stored).nameKnown)
	other := vcs.Refs{DefaultBranch: "1.x", Refs: map[string]string{"refs/heads/1.x": "b1"}}
	require.False(t, diffRefs(src, other, stored).nameKnown)
	require.False(t, diffRefs(sourceRow{DefaultBranch: "main"}, remote, same).nameKnown)
	require.False(t, diffRefs(sourceRow{DefaultBranch: "main"}, remote, same).upToDate())
}

// refVersion reads a ref as Composer's VCS repository does.
func TestRefVersion(t *testing.T) {
	m, n, p, w := refVersion("refs/tags/v1.2.0", []byte(`{"name":"Old_Style","description":"x"}`))
	require.Equal(t, []string{"1.2.0.0", "v1.2.0", ""}, []string{n, p, w})
	require.Empty(t, m.Name, "a ref's own name (another, an old-style one, or none) is not read")

	_, n, p, w = refVersion("refs/heads/1.x", []byte(`{"description":"x"}`))
	require.Equal(t, []string{"1.9999999.9999999.9999999-dev", "1.x-dev", ""}, []string{n, p, w}, "a ref needs no name")

	for _, raw := range [][]byte{nil, []byte(""), []byte("{}"), []byte("[]"), []byte(`"x"`)} {
		_, n, _, w = refVersion("refs/heads/main", raw)
		require.Empty(t, n)
		require.Equal(t, "skipped: no composer.json", w, "%q", raw)
	}

	m, n, _, w = refVersion("refs/heads/main", []byte(`{"require":"php","description":5,"extra":"x","require-dev":{"a/b":5,"c/d":"^1.0","0":"1.0"}}`))
	require.Equal(t, "dev-main", n, w)
	require.Equal(t, `{"require-dev":{"c/d":"^1.0"}}`, string(format.MustJSON(m.Fields)), "what Composer's loader ignores is not served")

	_, _, _, w = refVersion("refs/heads/main", []byte(`{"require":{"php":">=8.1 <>"}}`))
	require.Contains(t, w, `skipped: composer.json: "require" has an invalid constraint`)

	_, _, _, w = refVersion("refs/tags/nope", []byte(`{"description":"x"}`))
	require.Equal(t, `tag "nope" skipped: invalid version`, w)

	_, _, _, w = refVersion("refs/tags/v1.0.0", []byte(`{"version":"2.0.0"}`))
	require.Contains(t, w, "does not match version")

	_, n, p, w = refVersion("refs/tags/1.5.0", []byte(`{"version":1.5}`))
	require.Equal(t, []string{"1.5.0.0", "1.5", ""}, []string{n, p, w}, "a numeric version reads as PHP prints it")
}

func TestPlanVersions(t *testing.T) {
	ref := func(name, commit, normalized, version, warning string) storedRef {
		entry := ""
		if normalized != "" {
			entry = `{"version":"` + version + `"}`
		}
		return storedRef{Name: name, Commit: commit, Normalized: normalized, Version: version, Entry: entry, Warning: warning}
	}
	refs := []storedRef{
		ref("refs/heads/main", "c3", "dev-main", "dev-main", "an old warning"),
		ref("refs/tags/v1.0.0", "c1", "1.0.0.0", "v1.0.0", ""),
		ref("refs/heads/1.x", "c2", "1.9999999.9999999.9999999-dev", "1.x-dev", ""),
		ref("refs/tags/1.0.0", "c1", "1.0.0.0", "1.0.0", ""), // same version, earlier name: wins
		ref("refs/tags/v0.9.0", "c0", "0.9.0.0", "v0.9.0", ""),
		ref("refs/tags/nope", "c1", "", "", `tag "nope" skipped: invalid version`),
		ref("refs/tags/v0.1.0", "c0", "0.1.0.0", "v0.1.0", ""),
		// Branches of one normalized version are all served, as Composer
		// lists them; of one pretty version (1 and 1.x), the first.
		ref("refs/heads/v1.x", "c4", "1.9999999.9999999.9999999-dev", "v1.x-dev", ""),
		ref("refs/heads/1", "c5", "1.9999999.9999999.9999999-dev", "1.x-dev", ""),
		ref("refs/tags/2.0.0", "c6", "2.0.0.0", "2.0.0", ""),
	}
	current := map[string]versionRow{ // by pretty version
		"1.0.0":    {Normalized: "1.0.0.0", Version: "1.0.0", Entry: `{"version":"1.0.0"}`, Reference: "c1"},   // unchanged
		"v0.9.0":   {Normalized: "0.9.0.0", Version: "v0.9.0", Entry: `{"version":"v0.9.0"}`, Reference: "cX"}, // tag moved
		"v0.5.0":   {Normalized: "0.5.0.0", Version: "v0.5.0"},                                                 // tag deleted
		"v2.0.0":   {Normalized: "2.0.0.0", Version: "v2.0.0", Entry: `{"version":"v2.0.0"}`, Reference: "c6"}, // tag deleted, 2.0.0 added
		"dev-main": {Normalized: "dev-main", Version: "dev-main", Entry: `{"version":"dev-main"}`, Reference: "c3"},
	}
	taken := []string{"0.1.0.0"} // an upload's

	p, err := planVersions(refs, taken, current, "refs/heads/main", markDefaultBranch)
	require.NoError(t, err)

	var order []string
	for _, v := range p.versions {
		order = append(order, v.RefName)
	}
	require.Equal(t, []string{"refs/tags/1.0.0", "refs/tags/2.0.0", "refs/tags/v0.9.0", "refs/heads/1", "refs/heads/main", "refs/heads/v1.x"}, order,
		"tags in name order first, then branches")
	require.Equal(t, []RefStatus{
		{Ref: "refs/tags/nope", Commit: "c1", Warning: `tag "nope" skipped: invalid version`},
		{Ref: "refs/tags/v0.1.0", Commit: "c0", Warning: "skipped: version v0.1.0 already exists from another source or an upload"},
		{Ref: "refs/tags/v1.0.0", Commit: "c1", Warning: "skipped: version v1.0.0 already exists (refs/tags/1.0.0)"},
		{Ref: "refs/heads/1.x", Commit: "c2", Warning: "skipped: version 1.x-dev already exists (refs/heads/1)"},
	}, p.warnings)
	require.Equal(t, []refWarning{
		{"refs/tags/v0.1.0", "skipped: version v0.1.0 already exists from another source or an upload"},
		{"refs/tags/v1.0.0", "skipped: version v1.0.0 already exists (refs/tags/1.0.0)"},
		{"refs/heads/1.x", "skipped: version 1.x-dev already exists (refs/heads/1)"},
		{"refs/heads/main", ""},
	}, p.warn, "only warnings that change are written; a ref that now gives a version loses its warning")
	require.Equal(t, []string{"v0.5.0", "v2.0.0"}, p.remove, "by pretty version")

	var updated, inserted []string
	for _, v := range p.update {
		updated = append(updated, v.Version)
	}
	for _, v := range p.insert {
		inserted = append(inserted, v.Version)
	}
	require.Equal(t, []string{"v0.9.0", "dev-main"}, updated, "a moved tag, and the default branch now marked")
	require.Equal(t, []string{"2.0.0", "1.x-dev", "v1.x-dev"}, inserted, "a new tag with a deleted one's version, and both branches of 1.x")
	main := p.versions[4]
	require.JSONEq(t, `{"version":"dev-main","default-branch":true}`, main.Entry)
	require.Equal(t, versionRow{Normalized: "1.0.0.0", Version: "1.0.0", Reference: "c1", RefName: "refs/tags/1.0.0", Entry: `{"version":"1.0.0"}`},
		p.versions[0])

	// A stored entry that is not JSON fails the plan for the default branch only.
	bad := []storedRef{{Name: "refs/heads/main", Normalized: "dev-main", Version: "dev-main", Entry: "{"}}
	_, err = planVersions(bad, nil, nil, "refs/heads/main", markDefaultBranch)
	require.Error(t, err)
	_, err = planVersions(bad, nil, nil, "refs/heads/other", markDefaultBranch)
	require.NoError(t, err)
}
