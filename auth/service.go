package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Service performs the administrative operations on organizations, users,
// memberships and tokens (used by the CLI and the API). Every change it
// makes leaves one audit record when Audit is set.
type Service struct {
	Store metadata.Store
	Audit audit.Recorder // nil: no audit records
	Log   *zap.Logger    // failed audit records (nil: none)
	Now   func() time.Time
}

// record stores the audit event of a change that has been made, with
// audit.Record's policy: the change stands, a failure to record is logged.
func (s *Service) record(ctx context.Context, e audit.Event) {
	audit.Record(ctx, s.Audit, s.Log, e)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

// CreateOrg creates an organization (private unless public). Names
// packyard's own routes use are refused (metadata.CheckOrgName).
func (s *Service) CreateOrg(ctx context.Context, name string, public bool) (metadata.Org, error) {
	o, err := s.Store.CreateOrg(ctx, metadata.Org{Name: name, Public: public})
	if err != nil {
		return o, err
	}
	s.record(ctx, audit.Event{Action: audit.ActionOrgCreate, Org: o.Name, Resource: "org/" + o.Name,
		Details: map[string]string{"public": fmt.Sprint(public)}})
	return o, nil
}

// SetOrgPublic makes an organization public (anonymous reads) or private.
func (s *Service) SetOrgPublic(ctx context.Context, name string, public bool) error {
	if err := s.Store.SetOrgPublic(ctx, name, public); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionOrgUpdate, Org: name, Resource: "org/" + name,
		Details: map[string]string{"public": fmt.Sprint(public)}})
	return nil
}

// DeleteOrg deletes an organization with its memberships and tokens.
func (s *Service) DeleteOrg(ctx context.Context, name string) error {
	if err := s.Store.DeleteOrg(ctx, name); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionOrgDelete, Org: name, Resource: "org/" + name})
	return nil
}

// CreateUser creates a user (a site administrator with admin).
func (s *Service) CreateUser(ctx context.Context, name string, admin bool) (metadata.User, error) {
	return s.AddUser(ctx, metadata.User{Name: name, Admin: admin})
}

// AddUser creates a user with the given name, administrator flag and
// e-mail address (optional: with PACKYARD_OIDC_LINK_BY_EMAIL, a sign-in
// whose provider verified that address is linked to this user).
func (s *Service) AddUser(ctx context.Context, u metadata.User) (metadata.User, error) {
	u, err := s.Store.CreateUser(ctx, metadata.User{Name: u.Name, Admin: u.Admin, Email: u.Email})
	if err != nil {
		return u, err
	}
	details := map[string]string{"admin": fmt.Sprint(u.Admin)}
	if u.Email != "" {
		details["email"] = u.Email
	}
	s.record(ctx, audit.Event{Action: audit.ActionUserCreate, Resource: "user/" + u.Name, Details: details})
	return u, nil
}

// SetUserEmail sets (or, with "", clears) a user's e-mail address.
func (s *Service) SetUserEmail(ctx context.Context, name, email string) error {
	if err := s.Store.SetUserEmail(ctx, name, email); err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, name)
	if err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionUserUpdate, Resource: "user/" + name,
		Details: map[string]string{"email": u.Email}})
	return nil
}

// signInNameTries is how many numbered names (name-2 … name-N) a first
// sign-in tries before random suffixes.
const signInNameTries = 9

// CreateSignInUser creates the user of a first sign-in (not an
// administrator): named name, or, when that name is taken (a name never
// links an identity to an existing user), name-2, name-3, … and then a
// random suffix.
func (s *Service) CreateSignInUser(ctx context.Context, name, via string) (metadata.User, error) {
	for i := 1; ; i++ {
		candidate := name
		switch {
		case i > signInNameTries+3:
			return metadata.User{}, fmt.Errorf("no free user name like %q: %w", name, errs.ErrAlreadyExists)
		case i > signInNameTries:
			candidate = suffixed(name, randomSuffix())
		case i > 1:
			candidate = suffixed(name, fmt.Sprint(i))
		}
		u, err := s.Store.CreateUser(ctx, metadata.User{Name: candidate})
		if errors.Is(err, errs.ErrAlreadyExists) {
			continue
		}
		if err != nil {
			return metadata.User{}, err
		}
		s.record(ctx, audit.Event{Action: audit.ActionUserCreate, Resource: "user/" + u.Name,
			Details: map[string]string{"admin": "false", "via": via}})
		return u, nil
	}
}

// suffixed is name-suffix, cut to a valid user name's 64 characters.
func suffixed(name, suffix string) string {
	base := name
	if limit := 64 - len(suffix) - 1; len(base) > limit {
		base = strings.TrimRight(base[:limit], "._-")
	}
	return base + "-" + suffix
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DeleteUser deletes a user with their memberships and tokens.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if err := s.Store.DeleteUser(ctx, name); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionUserDelete, Resource: "user/" + name})
	return nil
}

// AddMember gives a user a role in an organization (or changes it).
func (s *Service) AddMember(ctx context.Context, orgName, userName string, role metadata.Role) error {
	if _, err := metadata.ParseRole(string(role)); err != nil {
		return err
	}
	org, err := s.Store.GetOrg(ctx, orgName)
	if err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, userName)
	if err != nil {
		return err
	}
	if err := s.Store.SetMember(ctx, org.ID, u.ID, role); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionMemberSet, Org: org.Name, Resource: "member/" + org.Name + "/" + u.Name,
		Details: map[string]string{"role": string(role)}})
	return nil
}

// RemoveMember takes a user out of an organization.
func (s *Service) RemoveMember(ctx context.Context, orgName, userName string) error {
	org, err := s.Store.GetOrg(ctx, orgName)
	if err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, userName)
	if err != nil {
		return err
	}
	if err := s.Store.RemoveMember(ctx, org.ID, u.ID); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Action: audit.ActionMemberRemove, Org: org.Name, Resource: "member/" + org.Name + "/" + u.Name})
	return nil
}

// CreateTokenRequest describes a token to mint.
type CreateTokenRequest struct {
	Org     string        // required: the organization the token is limited to
	Scope   metadata.Role // read, write or admin
	User    string        // optional: the owner; default is the organization's bot user
	Name    string        // optional label
	Expires time.Duration // 0: never
}

// BotUserName is the name of the bot user that owns an organization's
// tokens when no user is named.
func BotUserName(org string) string { return org + "-bot" }

// CreateToken mints a token and returns its text (shown once; only its hash
// is stored) with its stored form.
func (s *Service) CreateToken(ctx context.Context, req CreateTokenRequest) (string, metadata.Token, error) {
	if _, err := metadata.ParseRole(string(req.Scope)); err != nil {
		return "", metadata.Token{}, err
	}
	if req.Expires < 0 {
		return "", metadata.Token{}, errs.Invalidf("token expiry must be positive")
	}
	org, err := s.Store.GetOrg(ctx, req.Org)
	if err != nil {
		return "", metadata.Token{}, err
	}
	var user metadata.User
	if req.User == "" {
		user, err = s.botUser(ctx, org, req.Scope)
		if err != nil {
			return "", metadata.Token{}, err
		}
	} else {
		user, err = s.Store.GetUser(ctx, req.User)
		if err != nil {
			return "", metadata.Token{}, err
		}
		if !user.Admin {
			role, err := s.Store.GetRole(ctx, org.ID, user.ID)
			if errors.Is(err, errs.ErrNotFound) {
				return "", metadata.Token{}, errs.PreconditionFailedf("user %q is not a member of organization %q: add them first (packyard org add-member %s %s --role %s)", user.Name, org.Name, org.Name, user.Name, req.Scope)
			}
			if err != nil {
				return "", metadata.Token{}, err
			}
			if !role.Allows(req.Scope) {
				return "", metadata.Token{}, errs.PreconditionFailedf("user %q has role %s in organization %q, which does not allow a %s token", user.Name, role, org.Name, req.Scope)
			}
		}
	}
	id, text, err := NewTokenText()
	if err != nil {
		return "", metadata.Token{}, err
	}
	t := metadata.Token{ID: id, Hash: HashToken(text), UserID: user.ID, OrgID: org.ID, Scope: req.Scope,
		Name: req.Name, CreatedAt: s.now().Truncate(time.Microsecond)}
	if req.Expires > 0 {
		t.ExpiresAt = t.CreatedAt.Add(req.Expires)
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", metadata.Token{}, err
	}
	s.record(ctx, tokenEvent(t, org.Name, user.Name))
	return text, t, nil
}

func tokenEvent(t metadata.Token, org, user string) audit.Event {
	d := map[string]string{"scope": string(t.Scope), "user": user}
	if t.Name != "" {
		d["name"] = t.Name
	}
	if !t.ExpiresAt.IsZero() {
		d["expires_at"] = t.ExpiresAt.Format(time.RFC3339)
	}
	return audit.Event{Action: audit.ActionTokenCreate, Org: org, Resource: "token/" + t.ID, Details: d}
}

// UserTokenRequest describes a token minted for a user who signed in: it is
// not limited to one organization and acts with the user's memberships.
type UserTokenRequest struct {
	UserID  string
	Name    string        // label, e.g. "oidc sign-in"
	Expires time.Duration // required: sign-in tokens always expire
	Via     string        // how the user signed in, for the audit record
}

// CreateUserToken mints a sign-in token for a user.
func (s *Service) CreateUserToken(ctx context.Context, req UserTokenRequest) (string, metadata.Token, error) {
	if req.Expires <= 0 {
		return "", metadata.Token{}, errs.Invalidf("a sign-in token needs a positive lifetime")
	}
	u, err := s.Store.GetUserByID(ctx, req.UserID)
	if err != nil {
		return "", metadata.Token{}, err
	}
	id, text, err := NewTokenText()
	if err != nil {
		return "", metadata.Token{}, err
	}
	t := metadata.Token{ID: id, Hash: HashToken(text), UserID: u.ID, Scope: metadata.RoleAdmin, Name: req.Name,
		CreatedAt: s.now().Truncate(time.Microsecond)}
	t.ExpiresAt = t.CreatedAt.Add(req.Expires)
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", metadata.Token{}, err
	}
	e := tokenEvent(t, "", u.Name)
	e.Details["scope"] = "user"
	if req.Via != "" {
		e.Details["via"] = req.Via
	}
	s.record(ctx, e)
	return text, t, nil
}

func (s *Service) botUser(ctx context.Context, org metadata.Org, scope metadata.Role) (metadata.User, error) {
	name := BotUserName(org.Name)
	u, err := s.Store.GetUser(ctx, name)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		u, err = s.Store.CreateUser(ctx, metadata.User{Name: name, Bot: true})
		if errors.Is(err, errs.ErrAlreadyExists) { // created concurrently
			u, err = s.Store.GetUser(ctx, name)
		}
		if err != nil {
			return metadata.User{}, err
		}
	case err != nil:
		return metadata.User{}, err
	case !u.Bot:
		return metadata.User{}, errs.PreconditionFailedf("user %q exists and is not organization %q's bot user; name a user with --user", name, org.Name)
	}
	role, err := s.Store.GetRole(ctx, org.ID, u.ID)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return metadata.User{}, err
	}
	if !role.Allows(scope) {
		if err := s.Store.SetMember(ctx, org.ID, u.ID, scope); err != nil {
			return metadata.User{}, err
		}
	}
	return u, nil
}

// TokenInfo is a token as listed: never its secret or hash.
type TokenInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	User      string     `json:"user"`
	Org       string     `json:"org"`
	Scope     string     `json:"scope"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Active    bool       `json:"active"`
}

// ListTokens lists an organization's tokens.
func (s *Service) ListTokens(ctx context.Context, orgName string) ([]TokenInfo, error) {
	org, err := s.Store.GetOrg(ctx, orgName)
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListTokens(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	return s.tokenInfos(ctx, ts, map[string]string{org.ID: org.Name})
}

// ListUserTokens lists a user's tokens, of every organization (and the
// sign-in tokens, limited to none).
func (s *Service) ListUserTokens(ctx context.Context, userID string) ([]TokenInfo, error) {
	ts, err := s.Store.ListUserTokens(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.tokenInfos(ctx, ts, map[string]string{})
}

// tokenInfos describes tokens for lists, naming their users and
// organizations (orgs: names known by id, filled as they are read).
func (s *Service) tokenInfos(ctx context.Context, ts []metadata.Token, orgs map[string]string) ([]TokenInfo, error) {
	out := make([]TokenInfo, 0, len(ts))
	names := map[string]string{}
	for _, t := range ts {
		name, ok := names[t.UserID]
		if !ok {
			u, err := s.Store.GetUserByID(ctx, t.UserID)
			if err != nil {
				return nil, fmt.Errorf("token %s: %w", t.ID, err)
			}
			name, names[t.UserID] = u.Name, u.Name
		}
		orgName, ok := orgs[t.OrgID]
		if !ok && t.OrgID != "" {
			o, err := s.Store.GetOrgByID(ctx, t.OrgID)
			if err != nil {
				return nil, fmt.Errorf("token %s: %w", t.ID, err)
			}
			orgName, orgs[t.OrgID] = o.Name, o.Name
		}
		info := TokenInfo{ID: t.ID, Name: t.Name, User: name, Org: orgName, Scope: string(t.Scope),
			CreatedAt: t.CreatedAt, Active: t.Active(s.now())}
		if !t.ExpiresAt.IsZero() {
			e := t.ExpiresAt
			info.ExpiresAt = &e
		}
		if !t.RevokedAt.IsZero() {
			r := t.RevokedAt
			info.RevokedAt = &r
		}
		out = append(out, info)
	}
	return out, nil
}

// RevokeToken revokes a token by id (the part after pky_ and before the
// second underscore, as listed). It takes effect on the next request.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	t, err := s.Store.GetToken(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeToken(ctx, id, s.now()); err != nil {
		return err
	}
	org := ""
	if t.OrgID != "" {
		if o, err := s.Store.GetOrgByID(ctx, t.OrgID); err == nil {
			org = o.Name
		}
	}
	s.record(ctx, audit.Event{Action: audit.ActionTokenRevoke, Org: org, Resource: "token/" + id})
	return nil
}

// SyncRoles makes the user's roles in the organizations rules manage equal
// to want: a role in want is set (when it differs), and a membership in a
// managed organization absent from want is removed. Organizations that do
// not exist are skipped and returned. Each change leaves one audit record.
func (s *Service) SyncRoles(ctx context.Context, user metadata.User, managed []string, want map[string]metadata.Role) (missing []string, err error) {
	for _, name := range managed {
		org, err := s.Store.GetOrg(ctx, name)
		if errors.Is(err, errs.ErrNotFound) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return missing, err
		}
		have, err := s.Store.GetRole(ctx, org.ID, user.ID)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return missing, err
		}
		role, ok := want[name]
		res := "member/" + org.Name + "/" + user.Name
		switch {
		case ok && role != have:
			if err := s.Store.SetMember(ctx, org.ID, user.ID, role); err != nil {
				return missing, err
			}
			s.record(ctx, audit.Event{Action: audit.ActionMemberSet, Org: org.Name, Resource: res,
				Details: map[string]string{"role": string(role), "via": "rules"}})
		case !ok && have != "":
			if err := s.Store.RemoveMember(ctx, org.ID, user.ID); err != nil {
				return missing, err
			}
			s.record(ctx, audit.Event{Action: audit.ActionMemberRemove, Org: org.Name, Resource: res,
				Details: map[string]string{"via": "rules"}})
		}
	}
	return missing, nil
}
