package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// repository is an organization's Composer repository as the Service and
// the Proxy share it: its organization, its generation (bumped by every
// change, so cache keys that carry it never go stale), the documents built
// from its packages, the names it owns, and how every change is written
// (write.go).
type repository struct {
	meta  metadata.Store
	store *store
	cache cache.Cache
	loads cache.Group
	ttl   time.Duration // of cached documents and names
	now   func() time.Time
	// parse reads a stored version entry (format.ParseObject); only ever
	// called outside a transaction.
	parse func([]byte) (format.Object, error)
}

type orgRef struct{ ID, Name string }

func scope(org orgRef) string { return "composer:" + org.ID }

func (r *repository) org(ctx context.Context, name string) (orgRef, error) {
	o, err := r.meta.GetOrg(ctx, name)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return orgRef{}, errs.NotFoundf("organization %q not found", name)
		}
		return orgRef{}, err
	}
	return orgRef{ID: o.ID, Name: o.Name}, nil
}

func (r *repository) orgByID(ctx context.Context, id string) (orgRef, error) {
	o, err := r.meta.GetOrgByID(ctx, id)
	if err != nil {
		return orgRef{}, err
	}
	return orgRef{ID: o.ID, Name: o.Name}, nil
}

// at returns an organization, by name, and its repository's generation.
func (r *repository) at(ctx context.Context, orgName string) (orgRef, int64, error) {
	org, err := r.org(ctx, orgName)
	if err != nil {
		return orgRef{}, 0, err
	}
	gen, err := r.generation(ctx, org)
	return org, gen, err
}

// generation is the repository's generation.
func (r *repository) generation(ctx context.Context, org orgRef) (int64, error) {
	return r.meta.Generation(ctx, scope(org))
}

// document returns a built document of a repository at a generation
// ("packages.json", "p2/vendor/name.json", "p2/vendor/name~dev.json") from
// the cache, loading it from the metadata store (one row) on a miss; a
// document that is not there is cached as such.
func (r *repository) document(ctx context.Context, org orgRef, gen int64, key string) (Doc, error) {
	ck := fmt.Sprintf("composer:document:%s:%d:%s", org.ID, gen, key)
	v, err := cache.GetOrLoad(ctx, r.cache, &r.loads, ck, r.ttl, func(ctx context.Context) ([]byte, error) {
		d, err := r.meta.GetDocument(ctx, nil, scope(org), key)
		if errors.Is(err, errs.ErrNotFound) {
			return frame(docHeader{Missing: true}, nil), nil
		}
		if err != nil {
			return nil, err
		}
		return encodeDoc(Doc{Body: d.Body, ModTime: d.ModTime}), nil
	})
	if err != nil {
		return Doc{}, err
	}
	return decodeDoc(v, key)
}

// isPrivate reports whether the organization owns a package name (it was
// ever uploaded or synced from git), at a generation, from the cache.
func (r *repository) isPrivate(ctx context.Context, org orgRef, gen int64, name string) (bool, error) {
	ck := fmt.Sprintf("composer:private:%s:%d:%s", org.ID, gen, name)
	v, err := cache.GetOrLoad(ctx, r.cache, &r.loads, ck, r.ttl, func(ctx context.Context) ([]byte, error) {
		owned, err := r.store.owns(ctx, org.ID, name)
		if err != nil {
			return nil, err
		}
		if owned {
			return []byte{'1'}, nil
		}
		return []byte{'0'}, nil
	})
	return len(v) == 1 && v[0] == '1', err
}

// rebuildRoot rebuilds packages.json: a repository that mirrors upstreams
// lists no names.
func (r *repository) rebuildRoot(ctx context.Context, tx *sqldb.Tx, org orgRef) error {
	names, err := r.store.publishedNames(ctx, tx, org.ID, "%")
	if err != nil {
		return err
	}
	upstreams, err := r.store.countUpstreams(ctx, tx, org.ID)
	if err != nil {
		return err
	}
	root, err := format.RootDoc(org.Name, names)
	if upstreams > 0 {
		root, err = format.MirrorRootDoc(org.Name)
	}
	if err != nil {
		return err
	}
	return r.putDoc(ctx, tx, org, "packages.json", root)
}

// latestDescription is the description of the newest stable version, or of
// the first version when there is none.
func latestDescription(vs []format.VersionEntry) string {
	best := -1
	for i, v := range vs {
		if best < 0 || format.CompareNormalized(v.Normalized, vs[best].Normalized) > 0 && format.ParseStability(v.Normalized) != format.StabilityDev {
			best = i
		}
	}
	var d string
	if best >= 0 {
		_ = json.Unmarshal(vs[best].Entry.Get("description"), &d)
	}
	return d
}

// putDoc stores a document when its bytes changed. Its modification time
// only moves forward, by at least a second (Last-Modified has one-second
// precision, so two changes within a second must still differ).
func (r *repository) putDoc(ctx context.Context, tx *sqldb.Tx, org orgRef, key string, body []byte) error {
	mt := r.now().Truncate(time.Second)
	old, err := r.meta.GetDocument(ctx, tx, scope(org), key)
	switch {
	case err == nil:
		if bytes.Equal(old.Body, body) {
			return nil
		}
		if prev := old.ModTime.Truncate(time.Second); !mt.After(prev) {
			mt = prev.Add(time.Second)
		}
	case !errors.Is(err, errs.ErrNotFound):
		return err
	}
	return r.meta.PutDocument(ctx, tx, metadata.Document{Scope: scope(org), Key: key, Body: body, ContentType: "application/json", ModTime: mt})
}

// ensurePackage returns the id of an organization's package, creating it.
func (r *repository) ensurePackage(ctx context.Context, tx *sqldb.Tx, org orgRef, name string) (string, error) {
	id, err := r.store.packageID(ctx, tx, org.ID, name)
	if !errors.Is(err, errs.ErrNotFound) {
		return id, err
	}
	id = metadata.NewID()
	return id, r.store.insertPackage(ctx, tx, id, org.ID, name, micros(r.now()))
}
