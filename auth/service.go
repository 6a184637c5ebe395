package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Service performs the administrative operations on organizations, users,
// memberships and tokens (used by the CLI and the API).
type Service struct {
	Store metadata.Store
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

// CreateOrg creates an organization (private unless public).
func (s *Service) CreateOrg(ctx context.Context, name string, public bool) (metadata.Org, error) {
	return s.Store.CreateOrg(ctx, metadata.Org{Name: name, Public: public})
}

// CreateUser creates a user (a site administrator with admin).
func (s *Service) CreateUser(ctx context.Context, name string, admin bool) (metadata.User, error) {
	return s.Store.CreateUser(ctx, metadata.User{Name: name, Admin: admin})
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
	return s.Store.SetMember(ctx, org.ID, u.ID, role)
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
	return s.Store.RemoveMember(ctx, org.ID, u.ID)
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
		info := TokenInfo{ID: t.ID, Name: t.Name, User: name, Org: org.Name, Scope: string(t.Scope),
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
	return s.Store.RevokeToken(ctx, id, s.now())
}
