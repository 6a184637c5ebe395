package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
)

// minExchangeTTL is the shortest token worth minting: a JWT about to expire
// is refused.
const minExchangeTTL = 10 * time.Second

type ciVerifier struct {
	cfg      CIIssuer
	provider *lazyProvider
}

// ExchangeResult is the answer of POST /api/v1/token/exchange.
type ExchangeResult struct {
	Token     string    `json:"token"`
	TokenID   string    `json:"token_id"`
	Org       string    `json:"org"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

// unverifiedIssuer reads the iss claim of a JWT without trusting it, only
// to pick which configured issuer verifies it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errs.Invalidf("token is not a JWT")
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		return "", errs.Wrap(errs.ErrInvalidArgument, "token is not a JWT", err)
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Iss == "" {
		return "", errs.Invalidf("JWT has no iss claim")
	}
	return c.Iss, nil
}

// Exchange verifies a CI provider's JWT (signature against the issuer's
// JWKS, audience, expiry), picks the first rule of its issuer that matches
// its claims (and org, when given), and mints a token for that
// organization's bot user with the rule's scope, expiring no later than the
// JWT.
func (s *Service) Exchange(ctx context.Context, raw, org string) (ExchangeResult, error) {
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return ExchangeResult{}, errs.Wrap(errs.ErrUnauthenticated, errs.PublicMessage(err), err)
	}
	v, ok := s.ci[strings.TrimRight(iss, "/")]
	if !ok {
		v, ok = s.ci[iss]
	}
	if !ok {
		return ExchangeResult{}, fmt.Errorf("issuer %q is not trusted for token exchange (PACKYARD_CI_ISSUERS): %w", iss, errs.ErrUnauthenticated)
	}
	p, _, err := v.provider.get(ctx)
	if err != nil {
		return ExchangeResult{}, err
	}
	idt, err := p.VerifierContext(oidc.ClientContext(ctx, s.client), &oidc.Config{ClientID: v.cfg.Audience, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return ExchangeResult{}, errs.Wrap(errs.ErrUnauthenticated, "JWT does not verify", err)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return ExchangeResult{}, errs.Wrap(errs.ErrUnauthenticated, "JWT claims are not valid", err)
	}
	var rule *CIRule
	for i := range v.cfg.Rules {
		r := &v.cfg.Rules[i]
		if (org == "" || r.Org == org) && r.Match(claims) {
			rule = r
			break
		}
	}
	if rule == nil {
		return ExchangeResult{}, errs.PermissionDeniedf("no rule of issuer %s accepts this job (subject %q)", v.cfg.Issuer, idt.Subject)
	}
	ttl := min(v.cfg.MaxTTL, idt.Expiry.Sub(s.now()))
	// Whole seconds, rounded down: the token never outlives the JWT.
	ttl = ttl.Truncate(time.Second)
	if ttl < minExchangeTTL {
		return ExchangeResult{}, fmt.Errorf("JWT expires too soon (in %s): %w", ttl, errs.ErrUnauthenticated)
	}
	actor := audit.Actor{Method: "ci", User: idt.Subject}
	ctx = audit.WithActor(ctx, actor)
	name := "ci " + idt.Subject
	if len(name) > 200 {
		name = name[:200]
	}
	text, tok, err := s.admin.CreateToken(ctx, auth.CreateTokenRequest{Org: rule.Org, Scope: rule.Scope, Name: name, Expires: ttl})
	if err != nil {
		return ExchangeResult{}, err
	}
	details := map[string]string{"via": "ci", "issuer": v.cfg.Issuer, "subject": idt.Subject, "scope": string(rule.Scope)}
	for k := range rule.Claims {
		if c, ok := claims[k]; ok {
			details["claim."+k] = fmt.Sprint(c)
		}
	}
	actor.TokenID = tok.ID
	if err := s.audit.Record(audit.WithActor(ctx, actor), audit.Event{Action: audit.ActionSignIn, Org: rule.Org, Resource: "token/" + tok.ID,
		Details: details}); err != nil {
		return ExchangeResult{}, err
	}
	return ExchangeResult{Token: text, TokenID: tok.ID, Org: rule.Org, Scope: string(rule.Scope), ExpiresAt: tok.ExpiresAt}, nil
}

// exchange serves POST /api/v1/token/exchange. The JWT comes in the body
// (JSON {"token": "…", "org": "…"} or a form with the same fields), never
// in Authorization, which is for packyard tokens.
func (s *Service) exchange(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(s.ci) == 0 {
		access.WriteError(w, r, nil, errs.PreconditionFailedf("token exchange is not configured on this packyard (PACKYARD_CI_ISSUERS)"))
		return
	}
	var in struct {
		Token string `json:"token"`
		Org   string `json:"org"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	if ct == "application/json" {
		if err := json.NewDecoder(body).Decode(&in); err != nil {
			access.WriteError(w, r, nil, errs.Invalidf("body: want JSON {\"token\": \"<the CI job's OIDC JWT>\"}"))
			return
		}
	} else {
		b, err := io.ReadAll(body)
		if err != nil {
			access.WriteError(w, r, nil, errs.Invalidf("body too large"))
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			access.WriteError(w, r, nil, errs.Invalidf("body: want a form token=<the CI job's OIDC JWT>"))
			return
		}
		in.Token, in.Org = r.PostForm.Get("token"), r.PostForm.Get("org")
	}
	in.Token = strings.TrimSpace(in.Token)
	if in.Token == "" {
		access.WriteError(w, r, nil, errs.Invalidf("token is required: the CI job's OIDC JWT"))
		return
	}
	res, err := s.Exchange(ctx, in.Token, in.Org)
	if err != nil {
		if errors.Is(err, errs.ErrUnauthenticated) || errors.Is(err, errs.ErrPermissionDenied) {
			err = s.failed(ctx, r, "ci", err)
		}
		access.WriteError(w, r, nil, err) // logs what the client is not told
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(res)
}

func decodeSegment(seg string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
}
