package adminapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Org is an organization as answered.
type Org struct {
	Name      string    `json:"name"`
	Public    bool      `json:"public"`
	CreatedAt time.Time `json:"created_at"`
}

func orgOf(o metadata.Org) Org { return Org{Name: o.Name, Public: o.Public, CreatedAt: o.CreatedAt} }

// Member is a membership as answered.
type Member struct {
	User string `json:"user"`
	Role string `json:"role"`
}

const kindOrg = "organization"

// listOrgs lists the organizations the caller may read, by name.
func (a *API) listOrgs(w http.ResponseWriter, r *http.Request) error {
	all, err := a.Store.ListOrgs(r.Context())
	if err != nil {
		return err
	}
	visible := make([]Org, 0, len(all))
	for _, o := range all {
		err := a.authorize(r, access.ActionRead, o.Name, kindOrg, o.Name)
		switch {
		case err == nil:
			visible = append(visible, orgOf(o))
		case errs.Category(err) == nil || errors.Is(err, errs.ErrUnavailable):
			return err
		}
	}
	return api.WritePage(w, r, visible)
}

type createOrgRequest struct {
	Name   string `json:"name"`
	Public bool   `json:"public"`
}

func (a *API) createOrg(w http.ResponseWriter, r *http.Request) error {
	if err := siteAdmin(r, "create organizations"); err != nil {
		return err
	}
	var req createOrgRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if err := metadata.ValidateName("organization", req.Name); err != nil {
		return err
	}
	o, err := a.Admin.CreateOrg(r.Context(), req.Name, req.Public)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, orgOf(o))
	return nil
}

func (a *API) getOrg(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("org")
	if err := a.authorize(r, access.ActionRead, name, kindOrg, name); err != nil {
		return err
	}
	return a.writeOrg(w, r, name)
}

// writeOrg answers an organization as it is now.
func (a *API) writeOrg(w http.ResponseWriter, r *http.Request, name string) error {
	o, err := a.Store.GetOrg(r.Context(), name)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, orgOf(o))
	return nil
}

type updateOrgRequest struct {
	Public *bool `json:"public"`
}

func (a *API) updateOrg(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("org")
	if err := a.authorize(r, access.ActionAdmin, name, kindOrg, name); err != nil {
		return err
	}
	var req updateOrgRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.Public == nil {
		return errs.Invalidf(`nothing to change: send {"public": true} or {"public": false}`)
	}
	if err := a.Admin.SetOrgPublic(r.Context(), name, *req.Public); err != nil {
		return err
	}
	return a.writeOrg(w, r, name)
}

func (a *API) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("org")
	if err := a.authorize(r, access.ActionAdmin, name, kindOrg, name); err != nil {
		return err
	}
	if err := a.Admin.DeleteOrg(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listMembers lists an organization's members by user name; whoever may
// read the organization may read them.
func (a *API) listMembers(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("org")
	if err := a.authorize(r, access.ActionRead, name, "members of organization", name); err != nil {
		return err
	}
	o, err := a.Store.GetOrg(r.Context(), name)
	if err != nil {
		return err
	}
	ms, err := a.Store.ListMembers(r.Context(), o.ID)
	if err != nil {
		return err
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{User: m.User, Role: string(m.Role)})
	}
	return api.WritePage(w, r, out)
}

type memberRequest struct {
	Role string `json:"role"`
}

func (a *API) setMember(w http.ResponseWriter, r *http.Request) error {
	org, user := r.PathValue("org"), r.PathValue("user")
	if err := a.authorize(r, access.ActionAdmin, org, "members of organization", org); err != nil {
		return err
	}
	var req memberRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	role, err := metadata.ParseRole(req.Role)
	if err != nil {
		return err
	}
	if err := a.Admin.AddMember(r.Context(), org, user, role); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, Member{User: user, Role: string(role)})
	return nil
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) error {
	org, user := r.PathValue("org"), r.PathValue("user")
	if err := a.authorize(r, access.ActionAdmin, org, "members of organization", org); err != nil {
		return err
	}
	if err := a.Admin.RemoveMember(r.Context(), org, user); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
