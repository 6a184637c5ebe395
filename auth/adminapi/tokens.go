package adminapi

import (
	"errors"
	"net/http"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

const kindTokens = "tokens of organization"

// listTokens lists an organization's tokens (never their secrets), oldest
// first; its administrators may.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	org := r.PathValue("org")
	if err := a.authorize(r, access.ActionAdmin, org, kindTokens, org); err != nil {
		return err
	}
	ts, err := a.Admin.ListTokens(r.Context(), org)
	if err != nil {
		return err
	}
	return api.WritePage(w, r, ts)
}

type createTokenRequest struct {
	Scope   string `json:"scope"`
	User    string `json:"user"`
	Name    string `json:"name"`
	Expires string `json:"expires"` // a duration such as 12h or 30d; "" never
}

// CreatedToken is a new token: its secret, shown this once, and its listing.
type CreatedToken struct {
	Token string `json:"token"`
	auth.TokenInfo
}

// createToken mints a token limited to the organization, for its bot user
// or a member its administrator names. A token for a site administrator
// (who would act as one inside the organization) needs a site
// administrator.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	org := r.PathValue("org")
	if err := a.authorize(r, access.ActionAdmin, org, kindTokens, org); err != nil {
		return err
	}
	var body createTokenRequest
	if err := api.Decode(r, &body); err != nil {
		return err
	}
	req := auth.CreateTokenRequest{Org: org, Scope: metadata.Role(body.Scope), User: body.User, Name: body.Name}
	if body.Expires != "" {
		d, err := config.ParseDuration(body.Expires)
		if err != nil || d <= 0 {
			return errs.Invalidf("expires %q: use a positive duration such as 12h, 30d or 90m", body.Expires)
		}
		req.Expires = d
	}
	if body.User != "" && !caller(r).SiteAdministrator() {
		u, err := a.Store.GetUser(r.Context(), body.User)
		if err != nil {
			return err
		}
		if u.Admin {
			return errs.PermissionDeniedf("user %q is a site administrator: only a site administrator may mint their tokens", u.Name)
		}
	}
	text, t, err := a.Admin.CreateToken(r.Context(), req)
	if err != nil {
		return err
	}
	user := body.User
	if user == "" {
		user = auth.BotUserName(org)
	}
	info := auth.TokenInfo{ID: t.ID, Name: t.Name, User: user, Org: org, Scope: string(t.Scope),
		CreatedAt: t.CreatedAt, Active: t.Active(a.now())}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt
		info.ExpiresAt = &e
	}
	api.WriteJSON(w, http.StatusCreated, CreatedToken{Token: text, TokenInfo: info})
	return nil
}

// revokeToken revokes a token by id: an administrator of its organization
// may, and a site administrator; a sign-in token (of no organization) its
// own user may revoke too.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if tid, ok := auth.ParseTokenID(id); ok {
		id = tid
	}
	p := caller(r)
	if p == nil {
		return errs.Wrap(errs.ErrUnauthenticated, "authentication required to revoke tokens", nil)
	}
	t, err := a.Store.GetToken(r.Context(), id)
	if errors.Is(err, errs.ErrNotFound) {
		return errs.NotFoundf("token %q not found", id)
	}
	if err != nil {
		return err
	}
	if err := a.mayRevoke(r, p, t); err != nil {
		return err
	}
	if err := a.Admin.RevokeToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) mayRevoke(r *http.Request, p *access.Principal, t metadata.Token) error {
	switch {
	case p.SiteAdministrator(), t.UserID == p.UserID && t.OrgID == "":
		return nil
	case t.OrgID == "":
		return errs.NotFoundf("token %q not found", t.ID)
	}
	o, err := a.Store.GetOrgByID(r.Context(), t.OrgID)
	if err != nil {
		return err
	}
	if err := a.authorize(r, access.ActionAdmin, o.Name, kindTokens, o.Name); err != nil {
		if errs.Category(err) == errs.ErrNotFound {
			return errs.NotFoundf("token %q not found", t.ID)
		}
		return err
	}
	return nil
}
