package buf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Params are the Service's dependencies.
type Params struct {
	fx.In

	Log    *zap.Logger
	Config Config
	Meta   metadata.Store
	CAS    cas.Store
	Authz  access.Authorizer
	Audit  audit.Recorder `optional:"true"`
	// Cache keeps derived data of immutable commits (their documentation).
	Cache cache.Cache `optional:"true"`
	// Plugins and Runner serve remote code generation; without them the
	// alpha plugin services are not mounted.
	Plugins *plugin.Catalog `optional:"true"`
	Runner  *plugin.Runner  `optional:"true"`
}

// Service is the Buf Schema Registry: modules, commits, labels and their
// dependency graphs over the metadata store and the CAS. The Connect
// handlers are thin adapters over it.
type Service struct {
	log   *zap.Logger
	cfg   Config
	meta  metadata.Store
	cas   cas.Store
	authz access.Authorizer
	audit audit.Recorder
	cat   *plugin.Catalog
	run   *plugin.Runner
	st    *store
	reads *readCache
	now   func() time.Time

	cache    cache.Cache // nil: nothing cached
	docLoads cache.Group
}

// New returns the Service.
func New(p Params) (*Service, error) {
	if p.Meta == nil || p.CAS == nil || p.Authz == nil {
		return nil, errors.New("buf: metadata store, CAS and authorizer are required")
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	cfg := p.Config
	if cfg.MaxFileSize == 0 {
		cfg = DefaultConfig()
	}
	return &Service{log: log, cfg: cfg, meta: p.Meta, cas: p.CAS, authz: p.Authz, audit: p.Audit, cat: p.Plugins, run: p.Runner, st: &store{db: p.Meta.DB()}, reads: newReadCache(), now: nowUTC, cache: p.Cache}, nil
}

// Owner is the organization or user that owns modules.
type Owner struct {
	ID        string
	Name      string
	Kind      string // OwnerOrg or OwnerUser
	Public    bool   // organizations only
	Bot       bool   // users only
	Admin     bool   // users only
	CreatedAt time.Time
}

func ownerFromOrg(o metadata.Org) Owner {
	return Owner{ID: o.ID, Name: o.Name, Kind: OwnerOrg, Public: o.Public, CreatedAt: o.CreatedAt}
}

func ownerFromUser(u metadata.User) Owner {
	return Owner{ID: u.ID, Name: u.Name, Kind: OwnerUser, Bot: u.Bot, Admin: u.Admin, CreatedAt: u.CreatedAt}
}

// ownerByName finds an organization, else a user, named name.
func (s *Service) ownerByName(ctx context.Context, name string) (Owner, error) {
	o, err := findOwner(ctx, name, s.meta.GetOrg, s.meta.GetUser)
	if errors.Is(err, errs.ErrNotFound) {
		return Owner{}, errs.NotFoundf("owner %q not found", name)
	}
	return o, err
}

// ownerByID finds an organization, else a user, with the id.
func (s *Service) ownerByID(ctx context.Context, id string) (Owner, error) {
	o, err := findOwner(ctx, id, s.meta.GetOrgByID, s.meta.GetUserByID)
	if errors.Is(err, errs.ErrNotFound) {
		return Owner{}, errs.NotFoundf("owner %s not found", id)
	}
	return o, err
}

// findOwner looks key up as an organization, else as a user; ErrNotFound
// when it is neither.
func findOwner(ctx context.Context, key string,
	org func(context.Context, string) (metadata.Org, error),
	user func(context.Context, string) (metadata.User, error)) (Owner, error) {
	o, err := org(ctx, key)
	if err == nil {
		return ownerFromOrg(o), nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return Owner{}, err
	}
	u, err := user(ctx, key)
	if err != nil {
		return Owner{}, err
	}
	return ownerFromUser(u), nil
}

func principal(ctx context.Context) *access.Principal {
	p, _ := access.PrincipalFrom(ctx)
	return p
}

// authorize decides whether the caller may act on an owner's modules; m is
// the module concerned, or nil for the owner itself. Public modules are
// readable by anyone; private ones only by members of the owning
// organization (or the owning user), and are NotFound to everyone else.
func (s *Service) authorize(ctx context.Context, o Owner, m *ModuleRecord, a access.Action) error {
	if a == access.ActionRead && m != nil && m.Visibility == VisibilityPublic {
		return nil
	}
	p := principal(ctx)
	what := o.Name
	if m != nil {
		what = o.Name + "/" + m.Name
	}
	if o.Kind == OwnerUser {
		return authorizeUserOwner(p, o, m, a, what)
	}
	res := access.Resource{Org: o.Name, Kind: "buf module", Name: what}
	if err := s.authz.Authorize(ctx, p, a, res); err != nil {
		return err
	}
	// A public organization lets anyone read it, but a private module is
	// still for members only.
	if a == access.ActionRead && m != nil && o.Public && !(p != nil && p.SiteAdmin) {
		if p == nil || (p.OrgID != "" && p.OrgID != o.ID) {
			return errs.NotFoundf("module %s not found", what)
		}
		if _, err := s.meta.GetRole(ctx, o.ID, p.UserID); err != nil {
			if errors.Is(err, errs.ErrNotFound) {
				return errs.NotFoundf("module %s not found", what)
			}
			return err
		}
	}
	return nil
}

func authorizeUserOwner(p *access.Principal, o Owner, m *ModuleRecord, a access.Action, what string) error {
	visible := m != nil && m.Visibility == VisibilityPublic
	switch {
	case p == nil && (a == access.ActionRead || !visible):
		if a == access.ActionRead {
			return errs.NotFoundf("%s not found", what)
		}
		return fmt.Errorf("sign in to change %s: %w", what, errs.ErrUnauthenticated)
	case p == nil:
		return fmt.Errorf("sign in to change %s: %w", what, errs.ErrUnauthenticated)
	case p.SiteAdmin && (p.Scope == "" || p.Scope.Allows(a.Role())):
		return nil
	// A user's own tokens act on the user's own modules with their scope,
	// whichever organization they are otherwise limited to.
	case p.UserID == o.ID && (p.Scope == "" || p.Scope.Allows(a.Role())):
		return nil
	case p.UserID == o.ID:
		return errs.PermissionDeniedf("the token's scope %q does not allow %s on %s", p.Scope, a, what)
	case a == access.ActionRead || !visible:
		return errs.NotFoundf("%s not found", what)
	}
	return errs.PermissionDeniedf("only user %s may change %s", o.Name, what)
}

// moduleByName finds owner/name the caller may read; absent and unreadable
// modules get the same answer.
func (s *Service) moduleByName(ctx context.Context, ownerName, name string) (ModuleRecord, Owner, error) {
	if ownerName == "" || name == "" {
		return ModuleRecord{}, Owner{}, errs.Invalidf("a module reference needs an owner and a module name")
	}
	m, o, err := s.findModuleByName(ctx, ownerName, name)
	if err != nil {
		return ModuleRecord{}, Owner{}, hide(ctx, err, "module %q not found", ownerName+"/"+name)
	}
	return m, o, nil
}

func (s *Service) findModuleByName(ctx context.Context, ownerName, name string) (ModuleRecord, Owner, error) {
	o, err := s.ownerByName(ctx, ownerName)
	if err != nil {
		return ModuleRecord{}, Owner{}, err
	}
	m, err := s.cachedModuleByName(ctx, o.ID, name)
	if err != nil {
		return ModuleRecord{}, Owner{}, err
	}
	m.OwnerName = o.Name
	return m, o, s.authorize(ctx, o, &m, access.ActionRead)
}

// moduleByID finds a module the caller may read; absent and unreadable
// modules get the same answer, which names only the id.
func (s *Service) moduleByID(ctx context.Context, id string) (ModuleRecord, Owner, error) {
	m, o, err := s.findModuleByID(ctx, id)
	if err != nil {
		return ModuleRecord{}, Owner{}, hide(ctx, err, "module %q not found", id)
	}
	return m, o, nil
}

func (s *Service) findModuleByID(ctx context.Context, id string) (ModuleRecord, Owner, error) {
	nid, ok := module.NormalizeID(id)
	if !ok {
		return ModuleRecord{}, Owner{}, errs.ErrNotFound
	}
	m, err := s.cachedModuleByID(ctx, nid)
	if err != nil {
		return ModuleRecord{}, Owner{}, err
	}
	o, err := s.ownerByID(ctx, m.OwnerID)
	if err != nil {
		return ModuleRecord{}, Owner{}, err
	}
	m.OwnerName = o.Name
	return m, o, s.authorize(ctx, o, &m, access.ActionRead)
}

// ModuleRef names a module by id or by owner and name.
type ModuleRef struct {
	ID    string
	Owner string
	Name  string
}

// GetModule returns a module the caller may read (NotFound otherwise, or
// Unauthenticated without credentials).
func (s *Service) GetModule(ctx context.Context, r ModuleRef) (ModuleRecord, error) {
	m, _, err := s.module(ctx, r)
	return m, err
}

func (s *Service) module(ctx context.Context, r ModuleRef) (ModuleRecord, Owner, error) {
	if r.ID != "" {
		return s.moduleByID(ctx, r.ID)
	}
	return s.moduleByName(ctx, r.Owner, r.Name)
}

// ResourceRef names a module, a label or a commit: by id (of any of them),
// or by owner and module name with an optional label name or ref (a label
// name or a commit id; "" is the default label).
type ResourceRef struct {
	ID        string
	Owner     string
	Module    string
	LabelName string
	HasLabel  bool
	Ref       string
	HasRef    bool
}

// Resolved is what a ResourceRef names. Label and Commit are nil when the
// reference named the module itself.
type Resolved struct {
	Module ModuleRecord
	Owner  Owner
	Label  *Label
	Commit *Commit

	labelCommit *Commit // Label's commit, when resolve read it with the label
}

func (s *Service) resolve(ctx context.Context, r ResourceRef) (Resolved, error) {
	if r.ID != "" {
		return s.resolveID(ctx, r.ID)
	}
	m, o, err := s.moduleByName(ctx, r.Owner, r.Module)
	if err != nil {
		return Resolved{}, err
	}
	res := Resolved{Module: m, Owner: o}
	switch {
	case r.HasLabel:
		l, c, err := s.cachedLabelCommit(ctx, m.ID, r.LabelName)
		if err != nil {
			return Resolved{}, notFoundErr(err, "label %q not found in %s", r.LabelName, m.FullName())
		}
		res.Label, res.labelCommit = &l, &c
	case r.HasRef && r.Ref != "":
		l, c, err := s.cachedLabelCommit(ctx, m.ID, r.Ref)
		if err == nil {
			res.Label, res.labelCommit = &l, &c
			break
		}
		if !errors.Is(err, errs.ErrNotFound) {
			return Resolved{}, err
		}
		id, ok := module.NormalizeID(r.Ref)
		if ok {
			c, err := s.cachedCommit(ctx, id)
			if err == nil && c.ModuleID == m.ID {
				res.Commit = &c
				break
			}
			if err != nil && !errors.Is(err, errs.ErrNotFound) {
				return Resolved{}, err
			}
		}
		return Resolved{}, errs.NotFoundf("%s has no label or commit %q", m.FullName(), r.Ref)
	}
	return res, nil
}

// resolveID resolves the id of a commit, a label or a module; whichever it
// is, an absent or unreadable one gets the same answer.
func (s *Service) resolveID(ctx context.Context, raw string) (Resolved, error) {
	res, err := s.findID(ctx, raw)
	if err != nil {
		return Resolved{}, hide(ctx, err, "no module, label or commit has id %q", raw)
	}
	return res, nil
}

func (s *Service) findID(ctx context.Context, raw string) (Resolved, error) {
	id, ok := module.NormalizeID(raw)
	if !ok {
		return Resolved{}, errs.ErrNotFound
	}
	var res Resolved
	moduleID := id
	if c, err := s.cachedCommit(ctx, id); err == nil {
		res.Commit, moduleID = &c, c.ModuleID
	} else if !errors.Is(err, errs.ErrNotFound) {
		return Resolved{}, err
	} else if l, err := s.cachedLabelByID(ctx, id); err == nil {
		res.Label, moduleID = &l, l.ModuleID
	} else if !errors.Is(err, errs.ErrNotFound) {
		return Resolved{}, err
	}
	m, o, err := s.findModuleByID(ctx, moduleID)
	if err != nil {
		return Resolved{}, err
	}
	res.Module, res.Owner = m, o
	return res, nil
}

// commitOf returns the commit a resolved reference stands for: the commit
// itself, the label's commit, or for a module its default label's commit
// (its newest commit when the default label does not exist).
func (s *Service) commitOf(ctx context.Context, r Resolved) (Commit, error) {
	switch {
	case r.Commit != nil:
		return *r.Commit, nil
	case r.labelCommit != nil:
		return *r.labelCommit, nil
	case r.Label != nil:
		return s.cachedCommit(ctx, r.Label.CommitID)
	}
	_, c, err := s.cachedLabelCommit(ctx, r.Module.ID, r.Module.DefaultLabel)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return Commit{}, err
	}
	c, err = s.cachedLatestCommit(ctx, r.Module.ID)
	if errors.Is(err, errs.ErrNotFound) {
		return Commit{}, errs.PreconditionFailedf("module %s has no commits", r.Module.FullName())
	}
	return c, err
}

// ResolveCommit resolves a reference to a commit the caller may read.
func (s *Service) ResolveCommit(ctx context.Context, r ResourceRef) (Commit, Resolved, error) {
	res, err := s.resolve(ctx, r)
	if err != nil {
		return Commit{}, Resolved{}, err
	}
	c, err := s.commitOf(ctx, res)
	return c, res, err
}
