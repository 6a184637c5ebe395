package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

// The device flow's answers are JSON, errors included (RFC 8628 and RFC
// 6749 section 5.2): the buf CLI prints error_description and stops on any
// error but authorization_pending and slow_down.

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// maxProviderAnswer bounds what packyard reads from the provider.
const maxProviderAnswer = 1 << 20

// oauthError is an OAuth error answer; like every error answer of
// packyard's it names its request (request_id, the X-Request-Id header's
// value), which the log lines about it carry too.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Service) oauthFail(w http.ResponseWriter, r *http.Request, e oauthError) {
	if e.status == 0 {
		e.status = http.StatusBadRequest
	}
	if e.status >= 500 {
		logging.FromContext(r.Context(), s.log).Warn("device sign-in failed", zap.String("error", e.Code), zap.String("description", e.Description))
	}
	e.RequestID = access.RequestID(r.Context())
	writeJSON(w, e.status, e)
}

// deviceNotConfigured is the answer without OIDC: a JSON OAuth error, so the
// buf CLI prints the description instead of falling back to a prompt.
func deviceNotConfigured(host string) oauthError {
	return oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type",
		Description: fmt.Sprintf("browser sign-in is not configured on this packyard (no PACKYARD_OIDC_ISSUER); "+
			"create a token (packyard token create) and run: buf registry login %s --token-stdin", host)}
}

func (s *Service) host(r *http.Request) string {
	b := s.base.For(r)
	return strings.TrimPrefix(strings.TrimPrefix(b, "https://"), "http://")
}

// deviceEndpoints returns the provider's token and device endpoints, or an
// OAuth error to send.
func (s *Service) deviceEndpoints(ctx context.Context, r *http.Request) (oauth2.Endpoint, *oidc.Provider, *oauthError) {
	if s.oidc == nil {
		e := deviceNotConfigured(s.host(r))
		return oauth2.Endpoint{}, nil, &e
	}
	p, meta, err := s.oidc.get(ctx)
	if err != nil {
		return oauth2.Endpoint{}, nil, &oauthError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: errs.PublicMessage(err)}
	}
	if meta.DeviceAuthURL == "" {
		e := oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type",
			Description: fmt.Sprintf("the identity provider does not support the device flow; sign in at %s/auth/oidc/login and run: buf registry login %s --token-stdin", s.base.For(r), s.host(r))}
		return oauth2.Endpoint{}, nil, &e
	}
	ep := p.Endpoint()
	ep.DeviceAuthURL = meta.DeviceAuthURL
	return ep, p, nil
}

// deviceRegistration answers the CLI's dynamic client registration with
// packyard's own client id; the provider's secret stays in packyard.
func (s *Service) deviceRegistration(w http.ResponseWriter, r *http.Request) {
	if _, _, oe := s.deviceEndpoints(r.Context(), r); oe != nil {
		s.oauthFail(w, r, *oe)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	writeJSON(w, http.StatusOK, map[string]any{"client_id": s.cfg.OIDC.ClientID, "client_id_issued_at": s.now().Unix()})
}

// postProvider sends a form to the provider with packyard's client
// credentials (HTTP Basic) and returns status and body.
func (s *Service) postProvider(ctx context.Context, endpoint string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.cfg.OIDC.ClientID), url.QueryEscape(s.cfg.OIDC.ClientSecret))
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxProviderAnswer))
	if err != nil {
		return 0, nil, err
	}
	if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct != "application/json" && res.StatusCode < 500 {
		// Some providers answer forms; a non-JSON answer is unusable.
		if !json.Valid(b) {
			return 0, nil, fmt.Errorf("the identity provider answered %d with %q, not JSON", res.StatusCode, ct)
		}
	}
	return res.StatusCode, b, nil
}

func providerOAuthError(status int, b []byte) oauthError {
	var e oauthError
	if json.Unmarshal(b, &e) != nil || e.Code == "" {
		return oauthError{status: http.StatusBadGateway, Code: "server_error", Description: fmt.Sprintf("the identity provider answered %d", status)}
	}
	e.status = http.StatusBadRequest
	if status >= 500 {
		e.status = http.StatusBadGateway
	}
	return e
}

// deviceRequest is the common start of the device endpoints the CLI calls:
// the provider's endpoints (or the "not configured" answer) and the form
// body. It has answered the client when ok is false.
func (s *Service) deviceRequest(w http.ResponseWriter, r *http.Request) (ep oauth2.Endpoint, p *oidc.Provider, ok bool) {
	ep, p, oe := s.deviceEndpoints(r.Context(), r)
	if oe != nil {
		s.oauthFail(w, r, *oe)
		return ep, nil, false
	}
	if err := r.ParseForm(); err != nil {
		s.oauthFail(w, r, oauthError{Code: "invalid_request", Description: "the body is not a form"})
		return ep, nil, false
	}
	return ep, p, true
}

// deviceAuthorization forwards the CLI's request to the provider and
// normalises the answer (verification_url → verification_uri, and a
// verification_uri_complete when the provider gives none).
func (s *Service) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ep, _, ok := s.deviceRequest(w, r)
	if !ok {
		return
	}
	if cid := r.PostForm.Get("client_id"); cid != s.cfg.OIDC.ClientID {
		s.oauthFail(w, r, oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "unknown client_id: register first at /oauth2/device/registration"})
		return
	}
	status, b, err := s.postProvider(ctx, ep.DeviceAuthURL, url.Values{"client_id": {s.cfg.OIDC.ClientID}, "scope": {strings.Join(s.cfg.OIDC.Scopes, " ")}})
	if err != nil {
		logging.FromContext(ctx, s.log).Warn("the identity provider did not answer", zap.Error(err))
		s.oauthFail(w, r, oauthError{status: http.StatusBadGateway, Code: "temporarily_unavailable", Description: "the identity provider did not answer"})
		return
	}
	if status != http.StatusOK {
		s.oauthFail(w, r, providerOAuthError(status, b))
		return
	}
	var a struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURL         string `json:"verification_url"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               int64  `json:"expires_in"`
		Interval                int64  `json:"interval"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.DeviceCode == "" || a.UserCode == "" {
		s.oauthFail(w, r, oauthError{status: http.StatusBadGateway, Code: "server_error", Description: "the identity provider's device authorization answer is incomplete"})
		return
	}
	if a.VerificationURI == "" {
		a.VerificationURI = a.VerificationURL
	}
	if a.VerificationURIComplete == "" && a.VerificationURI != "" {
		sep := "?"
		if strings.Contains(a.VerificationURI, "?") {
			sep = "&"
		}
		a.VerificationURIComplete = a.VerificationURI + sep + "user_code=" + url.QueryEscape(a.UserCode)
	}
	for _, u := range []string{a.VerificationURI, a.VerificationURIComplete} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
			s.oauthFail(w, r, oauthError{status: http.StatusBadGateway, Code: "server_error", Description: "the identity provider's verification URI is not http(s)"})
			return
		}
	}
	if a.Interval <= 0 {
		a.Interval = 5
	}
	writeJSON(w, http.StatusOK, map[string]any{"device_code": a.DeviceCode, "user_code": a.UserCode,
		"verification_uri": a.VerificationURI, "verification_uri_complete": a.VerificationURIComplete,
		"expires_in": a.ExpiresIn, "interval": a.Interval})
}

// deviceToken forwards a poll to the provider; pending and slow_down pass
// through; on success the user is signed in and gets packyard's own token.
func (s *Service) deviceToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ep, p, ok := s.deviceRequest(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != deviceGrant {
		s.oauthFail(w, r, oauthError{Code: "unsupported_grant_type", Description: "only " + deviceGrant + " is supported here"})
		return
	}
	if f.Get("client_id") != s.cfg.OIDC.ClientID || f.Get("device_code") == "" {
		s.oauthFail(w, r, oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "unknown client_id or missing device_code"})
		return
	}
	status, b, err := s.postProvider(ctx, ep.TokenURL, url.Values{"grant_type": {deviceGrant}, "device_code": {f.Get("device_code")},
		"client_id": {s.cfg.OIDC.ClientID}})
	if err != nil {
		logging.FromContext(ctx, s.log).Warn("the identity provider did not answer", zap.Error(err))
		s.oauthFail(w, r, oauthError{status: http.StatusBadGateway, Code: "temporarily_unavailable", Description: "the identity provider did not answer"})
		return
	}
	if status != http.StatusOK {
		e := providerOAuthError(status, b)
		if e.Code != "authorization_pending" && e.Code != "slow_down" {
			_ = s.failed(ctx, r, "device", fmt.Errorf("device flow: %s: %w", e.Code, errs.ErrUnauthenticated))
		}
		s.oauthFail(w, r, e)
		return
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		s.oauthFail(w, r, oauthError{status: http.StatusBadGateway, Code: "server_error", Description: "the identity provider's token answer has no access token"})
		return
	}
	claims := map[string]any{}
	subject := ""
	if t.IDToken != "" {
		idt, err := p.VerifierContext(oidc.ClientContext(ctx, s.client), &oidc.Config{ClientID: s.cfg.OIDC.ClientID}).Verify(ctx, t.IDToken)
		if err != nil {
			_ = s.failed(ctx, r, "device", errs.Wrap(errs.ErrUnauthenticated, "the ID token does not verify", err))
			s.oauthFail(w, r, oauthError{Code: "access_denied", Description: "the identity provider's ID token does not verify"})
			return
		}
		_ = idt.Claims(&claims)
		subject = idt.Subject
	}
	tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType}
	if t.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	if err := s.mergeUserInfo(ctx, p, tok, subject, claims); err != nil {
		_ = s.failed(ctx, r, "device", err)
		s.oauthFail(w, r, oauthError{status: errs.HTTPStatus(err), Code: "access_denied", Description: errs.PublicMessage(err)})
		return
	}
	res, err := s.signIn(ctx, s.cfg.OIDC.Issuer, claims, "device")
	if err != nil {
		if errs.Category(err) == nil {
			logging.FromContext(ctx, s.log).Error("device sign-in", zap.Error(err))
		}
		_ = s.failed(ctx, r, "device", err)
		s.oauthFail(w, r, oauthError{status: http.StatusBadRequest, Code: "access_denied", Description: errs.PublicMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": res.Token, "token_type": "Bearer",
		"expires_in": int64(time.Until(res.Expires).Seconds())})
}
