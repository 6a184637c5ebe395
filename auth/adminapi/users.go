package adminapi

import (
	"net/http"
	"sort"
	"time"

	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// User is a user as answered.
type User struct {
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	Bot       bool      `json:"bot"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

func userOf(u metadata.User) User {
	return User{Name: u.Name, Admin: u.Admin, Bot: u.Bot, Email: u.Email, CreatedAt: u.CreatedAt}
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := siteAdmin(r, "list users"); err != nil {
		return err
	}
	us, err := a.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	sort.SliceStable(us, func(i, j int) bool { return us[i].Name < us[j].Name })
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, userOf(u))
	}
	return api.WritePage(w, r, out)
}

type createUserRequest struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
	Email string `json:"email"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := siteAdmin(r, "create users"); err != nil {
		return err
	}
	var req createUserRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if err := metadata.ValidateName("user", req.Name); err != nil {
		return err
	}
	u, err := a.Admin.AddUser(r.Context(), metadata.User{Name: req.Name, Admin: req.Admin, Email: req.Email})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, userOf(u))
	return nil
}

type updateUserRequest struct {
	Email *string `json:"email"`
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	if err := siteAdmin(r, "change users"); err != nil {
		return err
	}
	var req updateUserRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.Email == nil {
		return errs.Invalidf(`nothing to change: send {"email": "ADDRESS"} ("" removes it)`)
	}
	name := r.PathValue("user")
	if err := a.Admin.SetUserEmail(r.Context(), name, *req.Email); err != nil {
		return err
	}
	u, err := a.Store.GetUser(r.Context(), name)
	if err == nil {
		api.WriteJSON(w, http.StatusOK, userOf(u))
	}
	return err
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := siteAdmin(r, "delete users"); err != nil {
		return err
	}
	if err := a.Admin.DeleteUser(r.Context(), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
