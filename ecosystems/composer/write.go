package composer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// maxWriteAttempts bounds how often a write is tried again when a package
// it touches changed between building its documents and writing them.
const maxWriteAttempts = 8

// predict gives a package's versions once a change is applied, from its
// current ones (nil: the package has none or does not exist yet).
type predict func(current []versionRow) []versionRow

// built is a package's documents, built outside any transaction from the
// versions they show.
type built struct {
	versions    []versionRow // by sortVersions: what the documents show
	stable, dev []byte       // nil when there are no versions
	description string
}

// conflict rolls back a write whose touched packages no longer have the
// versions their documents were built from; seen holds the versions the
// transaction saw, by package name, to build from next.
type conflict struct{ seen map[string][]versionRow }

func (c *conflict) Error() string { return "a package changed while its documents were built" }

// write applies a change to an organization's repository in two phases, so
// that no stored entry is parsed while a write transaction is open:
//
//   - build, outside any transaction: the documents of each package the
//     change touches, from its versions as the change will leave them
//     (predicted by name from the current ones; a package without a
//     prediction is learnt by a first attempt);
//   - write, in one short transaction: bump the generation (which serializes
//     writers of one repository: a row lock on PostgreSQL, SQLite has one
//     writer anyway), apply fn (it records the packages it touched, id →
//     name), check that every touched package has the versions its
//     documents were built from, then store them and packages.json.
//
// When another writer changed a touched package in between, the
// transaction is rolled back and the change tried again from the versions
// it saw, at most maxWriteAttempts times; fn must therefore only change
// rows (and variables it sets anew on each call).
func (r *repository) write(ctx context.Context, org orgRef, predicted map[string]predict, fn func(tx *sqldb.Tx, touched map[string]string) error) error {
	next, err := r.predicted(ctx, org, predicted)
	if err != nil {
		return err
	}
	parsed := map[string]format.Object{} // stored entry → parsed, across attempts
	for attempt := 1; ; attempt++ {
		docs, err := r.buildAll(next, parsed)
		if err != nil {
			return err
		}
		err = r.store.db.InTx(ctx, func(tx *sqldb.Tx) error { return r.writeTx(ctx, tx, org, docs, fn) })
		var c *conflict
		if !errors.As(err, &c) {
			return err
		}
		if attempt == maxWriteAttempts {
			return errs.Unavailablef("the repository of %s changed too often while this change was written; try again", org.Name)
		}
		next = c.seen
	}
}

// predicted reads, outside any transaction, the versions of the predicted
// packages and applies their predictions.
func (r *repository) predicted(ctx context.Context, org orgRef, predicted map[string]predict) (map[string][]versionRow, error) {
	out := make(map[string][]versionRow, len(predicted))
	for name, p := range predicted {
		var current []versionRow
		id, err := r.store.packageID(ctx, r.store.db, org.ID, name)
		switch {
		case err == nil:
			if current, err = r.store.versions(ctx, r.store.db, id); err != nil {
				return nil, err
			}
		case !errors.Is(err, errs.ErrNotFound):
			return nil, err
		}
		out[name] = sortVersions(p(current))
	}
	return out, nil
}

// buildAll builds the documents of packages from their versions, parsing
// each stored entry once across attempts.
func (r *repository) buildAll(versions map[string][]versionRow, parsed map[string]format.Object) (map[string]built, error) {
	out := make(map[string]built, len(versions))
	for name, rows := range versions {
		b := built{versions: rows}
		if len(rows) > 0 {
			vs := make([]format.VersionEntry, 0, len(rows))
			for _, v := range rows {
				o, ok := parsed[v.Entry]
				if !ok {
					var err error
					if o, err = r.parse([]byte(v.Entry)); err != nil {
						return nil, fmt.Errorf("stored entry of %s %s: %w", name, v.Normalized, err)
					}
					parsed[v.Entry] = o
				}
				vs = append(vs, format.VersionEntry{Normalized: v.Normalized, Entry: o})
			}
			var err error
			if b.stable, b.dev, err = format.BuildP2(name, vs); err != nil {
				return nil, err
			}
			b.description = latestDescription(vs)
		}
		out[name] = b
	}
	return out, nil
}

// writeTx is the write phase: the change, the check, and the documents.
func (r *repository) writeTx(ctx context.Context, tx *sqldb.Tx, org orgRef, docs map[string]built, fn func(tx *sqldb.Tx, touched map[string]string) error) error {
	if _, err := r.meta.BumpGeneration(ctx, tx, scope(org)); err != nil {
		return fmt.Errorf("bump generation: %w", err)
	}
	touched := map[string]string{}
	if err := fn(tx, touched); err != nil {
		return err
	}
	seen := make(map[string][]versionRow, len(touched))
	stale := false
	for id, name := range touched {
		rows, err := r.store.versions(ctx, tx, id)
		if err != nil {
			return err
		}
		seen[name] = sortVersions(rows)
		b, ok := docs[name]
		stale = stale || !ok || !sameVersions(b.versions, seen[name])
	}
	if stale {
		return &conflict{seen: seen}
	}
	for id, name := range touched {
		if err := r.storePackage(ctx, tx, org, id, name, docs[name]); err != nil {
			return err
		}
	}
	return r.rebuildRoot(ctx, tx, org)
}

// storePackage stores a package's two p2 documents and its description, or
// deletes the documents of a package left without versions.
func (r *repository) storePackage(ctx context.Context, tx *sqldb.Tx, org orgRef, id, name string, b built) error {
	keys := []string{p2Key(name, false), p2Key(name, true)}
	if len(b.versions) == 0 {
		return r.meta.DeleteDocuments(ctx, tx, scope(org), keys...)
	}
	if err := r.putDoc(ctx, tx, org, keys[0], b.stable); err != nil {
		return err
	}
	if err := r.putDoc(ctx, tx, org, keys[1], b.dev); err != nil {
		return err
	}
	return r.store.setDescription(ctx, tx, id, b.description, micros(r.now()))
}

// sortVersions orders versions by normalized version, then by pretty
// version (unique in a package). The p2 documents keep this order among
// versions of one normalized version, and Composer installs the first of
// those it reads, as it does from a VCS repository (branches by name).
func sortVersions(vs []versionRow) []versionRow {
	slices.SortFunc(vs, func(a, b versionRow) int {
		return cmp.Or(strings.Compare(a.Normalized, b.Normalized), strings.Compare(a.Version, b.Version))
	})
	return vs
}

// sameVersions compares two sorted version lists by what documents show.
func sameVersions(a, b []versionRow) bool {
	return slices.EqualFunc(a, b, func(x, y versionRow) bool {
		return x.Normalized == y.Normalized && x.Version == y.Version && x.Entry == y.Entry
	})
}
