package buf

import (
	"context"
	"fmt"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// A caller who may not read a thing gets the answer it would get if the
// thing did not exist, on every route, by name and by id: NotFound for a
// signed-in caller, and Unauthenticated for an anonymous one (the buf CLI
// then suggests `buf registry login`). The message names only what the
// caller asked for, in the caller's own terms, never what it resolved to.

// unseenError is that one answer.
type unseenError struct {
	msg  string
	anon bool
}

func (e *unseenError) Error() string { return e.msg }

func (e *unseenError) Unwrap() error {
	if e.anon {
		return errs.ErrUnauthenticated
	}
	return errs.ErrNotFound
}

// anonSuffix ends the message of an anonymous caller's answer.
const anonSuffix = " (anonymous callers see public content only)"

// unseen is the answer for something the caller cannot read, or that does
// not exist; msg says what was asked for, e.g. `module "acme/m" not found`.
func unseen(ctx context.Context, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if principal(ctx) == nil {
		return &unseenError{msg: msg + anonSuffix, anon: true}
	}
	return &unseenError{msg: msg}
}

// hidden reports whether err refuses a lookup in a way that must look like
// absence: not found, or not readable by the caller. Other errors (the
// database failing, invalid arguments) are not hidden.
func hidden(err error) bool {
	switch errs.Category(err) {
	case errs.ErrNotFound, errs.ErrUnauthenticated, errs.ErrPermissionDenied:
		return true
	}
	return false
}

// hide turns a hidden refusal into unseen(format, args); other errors pass
// unchanged.
func hide(ctx context.Context, err error, format string, args ...any) error {
	if err != nil && hidden(err) {
		return unseen(ctx, format, args...)
	}
	return err
}

// asked names an owner reference of the given kind ("owner",
// "organization", "user") as the caller wrote it.
func (r OwnerRef) asked(kind string) string {
	if r.ID != "" {
		return fmt.Sprintf("%s %q", kind, r.ID)
	}
	return fmt.Sprintf("%s %q", kind, r.Name)
}

// visibleOwner decides whether the caller may see that an owner exists: it
// can read it, or the owner has a public module. The refusal is the
// authorizer's; callers hide it.
func (s *Service) visibleOwner(ctx context.Context, o Owner) error {
	if p := principal(ctx); p != nil && p.SiteAdmin {
		return nil
	}
	err := s.authorize(ctx, o, nil, access.ActionRead)
	if err == nil || !hidden(err) {
		return err
	}
	pub, perr := s.st.hasPublicModule(ctx, o.ID)
	if perr != nil {
		return perr
	}
	if pub {
		return nil
	}
	return err
}

// GetOwner returns an owner the caller may see; kind ("owner",
// "organization" or "user") is what the reference names, and an owner of
// another kind is answered as absent.
func (s *Service) GetOwner(ctx context.Context, r OwnerRef, kind string) (Owner, error) {
	o, err := s.owner(ctx, r)
	if err == nil {
		err = s.visibleOwner(ctx, o)
	}
	if err == nil && (kind == "organization" && o.Kind != OwnerOrg || kind == "user" && o.Kind != OwnerUser) {
		err = errs.ErrNotFound
	}
	if err != nil {
		return Owner{}, hide(ctx, err, "%s not found", r.asked(kind))
	}
	return o, nil
}
