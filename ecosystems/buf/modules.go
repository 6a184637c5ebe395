package buf

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// blobRef names the CAS references of a module's files.
func blobRef(moduleID string) string { return "buf:module:" + moduleID }

// BlobRef is the name under which a module references its blobs in the
// CAS index: deleting the module removes every reference of that name.
func BlobRef(moduleID string) string { return blobRef(moduleID) }

// OwnerRef names an owner by id or name.
type OwnerRef struct{ ID, Name string }

func (s *Service) owner(ctx context.Context, r OwnerRef) (Owner, error) {
	if r.ID != "" {
		return s.ownerByID(ctx, r.ID)
	}
	if r.Name == "" {
		return Owner{}, errs.Invalidf("an owner reference needs an id or a name")
	}
	return s.ownerByName(ctx, r.Name)
}

// NewModule is a module to create.
type NewModule struct {
	Owner        OwnerRef
	Name         string
	Visibility   int // 0: private
	Description  string
	URL          string
	DefaultLabel string // "": the configured default
}

// CreateModule creates a module; AlreadyExists when the name is taken.
// Creating a module needs write access to its owner, and a public one
// admin access: visibility is an admin act.
func (s *Service) CreateModule(ctx context.Context, n NewModule) (ModuleRecord, error) {
	o, err := s.GetOwner(ctx, n.Owner, "owner")
	if err != nil {
		return ModuleRecord{}, err
	}
	if err := s.authorize(ctx, o, nil, access.ActionWrite); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			err = unseen(ctx, "%s not found", n.Owner.asked("owner"))
		}
		return ModuleRecord{}, err
	}
	m, err := s.newModuleRecord(o, n)
	if err != nil {
		return ModuleRecord{}, err
	}
	if m.Visibility == VisibilityPublic {
		if err := s.authorize(ctx, o, nil, access.ActionAdmin); err != nil {
			if hidden(err) {
				err = errs.PermissionDeniedf("public modules need an admin token: %s may be created private "+
					"(buf push --create-visibility private) and made public by an admin of %s", m.FullName(), o.Name)
			}
			return ModuleRecord{}, err
		}
	}
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.st.createModule(ctx, tx, m); err != nil {
			return err
		}
		return s.changed(ctx, tx)
	})
	if err != nil {
		if errors.Is(err, errs.ErrAlreadyExists) {
			return ModuleRecord{}, errs.AlreadyExistsf("module %s already exists", m.FullName())
		}
		return ModuleRecord{}, err
	}
	s.record(ctx, auditModuleCreate, o, m.FullName(), nil)
	return m, nil
}

// newModuleRecord validates a module to create for owner o.
func (s *Service) newModuleRecord(o Owner, n NewModule) (ModuleRecord, error) {
	if err := module.ValidateModuleName(n.Name); err != nil {
		return ModuleRecord{}, err
	}
	vis := n.Visibility
	switch vis {
	case 0:
		vis = VisibilityPrivate
	case VisibilityPublic, VisibilityPrivate:
	default:
		return ModuleRecord{}, errs.Invalidf("unknown visibility %d", vis)
	}
	label := n.DefaultLabel
	if label == "" {
		label = s.cfg.DefaultLabel
	}
	if err := module.ValidateLabelName(label); err != nil {
		return ModuleRecord{}, err
	}
	if len(n.Description) > 350 || len(n.URL) > 255 {
		return ModuleRecord{}, errs.Invalidf("description (350 characters) or url (255 characters) too long")
	}
	t := s.now()
	return ModuleRecord{ID: metadata.NewID(), OwnerID: o.ID, OwnerKind: o.Kind, OwnerName: o.Name, Name: n.Name,
		Visibility: vis, State: StateActive, Description: n.Description, URL: n.URL, DefaultLabel: label,
		CreatedAt: t, UpdatedAt: t}, nil
}

// ModuleUpdate changes the fields that are set.
type ModuleUpdate struct {
	Ref          ModuleRef
	Visibility   *int
	State        *int
	Description  *string
	URL          *string
	DefaultLabel *string
}

// UpdateModule applies u; changing visibility or the default label needs
// admin rights, the rest write rights.
func (s *Service) UpdateModule(ctx context.Context, u ModuleUpdate) (ModuleRecord, error) {
	m, o, err := s.module(ctx, u.Ref)
	if err != nil {
		return ModuleRecord{}, err
	}
	action := access.ActionWrite
	if u.Visibility != nil || u.DefaultLabel != nil {
		action = access.ActionAdmin
	}
	if err := s.authorize(ctx, o, &m, action); err != nil {
		return ModuleRecord{}, err
	}
	if u.Visibility != nil {
		if *u.Visibility != VisibilityPublic && *u.Visibility != VisibilityPrivate {
			return ModuleRecord{}, errs.Invalidf("unknown visibility %d", *u.Visibility)
		}
		m.Visibility = *u.Visibility
	}
	if u.State != nil {
		if *u.State != StateActive && *u.State != StateDeprecated {
			return ModuleRecord{}, errs.Invalidf("unknown module state %d", *u.State)
		}
		m.State = *u.State
	}
	if u.Description != nil {
		m.Description = *u.Description
	}
	if u.URL != nil {
		m.URL = *u.URL
	}
	if u.DefaultLabel != nil {
		if err := module.ValidateLabelName(*u.DefaultLabel); err != nil {
			return ModuleRecord{}, err
		}
		m.DefaultLabel = *u.DefaultLabel
	}
	if len(m.Description) > 350 || len(m.URL) > 255 {
		return ModuleRecord{}, errs.Invalidf("description (350 characters) or url (255 characters) too long")
	}
	m.UpdatedAt = s.now()
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.st.updateModule(ctx, tx, m); err != nil {
			return err
		}
		return s.changed(ctx, tx)
	})
	if err != nil {
		return ModuleRecord{}, err
	}
	s.record(ctx, auditModuleUpdate, o, m.FullName(), nil)
	return m, nil
}

// DeleteModules deletes modules with their commits, labels and file
// references, all or nothing. A module other modules' commits depend on
// cannot be deleted.
func (s *Service) DeleteModules(ctx context.Context, refs []ModuleRef) error {
	var mods []ModuleRecord
	var owners []Owner
	for _, r := range refs {
		m, o, err := s.module(ctx, r)
		if err != nil {
			return err
		}
		if err := s.authorize(ctx, o, &m, access.ActionAdmin); err != nil {
			return err
		}
		mods = append(mods, m)
		owners = append(owners, o)
	}
	deleting := map[string]bool{}
	for _, m := range mods {
		deleting[m.ID] = true
	}
	for _, m := range mods {
		if err := s.checkNoDependents(ctx, m); err != nil {
			return err
		}
	}
	err := s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, m := range mods {
			if err := s.removeModule(ctx, tx, m.ID); err != nil {
				return err
			}
		}
		return s.changed(ctx, tx)
	})
	if err != nil {
		return err
	}
	for i, m := range mods {
		s.record(ctx, auditModuleDelete, owners[i], m.FullName(), nil)
	}
	return nil
}

// removeModule deletes a module's rows and the CAS references of its files.
func (s *Service) removeModule(ctx context.Context, tx *sqldb.Tx, id string) error {
	if err := s.st.deleteModule(ctx, tx, id); err != nil {
		return err
	}
	return s.meta.RemoveBlobRefs(ctx, tx, blobRef(id))
}

// checkNoDependents refuses to delete m while other modules' commits depend
// on it, naming only those dependents the caller may read.
func (s *Service) checkNoDependents(ctx context.Context, m ModuleRecord) error {
	ids, err := s.st.dependents(ctx, m.ID, 5)
	if err != nil || len(ids) == 0 {
		return err
	}
	var names []string
	for _, id := range ids {
		d, _, err := s.findModuleByID(ctx, id)
		switch {
		case err == nil:
			names = append(names, d.FullName())
		case !hidden(err):
			return err
		}
	}
	if len(names) < len(ids) {
		names = append(names, "other modules")
	}
	return errs.PreconditionFailedf("module %s cannot be deleted: commits of %s depend on it", m.FullName(), strings.Join(names, ", "))
}

// ListModules lists the modules of the given owners (all owners when none)
// that the caller may read.
func (s *Service) ListModules(ctx context.Context, owners []OwnerRef, byUpdate bool, p Page) ([]ModuleRecord, error) {
	var ids []string
	for _, r := range owners {
		o, err := s.GetOwner(ctx, r, "owner")
		if err != nil {
			return nil, err
		}
		ids = append(ids, o.ID)
	}
	var out []ModuleRecord
	owners2 := map[string]Owner{}
	// Filter after the query: fetch pages until enough visible modules are found.
	want, offset := p.Limit, p.Offset
	for len(out) < want {
		batch, err := s.st.listModules(ctx, ids, byUpdate, Page{Offset: offset, Limit: want, Desc: p.Desc})
		if err != nil {
			return nil, err
		}
		for _, m := range batch {
			o, ok := owners2[m.OwnerID]
			if !ok {
				o, err = s.ownerByID(ctx, m.OwnerID)
				if err != nil {
					return nil, err
				}
				owners2[m.OwnerID] = o
			}
			m.OwnerName = o.Name
			if s.authorize(ctx, o, &m, access.ActionRead) == nil && len(out) < want {
				out = append(out, m)
			}
		}
		offset += len(batch)
		if len(batch) < want {
			break
		}
	}
	return out, nil
}

// ---- labels ----

// LabelRef names a label by id or by owner, module and label name.
type LabelRef struct {
	ID     string
	Owner  string
	Module string
	Label  string
}

// labelByRef finds a label of a module the caller may read. By id, an
// absent label and one of an unreadable module get the same answer.
func (s *Service) labelByRef(ctx context.Context, r LabelRef) (Label, ModuleRecord, Owner, error) {
	if r.ID != "" {
		l, m, o, err := s.findLabelByID(ctx, r.ID)
		if err != nil {
			return Label{}, ModuleRecord{}, Owner{}, hide(ctx, err, "label %q not found", r.ID)
		}
		return l, m, o, nil
	}
	m, o, err := s.moduleByName(ctx, r.Owner, r.Module)
	if err != nil {
		return Label{}, ModuleRecord{}, Owner{}, err
	}
	l, err := s.st.label(ctx, s.st.db, m.ID, r.Label)
	if err != nil {
		return Label{}, ModuleRecord{}, Owner{}, notFoundErr(err, "label %q not found in %s", r.Label, m.FullName())
	}
	return l, m, o, nil
}

func (s *Service) findLabelByID(ctx context.Context, raw string) (Label, ModuleRecord, Owner, error) {
	id, ok := module.NormalizeID(raw)
	if !ok {
		return Label{}, ModuleRecord{}, Owner{}, errs.ErrNotFound
	}
	l, err := s.st.labelByID(ctx, id)
	if err != nil {
		return Label{}, ModuleRecord{}, Owner{}, err
	}
	m, o, err := s.findModuleByID(ctx, l.ModuleID)
	return l, m, o, err
}

// GetLabel returns a label the caller may read.
func (s *Service) GetLabel(ctx context.Context, r LabelRef) (Label, error) {
	l, _, _, err := s.labelByRef(ctx, r)
	return l, err
}

// SetLabel creates a label or moves it to commitID (which must belong to the module).
func (s *Service) SetLabel(ctx context.Context, r LabelRef, commitID string) (Label, error) {
	var m ModuleRecord
	var o Owner
	var err error
	name := r.Label
	if r.ID != "" {
		var l Label
		l, m, o, err = s.labelByRef(ctx, r)
		name = l.Name
	} else {
		m, o, err = s.moduleByName(ctx, r.Owner, r.Module)
	}
	if err != nil {
		return Label{}, err
	}
	if err := s.authorize(ctx, o, &m, access.ActionWrite); err != nil {
		return Label{}, err
	}
	if err := module.ValidateLabelName(name); err != nil {
		return Label{}, err
	}
	id, ok := module.NormalizeID(commitID)
	if !ok {
		return Label{}, errs.Invalidf("commit id %q is not 32 hex digits", commitID)
	}
	c, err := s.st.commit(ctx, id)
	if err != nil || c.ModuleID != m.ID {
		if err == nil || errors.Is(err, errs.ErrNotFound) {
			return Label{}, errs.NotFoundf("commit %s not found in %s", id, m.FullName())
		}
		return Label{}, err
	}
	var out Label
	uid := userID(ctx)
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if out, err = s.st.setLabel(ctx, tx, m.ID, name, c.ID, uid, s.now()); err != nil {
			return err
		}
		return s.changed(ctx, tx)
	})
	if err != nil {
		return Label{}, err
	}
	s.record(ctx, auditLabelMove, o, m.FullName()+":"+name, map[string]string{"commit": c.ID})
	return out, nil
}

// ArchiveLabel archives (or unarchives) a label. The default label cannot be archived.
func (s *Service) ArchiveLabel(ctx context.Context, r LabelRef, archive bool) error {
	l, m, o, err := s.labelByRef(ctx, r)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, o, &m, access.ActionWrite); err != nil {
		return err
	}
	if archive && l.Name == m.DefaultLabel {
		return errs.PreconditionFailedf("label %q is the default label of %s and cannot be archived", l.Name, m.FullName())
	}
	var at time.Time // zero: unarchived
	action := auditLabelUnarchiv
	if archive {
		at, action = s.now(), auditLabelArchive
	}
	err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.st.setArchived(ctx, tx, l.ID, at); err != nil {
			return err
		}
		return s.changed(ctx, tx)
	})
	if err != nil {
		return err
	}
	s.record(ctx, action, o, m.FullName()+":"+l.Name, nil)
	return nil
}

func userID(ctx context.Context) string {
	if p := principal(ctx); p != nil {
		return p.UserID
	}
	return ""
}
