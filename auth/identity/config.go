package identity

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/metadata"
)

// Config is the identity configuration: OIDC sign-in (web and device flow)
// and the CI token exchange.
type Config struct {
	OIDC OIDCConfig
	CI   []CIIssuer
}

// OIDCConfig configures sign-in through an OpenID Connect provider.
type OIDCConfig struct {
	Issuer        string        // PACKYARD_OIDC_ISSUER; "" disables OIDC sign-in
	ClientID      string        // PACKYARD_OIDC_CLIENT_ID
	ClientSecret  string        // PACKYARD_OIDC_CLIENT_SECRET(_FILE)
	RedirectURL   string        // PACKYARD_OIDC_REDIRECT_URL; "" = base URL + /auth/oidc/callback
	Scopes        []string      // PACKYARD_OIDC_SCOPES
	UsernameClaim string        // PACKYARD_OIDC_USERNAME_CLAIM
	LinkByEmail   bool          // PACKYARD_OIDC_LINK_BY_EMAIL: a verified e-mail links a first sign-in to its user
	Rules         Rules         // PACKYARD_OIDC_ROLE_RULES
	TokenTTL      time.Duration // PACKYARD_OIDC_TOKEN_TTL
}

// Enabled reports whether OIDC sign-in is configured.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" }

// Rule grants Role in Org to users whose claim Claim has a value matching
// Pattern (a glob: * matches any run of characters but "/").
type Rule struct {
	Claim   string
	Pattern string
	Org     string
	Role    metadata.Role
}

// Rules are claim → role rules; a user gets, in each organization the rules
// name, the highest role of the rules that match.
type Rules []Rule

// ParseRules reads rules written as CLAIM=VALUE:ORG:ROLE separated by ";",
// for example "groups=platform:acme:admin;groups=dev-*:acme:read". VALUE
// may itself contain ":" (ORG and ROLE are the last two fields).
func ParseRules(s string) (Rules, error) {
	var out Rules
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		claim, rest, ok := strings.Cut(part, "=")
		fields := strings.Split(rest, ":")
		if !ok || strings.TrimSpace(claim) == "" || len(fields) < 3 {
			return nil, fmt.Errorf("rule %d %q: want CLAIM=VALUE:ORG:ROLE, e.g. groups=platform:acme:admin", i+1, part)
		}
		r := Rule{Claim: strings.TrimSpace(claim), Pattern: strings.Join(fields[:len(fields)-2], ":"),
			Org: fields[len(fields)-2], Role: metadata.Role(fields[len(fields)-1])}
		if r.Pattern == "" {
			return nil, fmt.Errorf("rule %d %q: the claim value is empty", i+1, part)
		}
		if _, err := path.Match(r.Pattern, ""); err != nil {
			return nil, fmt.Errorf("rule %d %q: bad pattern %q: %v", i+1, part, r.Pattern, err)
		}
		if err := metadata.ValidateName("organization", r.Org); err != nil {
			return nil, fmt.Errorf("rule %d %q: %v", i+1, part, err)
		}
		if _, err := metadata.ParseRole(string(r.Role)); err != nil {
			return nil, fmt.Errorf("rule %d %q: %v", i+1, part, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Orgs are the organizations the rules manage, sorted.
func (rs Rules) Orgs() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Org] {
			seen[r.Org] = true
			out = append(out, r.Org)
		}
	}
	sort.Strings(out)
	return out
}

// Roles returns the highest role per organization of the rules that match
// claims.
func (rs Rules) Roles(claims map[string]any) map[string]metadata.Role {
	out := map[string]metadata.Role{}
	for _, r := range rs {
		if !MatchClaim(claims[r.Claim], r.Pattern) {
			continue
		}
		if have := out[r.Org]; r.Role.Rank() > have.Rank() {
			out[r.Org] = r.Role
		}
	}
	return out
}

// MatchClaim reports whether a claim value (a string, a number, a boolean
// or a list of them) matches a glob pattern.
func MatchClaim(v any, pattern string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if MatchClaim(e, pattern) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range x {
			if MatchClaim(e, pattern) {
				return true
			}
		}
		return false
	case string:
		ok, _ := path.Match(pattern, x)
		return ok
	case bool, float64, json.Number:
		ok, _ := path.Match(pattern, fmt.Sprint(x))
		return ok
	}
	return false
}

// CIIssuer is a CI provider whose OIDC tokens (JWTs) may be exchanged for
// short-lived packyard tokens.
type CIIssuer struct {
	Issuer   string        `json:"issuer"`   // e.g. the GitHub Actions or GitLab token issuer URL
	Audience string        `json:"audience"` // the aud the JWT must carry (set in the CI job)
	MaxTTL   time.Duration `json:"-"`        // cap on the packyard token's lifetime (default 1h; never beyond the JWT's exp)
	Rules    []CIRule      `json:"rules"`
}

// CIRule grants Scope in Org to JWTs whose claims all match (globs).
type CIRule struct {
	Claims map[string]string `json:"claims"` // e.g. {"repository": "acme/app", "ref": "refs/heads/main"}
	Org    string            `json:"org"`
	Scope  metadata.Role     `json:"scope"`
}

// Match reports whether every claim of the rule matches.
func (r CIRule) Match(claims map[string]any) bool {
	for k, pattern := range r.Claims {
		if !MatchClaim(claims[k], pattern) {
			return false
		}
	}
	return len(r.Claims) > 0
}

type ciIssuerJSON struct {
	CIIssuer
	MaxTTL string `json:"max_ttl"`
}

// ParseCIIssuers reads the JSON list of CI issuers.
func ParseCIIssuers(b []byte) ([]CIIssuer, error) {
	var raw []ciIssuerJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`want a JSON list like [{"issuer": "https://…", "audience": "packyard", "max_ttl": "1h", "rules": [{"claims": {"repository": "acme/app"}, "org": "acme", "scope": "write"}]}]: %v`, err)
	}
	seen := map[string]bool{}
	out := make([]CIIssuer, 0, len(raw))
	for i, r := range raw {
		is := r.CIIssuer
		where := fmt.Sprintf("issuer %d (%s)", i+1, is.Issuer)
		if err := checkIssuerURL(is.Issuer); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if seen[is.Issuer] {
			return nil, fmt.Errorf("%s: listed twice", where)
		}
		seen[is.Issuer] = true
		if is.Audience == "" {
			return nil, fmt.Errorf("%s: audience is required (the aud your CI jobs request, e.g. packyard)", where)
		}
		is.MaxTTL = time.Hour
		if r.MaxTTL != "" {
			d, err := config.ParseDuration(r.MaxTTL)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%s: max_ttl %q is not a positive duration", where, r.MaxTTL)
			}
			is.MaxTTL = d
		}
		if len(is.Rules) == 0 {
			return nil, fmt.Errorf("%s: at least one rule is required", where)
		}
		for j, rule := range is.Rules {
			rw := fmt.Sprintf("%s rule %d", where, j+1)
			if len(rule.Claims) == 0 {
				return nil, fmt.Errorf("%s: claims are required (a rule without claims would accept every job of the issuer)", rw)
			}
			for k, p := range rule.Claims {
				if k == "" || p == "" {
					return nil, fmt.Errorf("%s: empty claim name or value", rw)
				}
				if _, err := path.Match(p, ""); err != nil {
					return nil, fmt.Errorf("%s: bad pattern %q: %v", rw, p, err)
				}
			}
			if err := metadata.ValidateName("organization", rule.Org); err != nil {
				return nil, fmt.Errorf("%s: %v", rw, err)
			}
			if _, err := metadata.ParseRole(string(rule.Scope)); err != nil {
				return nil, fmt.Errorf("%s: %v", rw, err)
			}
		}
		out = append(out, is)
	}
	return out, nil
}

// checkIssuerURL accepts https URLs, and http ones on a loopback address
// (for tests and local providers).
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an absolute URL", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("issuer %q must use https (http only on a loopback address)", s)
}

// ConfigFromEnv reads PACKYARD_OIDC_* and PACKYARD_CI_ISSUERS(_FILE).
func ConfigFromEnv(l *config.Loader) Config {
	var c Config
	o := &c.OIDC
	o.Issuer = strings.TrimRight(l.String("PACKYARD_OIDC_ISSUER", ""), "/")
	o.ClientID = l.String("PACKYARD_OIDC_CLIENT_ID", "")
	o.ClientSecret = l.Secret("PACKYARD_OIDC_CLIENT_SECRET")
	o.RedirectURL = l.String("PACKYARD_OIDC_REDIRECT_URL", "")
	o.Scopes = strings.Fields(strings.ReplaceAll(l.String("PACKYARD_OIDC_SCOPES", "openid email profile"), ",", " "))
	o.UsernameClaim = l.String("PACKYARD_OIDC_USERNAME_CLAIM", "preferred_username")
	o.LinkByEmail = l.Bool("PACKYARD_OIDC_LINK_BY_EMAIL", false)
	o.TokenTTL = l.Duration("PACKYARD_OIDC_TOKEN_TTL", 7*24*time.Hour)
	rules := l.String("PACKYARD_OIDC_ROLE_RULES", "")
	if o.Issuer != "" {
		if err := checkIssuerURL(o.Issuer); err != nil {
			l.Fail("PACKYARD_OIDC_ISSUER", "%v", err)
		}
		if o.ClientID == "" {
			l.Fail("PACKYARD_OIDC_CLIENT_ID", "is required with PACKYARD_OIDC_ISSUER")
		}
		if !contains(o.Scopes, "openid") {
			l.Fail("PACKYARD_OIDC_SCOPES", "must include openid")
		}
		if o.RedirectURL != "" {
			if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				l.Fail("PACKYARD_OIDC_REDIRECT_URL", "must be an absolute http(s) URL ending in /auth/oidc/callback")
			}
		}
		if o.TokenTTL <= 0 {
			l.Fail("PACKYARD_OIDC_TOKEN_TTL", "must be positive")
		}
	} else if o.ClientID != "" || o.ClientSecret != "" || rules != "" {
		l.Fail("PACKYARD_OIDC_ISSUER", "is required when PACKYARD_OIDC_CLIENT_ID, _CLIENT_SECRET or _ROLE_RULES is set")
	}
	if rules != "" {
		rs, err := ParseRules(rules)
		if err != nil {
			l.Fail("PACKYARD_OIDC_ROLE_RULES", "%v", err)
		}
		o.Rules = rs
	}
	ci := l.String("PACKYARD_CI_ISSUERS", "")
	if file := l.String("PACKYARD_CI_ISSUERS_FILE", ""); file != "" {
		if ci != "" {
			l.Fail("PACKYARD_CI_ISSUERS", "set either PACKYARD_CI_ISSUERS or PACKYARD_CI_ISSUERS_FILE, not both")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			l.Fail("PACKYARD_CI_ISSUERS_FILE", "cannot read: %v", err)
		}
		ci = string(b)
	}
	if strings.TrimSpace(ci) != "" {
		is, err := ParseCIIssuers([]byte(ci))
		if err != nil {
			l.Fail("PACKYARD_CI_ISSUERS", "%v", err)
		}
		c.CI = is
	}
	return c
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
