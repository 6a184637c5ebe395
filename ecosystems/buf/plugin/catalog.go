package plugin

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/fx"

	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Validator checks that bytes are a WebAssembly module the sandbox can run
// (Runner is one).
type Validator interface {
	Validate(ctx context.Context, wasm []byte) error
}

// Dropper releases what is kept in memory of a module once no plugin
// revision is made of it any more (Runner does: its compiled module).
type Dropper interface {
	Drop(ctx context.Context, digest string)
}

// CatalogParams are the Catalog's dependencies.
type CatalogParams struct {
	fx.In

	Config    Config
	Meta      metadata.Store
	CAS       cas.Store
	Validator Validator `optional:"true"` // checks modules on Add when set
	Dropper   Dropper   `optional:"true"` // told of modules Remove leaves unused
}

// Catalog is the plugin catalog over the metadata store and the CAS.
type Catalog struct {
	cfg       Config
	meta      metadata.Store
	cas       cas.Store
	validator Validator
	dropper   Dropper
	st        *store
	now       func() time.Time
}

// NewCatalog returns the catalog.
func NewCatalog(p CatalogParams) (*Catalog, error) {
	if p.Meta == nil || p.CAS == nil {
		return nil, errors.New("plugin: metadata store and CAS are required")
	}
	cfg := p.Config
	if cfg.MaxSize == 0 {
		cfg = DefaultConfig()
	}
	return &Catalog{cfg: cfg, meta: p.Meta, cas: p.CAS, validator: p.Validator, dropper: p.Dropper, st: &store{db: p.Meta.DB()},
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}, nil
}

// AddRequest describes a plugin version to add.
type AddRequest struct {
	Owner, Name, Version string
	Wasm                 []byte
	GoDeps               []string
	BasePlugin           string
	GoMinVersion         string
}

func (r AddRequest) validate(max int64) error {
	checks := []error{ValidateName(r.Name), ValidateVersion(r.Version), ValidateBasePlugin(r.BasePlugin), ValidateGoMinVersion(r.GoMinVersion)}
	for _, d := range r.GoDeps {
		checks = append(checks, ValidateGoDep(d))
	}
	if err := errors.Join(checks...); err != nil {
		return err
	}
	if int64(len(r.Wasm)) > max {
		return errs.TooLargef("the plugin's module is %d bytes, over the limit of %d (PACKYARD_BUF_PLUGIN_MAX_SIZE)", len(r.Wasm), max)
	}
	if !bytes.HasPrefix(r.Wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		return errs.Invalidf("the plugin is not a WebAssembly module (build it with GOOS=wasip1 GOARCH=wasm)")
	}
	return nil
}

// Add stores a plugin version. The first add of a version is revision 1;
// adding it again with other bytes or other settings adds the next
// revision; adding the same bytes and settings again changes nothing and
// returns the existing revision with created false.
func (c *Catalog) Add(ctx context.Context, r AddRequest) (p Plugin, created bool, err error) {
	if err := r.validate(c.cfg.MaxSize); err != nil {
		return Plugin{}, false, err
	}
	org, err := c.meta.GetOrg(ctx, r.Owner)
	if err != nil {
		return Plugin{}, false, err
	}
	if c.validator != nil {
		if err := c.validator.Validate(ctx, r.Wasm); err != nil {
			return Plugin{}, false, err
		}
	}
	d, err := c.cas.Put(ctx, bytes.NewReader(r.Wasm), cas.WithMaxSize(c.cfg.MaxSize))
	if err != nil {
		return Plugin{}, false, err
	}
	deps := slices.Clone(r.GoDeps)
	slices.Sort(deps)
	deps = slices.Compact(deps)
	want := Plugin{Owner: org.Name, Name: r.Name, Version: r.Version, WasmDigest: d.Digest, GoDeps: deps,
		BasePlugin: r.BasePlugin, GoMinVersion: r.GoMinVersion}
	// Two adds of one version may race: the loser's insert hits the unique
	// revision and it looks again.
	for range 3 {
		p, created, err = c.addRevision(ctx, org.ID, want)
		if !errors.Is(err, errs.ErrAlreadyExists) {
			return p, created, err
		}
	}
	return Plugin{}, false, err
}

func (c *Catalog) addRevision(ctx context.Context, ownerID string, want Plugin) (Plugin, bool, error) {
	all, err := c.st.byName(ctx, ownerID, want.Name)
	if err != nil {
		return Plugin{}, false, err
	}
	same := slices.DeleteFunc(all, func(p Plugin) bool { return p.Version != want.Version })
	if len(same) > 0 {
		last := latest(same)
		if sameContent(last, want) {
			return last, false, nil
		}
		want.Revision = last.Revision + 1
	} else {
		want.Revision = 1
	}
	want.ID, want.CreatedAt = metadata.NewID(), c.now()
	err = c.meta.DB().InTx(ctx, func(tx *sqldb.Tx) error {
		if err := c.st.insert(ctx, tx, ownerID, want); err != nil {
			return err
		}
		return c.meta.AddBlobRef(ctx, tx, want.WasmDigest, blobRef(want.ID))
	})
	if err != nil {
		return Plugin{}, false, sqldb.MapErr(err)
	}
	return want, true, nil
}

func sameContent(a, b Plugin) bool {
	return a.WasmDigest == b.WasmDigest && slices.Equal(a.GoDeps, b.GoDeps) && a.BasePlugin == b.BasePlugin && a.GoMinVersion == b.GoMinVersion
}

// refPrefix starts the CAS reference of a revision's module: blobRef.
const refPrefix = "buf:plugin:"

func blobRef(id string) string { return refPrefix + id }

// List returns every revision of the plugins of an organization ("" for
// every organization), by owner and name, newest version and revision first.
func (c *Catalog) List(ctx context.Context, owner string) ([]Plugin, error) {
	ownerID := ""
	if owner != "" {
		org, err := c.meta.GetOrg(ctx, owner)
		if err != nil {
			return nil, err
		}
		ownerID = org.ID
	}
	ps, err := c.st.byOwner(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	sortPlugins(ps)
	return ps, nil
}

// Revisions returns every revision of owner/name, newest version and
// revision first; NotFound when there is none.
func (c *Catalog) Revisions(ctx context.Context, owner, name string) ([]Plugin, error) {
	org, err := c.meta.GetOrg(ctx, owner)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errs.NotFoundf("plugin %s/%s not found", owner, name)
	}
	if err != nil {
		return nil, err
	}
	ps, err := c.st.byName(ctx, org.ID, name)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, errs.NotFoundf("plugin %s/%s not found", owner, name)
	}
	sortPlugins(ps)
	return ps, nil
}

// Resolve finds a plugin revision: version "" is the latest version,
// revision 0 the latest revision of the version. NotFound when there is
// no such plugin, version or revision.
func (c *Catalog) Resolve(ctx context.Context, owner, name, version string, revision int) (Plugin, error) {
	if revision < 0 || (revision > 0 && version == "") {
		return Plugin{}, errs.Invalidf("a plugin revision needs a version")
	}
	ps, err := c.Revisions(ctx, owner, name)
	if err != nil {
		return Plugin{}, err
	}
	if version == "" {
		return ps[0], nil
	}
	for _, p := range ps { // newest revision first
		if p.Version == version && (revision == 0 || p.Revision == revision) {
			return p, nil
		}
	}
	if revision > 0 {
		return Plugin{}, errs.NotFoundf("plugin %s/%s:%s revision %d not found", owner, name, version, revision)
	}
	return Plugin{}, errs.NotFoundf("plugin %s/%s:%s not found", owner, name, version)
}

// Remove deletes every revision of a version of owner/name, or of every
// version when version is "", and returns how many revisions it removed.
// The modules' bytes stay in the CAS until garbage collection finds them
// unreferenced; the compiled module of bytes no revision is made of any
// more is released on this replica at once (other replicas release it
// when unused for a while, see Runner).
func (c *Catalog) Remove(ctx context.Context, owner, name, version string) (int, error) {
	ps, err := c.Revisions(ctx, owner, name)
	if err != nil {
		return 0, err
	}
	var ids, digests []string
	for _, p := range ps {
		if version == "" || p.Version == version {
			ids = append(ids, p.ID)
			digests = append(digests, p.WasmDigest)
		}
	}
	if len(ids) == 0 {
		return 0, errs.NotFoundf("plugin %s/%s:%s not found", owner, name, version)
	}
	err = c.meta.DB().InTx(ctx, func(tx *sqldb.Tx) error {
		for _, id := range ids {
			if err := c.meta.RemoveBlobRefs(ctx, tx, blobRef(id)); err != nil {
				return err
			}
		}
		return c.st.delete(ctx, tx, ids)
	})
	if err == nil {
		c.dropUnused(ctx, digests)
	}
	return len(ids), err
}

// dropUnused tells the Dropper of the digests no revision is made of.
func (c *Catalog) dropUnused(ctx context.Context, digests []string) {
	if c.dropper == nil {
		return
	}
	slices.Sort(digests)
	for _, d := range slices.Compact(digests) {
		if used, err := c.st.uses(ctx, d); err == nil && !used {
			c.dropper.Drop(ctx, d)
		}
	}
}

// MaxSize is the largest module Add accepts (PACKYARD_BUF_PLUGIN_MAX_SIZE).
func (c *Catalog) MaxSize() int64 { return c.cfg.MaxSize }
