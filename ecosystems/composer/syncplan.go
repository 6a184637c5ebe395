package composer

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/errs"
)

// The decisions of a sync, apart from reading git and writing the store:
// which refs to read again, what version a ref gives, and which versions
// a source gives once its refs are read.

// refChanges is how a repository's refs differ from those stored for its
// source.
type refChanges struct {
	changed    []string // new or moved refs, by name: to read
	removed    []string // refs gone from the repository, by name
	defaultRef string   // the default branch's ref
	nameKnown  bool     // the stored package name still comes from the unmoved default branch
}

// upToDate reports a source with nothing to read or write.
func (c refChanges) upToDate() bool {
	return len(c.changed) == 0 && len(c.removed) == 0 && c.nameKnown
}

// diffRefs compares a repository's refs with its source's stored ones.
func diffRefs(src sourceRow, remote vcs.Refs, stored []storedRef) refChanges {
	byName := make(map[string]storedRef, len(stored))
	for _, r := range stored {
		byName[r.Name] = r
	}
	c := refChanges{defaultRef: "refs/heads/" + remote.DefaultBranch}
	for name, hash := range remote.Refs {
		if old, ok := byName[name]; !ok || old.Hash != hash {
			c.changed = append(c.changed, name)
		}
	}
	for name := range byName {
		if _, ok := remote.Refs[name]; !ok {
			c.removed = append(c.removed, name)
		}
	}
	slices.Sort(c.changed)
	slices.Sort(c.removed)
	c.nameKnown = src.Package != "" && src.DefaultBranch == remote.DefaultBranch && byName[c.defaultRef].Hash == remote.Refs[c.defaultRef]
	return c
}

// refVersion applies Composer's rules to a ref whose commit holds the
// composer.json raw (nil: none): the manifest and the version the ref
// gives, or the warning that says why it gives none.
func refVersion(ref string, raw []byte) (m format.Manifest, normalized, pretty, warning string) {
	m, err := format.ParseRefManifest(raw)
	switch {
	case raw == nil || errors.Is(err, format.ErrNoManifest):
		return m, "", "", "skipped: no composer.json"
	case err != nil:
		return m, "", "", fmt.Sprintf("skipped: %v", err)
	}
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		normalized, pretty, err = format.TagVersion(tag, m.Version)
	} else {
		normalized, pretty, err = format.BranchVersion(strings.TrimPrefix(ref, "refs/heads/"))
	}
	if err != nil {
		return m, "", "", errs.PublicMessage(err)
	}
	return m, normalized, pretty, ""
}

// versionPlan is what a sync changes in a source's versions.
type versionPlan struct {
	versions []versionRow // every version the source gives, tags first
	warnings []RefStatus  // every ref that gives none, with why
	warn     []refWarning // stored warnings that change
	remove   []string     // pretty versions the source no longer gives
	update   []versionRow // versions whose ref or entry changed
	insert   []versionRow // new versions
}

// refWarning is a ref's new warning ("" clears it).
type refWarning struct{ ref, warning string }

// planVersions makes a source's versions match its refs, as Composer's VCS
// repository lists them: tags in name order (the first of two tags with
// one normalized version wins), then branches in name order (two branches
// with one normalized version, 1.x and v1.x, are both served; of two with
// one pretty version, 1 and 1.x, the first), the default branch marked
// default-branch. A version whose normalized version taken holds (an
// upload's or another source's) is skipped with a warning. current is
// what the source gives now, by pretty version. mark marks the default
// branch's entry (markDefaultBranch, or its result prepared beforehand).
func planVersions(refs []storedRef, taken []string, current map[string]versionRow, defaultRef string, mark func(entry string) (string, error)) (versionPlan, error) {
	refs = slices.Clone(refs)
	slices.SortStableFunc(refs, func(a, b storedRef) int {
		if ta, tb := strings.HasPrefix(a.Name, "refs/tags/"), strings.HasPrefix(b.Name, "refs/tags/"); ta != tb {
			if ta {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	var p versionPlan
	held := make(map[string]bool, len(taken))
	for _, n := range taken {
		held[n] = true
	}
	claimed := map[string]string{} // claimKey -> the ref that gives it
	served := map[string]string{}  // pretty version -> the ref that gives it
	for _, r := range refs {
		w := r.Warning
		switch {
		case r.Normalized == "":
		case held[r.Normalized]:
			w = fmt.Sprintf("skipped: version %s already exists from another source or an upload", r.Version)
		case claimed[claimKey(r)] != "" || served[r.Version] != "":
			w = fmt.Sprintf("skipped: version %s already exists (%s)", r.Version, cmp.Or(claimed[claimKey(r)], served[r.Version]))
		default:
			v, err := sourceVersion(r, r.Name == defaultRef, mark)
			if err != nil {
				return p, err
			}
			if r.Warning != "" {
				p.warn = append(p.warn, refWarning{r.Name, ""})
			}
			claimed[claimKey(r)], served[r.Version] = r.Name, r.Name
			p.versions = append(p.versions, v)
			continue
		}
		p.warnings = append(p.warnings, RefStatus{Ref: r.Name, Commit: r.Commit, Warning: w})
		if w != r.Warning {
			p.warn = append(p.warn, refWarning{r.Name, w})
		}
	}
	for n := range current {
		if served[n] == "" {
			p.remove = append(p.remove, n)
		}
	}
	slices.Sort(p.remove)
	for _, v := range p.versions {
		cur, ok := current[v.Version]
		switch {
		case !ok:
			p.insert = append(p.insert, v)
		case cur.Entry != v.Entry || cur.Reference != v.Reference || cur.Normalized != v.Normalized:
			p.update = append(p.update, v)
		}
	}
	return p, nil
}

// claimKey is what two refs of a source giving one version share: a tag's
// normalized version (Composer skips a second tag of one), a branch's
// pretty version (a package has one version of each).
func claimKey(r storedRef) string {
	if strings.HasPrefix(r.Name, "refs/tags/") {
		return "tag " + r.Normalized
	}
	return "branch " + r.Version
}

// sourceVersion is the version a ref gives; the default branch's entry is
// marked default-branch.
func sourceVersion(r storedRef, defaultBranch bool, mark func(entry string) (string, error)) (versionRow, error) {
	v := versionRow{Normalized: r.Normalized, Version: r.Version, Reference: r.Commit, RefName: r.Name, Entry: r.Entry}
	if defaultBranch {
		var err error
		if v.Entry, err = mark(r.Entry); err != nil {
			return v, err
		}
	}
	return v, nil
}

// markDefaultBranch marks a version entry as the default branch's.
func markDefaultBranch(entry string) (string, error) {
	o, err := format.ParseObject([]byte(entry))
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(o.With("default-branch", json.RawMessage("true")))
	return string(b), nil
}
