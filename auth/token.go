package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/packyard/packyard/pkg/access"
	"net/http"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// TokenPrefix starts every packyard API token, so that secret scanners and
// people recognise one.
const TokenPrefix = "pky_"

// Token text: pky_<16 hex id>_<48 hex secret>. The id is public (it names
// the token in lists and logs); the whole text is stored only as its sha256.
const (
	tokenIDLen     = 16
	tokenSecretLen = 48
)

// NewTokenText returns a fresh token's id and full text.
func NewTokenText() (id, text string, err error) {
	var idb [tokenIDLen / 2]byte
	var sec [tokenSecretLen / 2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", err
	}
	id = hex.EncodeToString(idb[:])
	return id, TokenPrefix + id + "_" + hex.EncodeToString(sec[:]), nil
}

// HashToken is the stored form of a token text.
func HashToken(text string) []byte {
	h := sha256.Sum256([]byte(text))
	return h[:]
}

// ParseTokenID returns the id part of a token text, or false when the text
// does not have the form of a packyard token.
func ParseTokenID(text string) (string, bool) {
	rest, ok := strings.CutPrefix(text, TokenPrefix)
	if !ok || len(rest) != tokenIDLen+1+tokenSecretLen || rest[tokenIDLen] != '_' {
		return "", false
	}
	for _, c := range rest[:tokenIDLen] + rest[tokenIDLen+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return rest[:tokenIDLen], true
}

// CredentialFromRequest returns the secret a request carries: the password
// of HTTP Basic (any username) or a Bearer token. ok is false when the
// request has no Authorization header.
func CredentialFromRequest(r *http.Request) (secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	if _, pass, isBasic := r.BasicAuth(); isBasic {
		return pass, true, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(rest) != "" {
		return strings.TrimSpace(rest), true, nil
	}
	return "", true, fmt.Errorf("unsupported Authorization scheme %q (use Basic with the token as password, or Bearer): %w", scheme, errs.ErrUnauthenticated)
}

// TokenAuthenticator authenticates packyard API tokens sent as the Basic
// password or as a Bearer token.
type TokenAuthenticator struct {
	Store metadata.Store
	Now   func() time.Time
}

var _ access.Authenticator = (*TokenAuthenticator)(nil)

var errBadToken = fmt.Errorf("invalid, expired or revoked token: %w", errs.ErrUnauthenticated)

// Authenticate implements access.Authenticator.
func (a *TokenAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*access.Principal, error) {
	secret, ok, err := CredentialFromRequest(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, access.ErrNoCredentials
	}
	return a.AuthenticateToken(ctx, secret)
}

// AuthenticateToken checks a token text.
func (a *TokenAuthenticator) AuthenticateToken(ctx context.Context, text string) (*access.Principal, error) {
	id, ok := ParseTokenID(text)
	if !ok {
		return nil, errBadToken
	}
	t, u, err := a.Store.LookupToken(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		// Compare anyway so that unknown ids cost the same as wrong secrets.
		subtle.ConstantTimeCompare(HashToken(text), make([]byte, sha256.Size))
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(HashToken(text), t.Hash) != 1 {
		return nil, errBadToken
	}
	return a.active(t, u)
}

// AuthenticateTokenID checks the token with the given id as AuthenticateToken
// checks a token text, without its secret: for a browser session started
// from that token (package web), which must end once the token is revoked
// or expires or its user is deleted.
func (a *TokenAuthenticator) AuthenticateTokenID(ctx context.Context, id string) (*access.Principal, error) {
	t, u, err := a.Store.LookupToken(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	return a.active(t, u)
}

// active is the principal of a token found and verified, unless it is
// revoked or expired.
func (a *TokenAuthenticator) active(t metadata.Token, u metadata.User) (*access.Principal, error) {
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	if !t.Active(now) {
		return nil, errBadToken
	}
	return principal(t, u), nil
}

func principal(t metadata.Token, u metadata.User) *access.Principal {
	return &access.Principal{UserID: u.ID, UserName: u.Name, SiteAdmin: u.Admin, TokenID: t.ID, OrgID: t.OrgID,
		Scope: t.Scope, Method: "token"}
}

// Chain asks each access.Authenticator in turn; the first that finds credentials decides.
type Chain []access.Authenticator

var _ access.Authenticator = Chain(nil)

// Authenticate implements access.Authenticator.
func (c Chain) Authenticate(ctx context.Context, r *http.Request) (*access.Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(ctx, r)
		if errors.Is(err, access.ErrNoCredentials) {
			continue
		}
		return p, err
	}
	return nil, access.ErrNoCredentials
}
