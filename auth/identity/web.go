package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

const (
	stateCookie  = "packyard_oidc_state"
	stateTTL     = 10 * time.Minute
	callbackPath = "/auth/oidc/callback"
)

// loginState is what the callback needs from the login that started it; it
// lives in the cache (shared by replicas with Redis) for stateTTL.
type loginState struct {
	Verifier    string `json:"verifier"`
	Nonce       string `json:"nonce"`
	RedirectURL string `json:"redirect_url"`
	Next        string `json:"next,omitempty"` // a web UI path: end in a browser session there
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func notConfigured() error {
	return errs.PreconditionFailedf("OIDC sign-in is not configured on this packyard (PACKYARD_OIDC_ISSUER); ask an administrator for a token (packyard token create)")
}

func (s *Service) oauthConfig(ctx context.Context, r *http.Request) (*oauth2.Config, *oidc.Provider, error) {
	p, _, err := s.oidc.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	redirect := s.cfg.OIDC.RedirectURL
	if redirect == "" {
		redirect = s.base.For(r) + callbackPath
	}
	return &oauth2.Config{ClientID: s.cfg.OIDC.ClientID, ClientSecret: s.cfg.OIDC.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirect, Scopes: s.cfg.OIDC.Scopes}, p, nil
}

// login starts the authorization-code flow with PKCE and a nonce.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.oidc == nil {
		s.page(w, r, http.StatusNotFound, pageData{Error: notConfigured().Error()})
		return
	}
	oc, _, err := s.oauthConfig(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	state, st := randomString(), loginState{Verifier: oauth2.GenerateVerifier(), Nonce: randomString(), RedirectURL: oc.RedirectURL}
	if next := r.URL.Query().Get("next"); next != "" && s.web != nil {
		st.Next = web.LocalPath(next)
	}
	b, _ := json.Marshal(st)
	if err := s.cache.Set(ctx, "identity:oidc:state:"+state, b, stateTTL); err != nil {
		s.fail(w, r, errs.Wrap(errs.ErrUnavailable, "cannot keep the sign-in state", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: callbackPath, MaxAge: int(stateTTL.Seconds()),
		HttpOnly: true, Secure: strings.HasPrefix(oc.RedirectURL, "https:"), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(state, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)), http.StatusFound)
}

// callback finishes the flow: checks state and nonce, exchanges the code
// with the PKCE verifier, verifies the ID token, signs the user in and
// shows the token once.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.oidc == nil {
		s.page(w, r, http.StatusNotFound, pageData{Error: notConfigured().Error()})
		return
	}
	res, err := s.finishLogin(ctx, r)
	if err != nil {
		if errors.Is(err, errs.ErrUnauthenticated) || errors.Is(err, errs.ErrPermissionDenied) || errors.Is(err, errs.ErrInvalidArgument) {
			err = s.failed(ctx, r, "oidc", err)
		}
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: callbackPath, MaxAge: -1})
	if res.Next != "" && s.web != nil {
		s.startWebSession(w, r, res)
		return
	}
	s.page(w, r, http.StatusOK, pageData{User: res.User.Name, Token: res.Token, Expires: res.Expires.UTC().Format(time.RFC3339),
		Host: strings.TrimPrefix(strings.TrimPrefix(s.base.For(r), "https://"), "http://")})
}

func (s *Service) finishLogin(ctx context.Context, r *http.Request) (signInResult, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return signInResult{}, fmt.Errorf("the identity provider refused the sign-in: %s %s: %w", e, q.Get("error_description"), errs.ErrUnauthenticated)
	}
	state := q.Get("state")
	c, err := r.Cookie(stateCookie)
	if state == "" || err != nil || c.Value != state {
		return signInResult{}, fmt.Errorf("sign-in state does not match this browser: start again at /auth/oidc/login: %w", errs.ErrUnauthenticated)
	}
	key := "identity:oidc:state:" + state
	b, err := s.cache.Get(ctx, key)
	if err != nil {
		return signInResult{}, fmt.Errorf("sign-in expired or already used: start again at /auth/oidc/login: %w", errs.ErrUnauthenticated)
	}
	_ = s.cache.Delete(ctx, key) // single use
	var st loginState
	if err := json.Unmarshal(b, &st); err != nil {
		return signInResult{}, fmt.Errorf("sign-in state: %w", err)
	}
	oc, p, err := s.oauthConfig(ctx, r)
	if err != nil {
		return signInResult{}, err
	}
	oc.RedirectURL = st.RedirectURL
	tok, err := oc.Exchange(oidc.ClientContext(ctx, s.client), q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return signInResult{}, providerError("code exchange", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return signInResult{}, fmt.Errorf("the identity provider returned no ID token: %w", errs.ErrUnauthenticated)
	}
	idt, err := p.VerifierContext(oidc.ClientContext(ctx, s.client), &oidc.Config{ClientID: s.cfg.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		return signInResult{}, errs.Wrap(errs.ErrUnauthenticated, "the ID token does not verify", err)
	}
	if idt.Nonce != st.Nonce {
		return signInResult{}, fmt.Errorf("ID token nonce does not match the sign-in: %w", errs.ErrUnauthenticated)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return signInResult{}, errs.Wrap(errs.ErrUnauthenticated, "the ID token's claims are not valid", err)
	}
	if err := s.mergeUserInfo(ctx, p, tok, idt.Subject, claims); err != nil {
		return signInResult{}, err
	}
	res, err := s.signIn(ctx, s.cfg.OIDC.Issuer, claims, "oidc")
	res.Next = st.Next
	return res, err
}

// startWebSession ends an OIDC sign-in started from the web UI: a browser
// session acting with the sign-in's token, and the page it came from.
func (s *Service) startWebSession(w http.ResponseWriter, r *http.Request, res signInResult) {
	id, _ := auth.ParseTokenID(res.Token)
	p := &access.Principal{UserID: res.User.ID, UserName: res.User.Name, SiteAdmin: res.User.Admin, TokenID: id,
		Scope: metadata.RoleAdmin, Method: "oidc"}
	if _, err := s.web.StartSessionHTTP(w, r, p, res.Expires); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, res.Next, http.StatusSeeOther)
}

// mergeUserInfo adds the userinfo endpoint's claims (when the provider has
// one) to claims; the ID token's claims win.
func (s *Service) mergeUserInfo(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, subject string, claims map[string]any) error {
	if p.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := p.UserInfo(oidc.ClientContext(ctx, s.client), oauth2.StaticTokenSource(tok))
	if err != nil {
		return providerError("userinfo", err)
	}
	if subject != "" && ui.Subject != subject {
		return fmt.Errorf("userinfo subject differs from the ID token's: %w", errs.ErrUnauthenticated)
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return errs.Wrap(errs.ErrUnauthenticated, "the userinfo claims are not valid", err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// providerError classifies an error talking to the provider: its OAuth
// refusals are the user's (Unauthenticated), the rest an outage.
func providerError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return fmt.Errorf("%s: the identity provider answered %s %s: %w", what, re.ErrorCode, re.ErrorDescription, errs.ErrUnauthenticated)
	}
	return errs.Wrap(errs.ErrUnavailable, what+": the identity provider did not answer", err)
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errs.Category(err) == nil {
		logging.FromContext(r.Context(), s.log).Error("sign-in failed", zap.Error(err))
	} else if errors.Is(err, errs.ErrUnavailable) {
		logging.FromContext(r.Context(), s.log).Warn("sign-in: identity provider unavailable", zap.Error(err))
	}
	s.page(w, r, errs.HTTPStatus(err), pageData{Error: errs.PublicMessage(err)})
}

type pageData struct {
	User, Token, Expires, Host, Error string
	RequestID                         string // of a failed sign-in, as its log lines carry it
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>packyard sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f4f4f4;padding:.2rem .4rem;overflow-wrap:anywhere}pre{padding:.8rem;white-space:pre-wrap}</style></head><body>
{{if .Error}}<h1>Sign-in failed</h1><p>{{.Error}}</p>{{if .RequestID}}<p>Request id: <code id="request-id">{{.RequestID}}</code></p>{{end}}<p><a href="/auth/oidc/login">Try again</a></p>
{{else}}<h1>Signed in as {{.User}}</h1>
<p>Your packyard token, valid until {{.Expires}}. It is shown only this once: copy it now.</p>
<pre id="token">{{.Token}}</pre>
<p>Composer:</p><pre>composer config --global http-basic.{{.Host}} {{.User}} {{.Token}}</pre>
<p>buf:</p><pre>echo {{.Token}} | buf registry login {{.Host}} --token-stdin</pre>
<p>Revoke it with <code>packyard token revoke</code> or by asking an administrator.</p>{{end}}
</body></html>`))

// page renders the result as HTML, or as JSON for clients that ask for it.
func (s *Service) page(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		if d.Error != "" {
			access.WriteError(w, r, nil, statusError{status: status, msg: d.Error})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"user": d.User, "token": d.Token, "expires_at": d.Expires})
		return
	}
	if d.Error != "" {
		d.RequestID = access.RequestID(r.Context())
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

// statusError carries an already-public message with its status's category.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }
func (e statusError) Unwrap() error {
	switch e.status {
	case http.StatusUnauthorized:
		return errs.ErrUnauthenticated
	case http.StatusForbidden:
		return errs.ErrPermissionDenied
	case http.StatusNotFound:
		return errs.ErrNotFound
	case http.StatusBadRequest:
		return errs.ErrInvalidArgument
	case http.StatusConflict:
		return errs.ErrFailedPrecondition
	case http.StatusTooManyRequests:
		return errs.ErrResourceExhausted
	}
	return errs.ErrUnavailable
}
