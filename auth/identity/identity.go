// Package identity signs people and CI jobs in through OpenID Connect and
// mints packyard tokens for them:
//
//   - /auth/oidc/login → provider → /auth/oidc/callback: authorization code
//     with PKCE; the user is created on first sign-in, claim rules set their
//     organization roles, and the page shows a packyard token once.
//   - /oauth2/device/{registration,authorization,token}: the OAuth2 device
//     flow `buf registry login HOST` runs, bridged to the provider's device
//     endpoint; packyard answers with its own token, never the provider's.
//   - POST /api/v1/token/exchange: a CI provider's OIDC JWT (GitHub Actions,
//     GitLab CI, any configured issuer) for a short-lived organization token
//     whose expiry never exceeds the JWT's.
//
// Every minted token is an ordinary packyard token (stored hashed,
// revocable, listed), so it works on every route. Provider discovery runs
// on first use, never while the application is built.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/server"
)

// Service is the identity routes' logic.
type Service struct {
	cfg     Config
	store   metadata.Store
	admin   *auth.Service
	audit   audit.Recorder
	guard   auth.Guard // may be nil
	cache   cache.Cache
	base    server.BaseURL
	log     *zap.Logger
	client  *http.Client
	oidc    *lazyProvider // nil without OIDC
	ci      map[string]*ciVerifier
	ciOrder []string
	now     func() time.Time
	web     Sessions // may be nil
}

// Params are the Service's dependencies.
type Params struct {
	Config Config
	Store  metadata.Store
	Admin  *auth.Service
	Audit  audit.Recorder
	Guard  auth.Guard // optional
	Cache  cache.Cache
	Base   server.BaseURL
	Log    *zap.Logger
	Client *http.Client // for the providers; nil = a client with a 30s timeout
	// Sessions starts web UI sessions (package pkg/web's Site): a sign-in
	// started at /auth/oidc/login?next=PATH ends in a browser session and
	// at PATH instead of the page that shows the token. Optional.
	Sessions Sessions
}

// Sessions starts a browser session acting with a token (pkg/web.Site).
type Sessions interface {
	StartSessionHTTP(w http.ResponseWriter, r *http.Request, p *access.Principal, expires time.Time) (string, error)
}

// New returns the service. It does no network I/O.
func New(p Params) *Service {
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	s := &Service{cfg: p.Config, store: p.Store, admin: p.Admin, audit: p.Audit, guard: p.Guard, cache: p.Cache,
		base: p.Base, log: p.Log, client: p.Client, ci: map[string]*ciVerifier{}, now: time.Now, web: p.Sessions}
	if s.audit == nil {
		s.audit = audit.Discard{}
	}
	if p.Config.OIDC.Enabled() {
		s.oidc = newLazyProvider(p.Config.OIDC.Issuer, p.Client)
	}
	for _, is := range p.Config.CI {
		s.ci[is.Issuer] = &ciVerifier{cfg: is, provider: newLazyProvider(is.Issuer, p.Client)}
		s.ciOrder = append(s.ciOrder, is.Issuer)
	}
	return s
}

// Routes are the identity routes for the kernel's outer mux.
func (s *Service) Routes() []server.Route {
	return []server.Route{
		{Pattern: "GET /auth/oidc/login", Handler: http.HandlerFunc(s.login)},
		{Pattern: "GET /auth/oidc/callback", Handler: http.HandlerFunc(s.callback)},
		{Pattern: "POST /oauth2/device/registration", Handler: http.HandlerFunc(s.deviceRegistration)},
		{Pattern: "POST /oauth2/device/authorization", Handler: http.HandlerFunc(s.deviceAuthorization)},
		{Pattern: "POST /oauth2/device/token", Handler: http.HandlerFunc(s.deviceToken)},
		{Pattern: "POST /api/v1/token/exchange", Handler: http.HandlerFunc(s.exchange)},
	}
}

var invalidNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// UsernameFromClaim turns a claim value into a packyard user name: lower
// case, other characters than letters, digits, ".", "_" and "-" become
// "-" ("Jane.Doe@Example.com" → "jane.doe-example.com").
func UsernameFromClaim(v string) (string, error) {
	n := invalidNameChars.ReplaceAllString(strings.ToLower(strings.TrimSpace(v)), "-")
	n = strings.Trim(n, "._-")
	if len(n) > 64 {
		n = strings.Trim(n[:64], "._-")
	}
	if err := metadata.ValidateName("user", n); err != nil {
		return "", errs.Invalidf("claim value %q does not make a user name", v)
	}
	return n, nil
}

// signInResult is a signed-in user with a fresh token.
type signInResult struct {
	User    metadata.User
	Token   string
	Expires time.Time
	Next    string // the web UI page to end at (a web session), "" to show the token
}

// signIn finds or creates the user of an identity (issuer, subject) with
// claims, applies the role rules, mints a token, and records the sign-in.
func (s *Service) signIn(ctx context.Context, issuer string, claims map[string]any, via string) (signInResult, error) {
	cfg := s.cfg.OIDC
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return signInResult{}, fmt.Errorf("the identity provider sent no subject: %w", errs.ErrUnauthenticated)
	}
	raw, ok := claims[cfg.UsernameClaim].(string)
	if !ok || raw == "" {
		return signInResult{}, fmt.Errorf("the identity provider sent no %q claim to name the user (PACKYARD_OIDC_USERNAME_CLAIM): %w", cfg.UsernameClaim, errs.ErrUnauthenticated)
	}
	user, err := s.linkedUser(ctx, issuer, sub, claims, via)
	if err != nil {
		return signInResult{}, err
	}
	if len(cfg.Rules) > 0 {
		missing, err := s.admin.SyncRoles(ctx, user, cfg.Rules.Orgs(), cfg.Rules.Roles(claims))
		if err != nil {
			return signInResult{}, err
		}
		if len(missing) > 0 {
			s.log.Warn("role rules name organizations that do not exist", zap.Strings("orgs", missing))
		}
	}
	p := &access.Principal{UserID: user.ID, UserName: user.Name, SiteAdmin: user.Admin, Method: via}
	ctx = access.WithPrincipal(ctx, p)
	text, tok, err := s.admin.CreateUserToken(ctx, auth.UserTokenRequest{UserID: user.ID, Name: via + " sign-in",
		Expires: cfg.TokenTTL, Via: via})
	if err != nil {
		return signInResult{}, err
	}
	p.TokenID = tok.ID
	audit.Record(access.WithPrincipal(ctx, p), s.audit, s.log, audit.Event{Action: audit.ActionSignIn, Resource: "user/" + user.Name,
		Details: map[string]string{"via": via, "issuer": issuer, "subject": sub}})
	return signInResult{User: user, Token: text, Expires: tok.ExpiresAt}, nil
}

// linkedUser returns the user an identity (issuer, subject) signs in as:
// the user it was linked to before, or on its first sign-in the user
// firstSignIn picks, to which it is linked from then on.
func (s *Service) linkedUser(ctx context.Context, issuer, sub string, claims map[string]any, via string) (metadata.User, error) {
	userID, err := s.store.IdentityUser(ctx, issuer, sub)
	if err == nil {
		u, err := s.store.GetUserByID(ctx, userID)
		if err != nil {
			return metadata.User{}, fmt.Errorf("linked user: %w", err)
		}
		return u, nil
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return metadata.User{}, err
	}
	u, created, err := s.firstSignIn(ctx, issuer, claims, via)
	if err != nil {
		return metadata.User{}, err
	}
	if err := s.store.LinkIdentity(ctx, metadata.Identity{Issuer: issuer, Subject: sub, UserID: u.ID, CreatedAt: s.now()}); err != nil {
		if errors.Is(err, errs.ErrAlreadyExists) { // the same identity signed in concurrently
			if created {
				if derr := s.admin.DeleteUser(ctx, u.Name); derr != nil {
					s.log.Warn("removing the user of a concurrent first sign-in", zap.String("user", u.Name), zap.Error(derr))
				}
			}
			return s.linkedUser(ctx, issuer, sub, claims, via)
		}
		return metadata.User{}, err
	}
	return u, nil
}

// firstSignIn picks the user of an identity's first sign-in. A name never
// links to an existing user (anyone may choose a name at some provider);
// with PACKYARD_OIDC_LINK_BY_EMAIL an address the provider verified
// (email_verified true) links to the user an administrator gave that
// address. Otherwise a new user is created, named after the username claim
// (with a suffix when the name is taken); created tells which.
func (s *Service) firstSignIn(ctx context.Context, issuer string, claims map[string]any, via string) (u metadata.User, created bool, err error) {
	if email, ok := verifiedEmail(claims); ok && s.cfg.OIDC.LinkByEmail {
		u, err := s.store.UserByEmail(ctx, email)
		switch {
		case err == nil:
			if err := s.linkable(ctx, issuer, u); err != nil {
				return metadata.User{}, false, err
			}
			s.log.Info("first sign-in linked by a verified e-mail address", zap.String("user", u.Name), zap.String("issuer", issuer))
			return u, false, nil
		case !errors.Is(err, errs.ErrNotFound):
			return metadata.User{}, false, err
		}
	}
	raw, _ := claims[s.cfg.OIDC.UsernameClaim].(string)
	name, err := UsernameFromClaim(raw)
	if err != nil {
		return metadata.User{}, false, errs.Wrap(errs.ErrUnauthenticated,
			fmt.Sprintf("%s (PACKYARD_OIDC_USERNAME_CLAIM %q)", errs.PublicMessage(err), s.cfg.OIDC.UsernameClaim), err)
	}
	u, err = s.admin.CreateSignInUser(ctx, name, via)
	return u, err == nil, err
}

// linkable refuses to link a second account of one issuer, or a bot, to a user.
func (s *Service) linkable(ctx context.Context, issuer string, u metadata.User) error {
	if u.Bot {
		return errs.PreconditionFailedf("user %q is a bot user and cannot sign in", u.Name)
	}
	_, err := s.store.IdentitySubject(ctx, issuer, u.ID)
	switch {
	case err == nil:
		return errs.PermissionDeniedf("user %q is already linked to another account of this identity provider", u.Name)
	case !errors.Is(err, errs.ErrNotFound):
		return err
	}
	return nil
}

// verifiedEmail is the claims' e-mail address, lower case, when the
// provider says it verified it (email_verified true, or "true" as some
// providers send it).
func verifiedEmail(claims map[string]any) (string, bool) {
	email, _ := claims["email"].(string)
	verified := false
	switch v := claims["email_verified"].(type) {
	case bool:
		verified = v
	case string:
		verified = strings.EqualFold(v, "true")
	}
	e, err := metadata.NormalizeEmail(email)
	if !verified || err != nil || e == "" {
		return "", false
	}
	return e, true
}

// failed counts a failed sign-in against the client address's limit and
// records it; it returns the error to answer: the Guard's refusal (429) when
// the address is past its limit (then nothing is recorded), else err.
func (s *Service) failed(ctx context.Context, r *http.Request, via string, err error) error {
	if s.guard != nil {
		gerr := s.guard.Failed(ctx, auth.ClientAddr(r), "")
		if errors.Is(gerr, errs.ErrResourceExhausted) {
			return gerr
		}
		if gerr != nil {
			s.log.Warn("counting a failed sign-in", zap.Error(gerr))
		}
	}
	e := audit.Event{Action: audit.ActionSignInFailed, Outcome: audit.Failure, Actor: audit.Actor{Method: via},
		Details: map[string]string{"reason": errs.PublicMessage(err), "via": via}}
	audit.Record(ctx, s.audit, s.log, e)
	return err
}
