package identity_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth/identity"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/metadata"
)

func TestParseRules(t *testing.T) {
	rs, err := identity.ParseRules("groups=platform:acme:admin; groups=dev-*:acme:read;groups=team:x:y:other:write;")
	require.NoError(t, err)
	require.Equal(t, identity.Rules{
		{Claim: "groups", Pattern: "platform", Org: "acme", Role: "admin"},
		{Claim: "groups", Pattern: "dev-*", Org: "acme", Role: "read"},
		{Claim: "groups", Pattern: "team:x:y", Org: "other", Role: "write"},
	}, rs)
	require.Equal(t, []string{"acme", "other"}, rs.Orgs())

	for in, want := range map[string]string{
		"groups":                  "want CLAIM=VALUE:ORG:ROLE",
		"groups=platform:acme":    "want CLAIM=VALUE:ORG:ROLE",
		"=platform:acme:admin":    "want CLAIM=VALUE:ORG:ROLE",
		"groups=:acme:admin":      "claim value is empty",
		"groups=[:acme:admin":     "bad pattern",
		"groups=x:Acme Inc:admin": "organization name",
		"groups=x:acme:owner":     `role "owner"`,
	} {
		_, err := identity.ParseRules(in)
		require.ErrorContains(t, err, want, in)
	}
}

func TestRulesRoles(t *testing.T) {
	rs, err := identity.ParseRules("groups=platform:acme:admin;groups=dev-*:acme:read;email=*@corp.example:beta:write;email_verified=true:gamma:read")
	require.NoError(t, err)
	for _, tc := range []struct {
		claims map[string]any
		want   map[string]metadata.Role
	}{
		{map[string]any{"groups": []any{"dev-api", "platform"}}, map[string]metadata.Role{"acme": "admin"}},
		{map[string]any{"groups": []any{"dev-api"}}, map[string]metadata.Role{"acme": "read"}},
		{map[string]any{"groups": "dev-web", "email": "jo@corp.example"}, map[string]metadata.Role{"acme": "read", "beta": "write"}},
		{map[string]any{"email": "jo@evil.example", "email_verified": true}, map[string]metadata.Role{"gamma": "read"}},
		{map[string]any{"groups": []any{"dev/x"}}, map[string]metadata.Role{}},
		{map[string]any{}, map[string]metadata.Role{}},
	} {
		require.Equal(t, tc.want, rs.Roles(tc.claims), tc.claims)
	}
}

func TestUsernameFromClaim(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                "alice",
		"Jane.Doe@Example.com": "jane.doe-example.com",
		"  Bob Smith ":         "bob-smith",
		"_x_":                  "x",
	} {
		got, err := identity.UsernameFromClaim(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", "@@@", "ü"} {
		_, err := identity.UsernameFromClaim(in)
		require.Error(t, err, in)
	}
}

func TestParseCIIssuers(t *testing.T) {
	is, err := identity.ParseCIIssuers([]byte(`[{"issuer": "https://ci.example", "audience": "packyard", "max_ttl": "15m",
		"rules": [{"claims": {"repository": "acme/app", "ref": "refs/heads/main"}, "org": "acme", "scope": "write"}]}]`))
	require.NoError(t, err)
	require.Len(t, is, 1)
	require.Equal(t, 15*time.Minute, is[0].MaxTTL)
	require.True(t, is[0].Rules[0].Match(map[string]any{"repository": "acme/app", "ref": "refs/heads/main", "x": 1.0}))
	require.False(t, is[0].Rules[0].Match(map[string]any{"repository": "acme/app", "ref": "refs/heads/dev"}))
	require.False(t, is[0].Rules[0].Match(map[string]any{"repository": "acme/app"}))

	for in, want := range map[string]string{
		`{}`: "want a JSON list",
		`[{"issuer": "http://ci.example", "audience": "a", "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "read"}]}]`:                     "must use https",
		`[{"issuer": "https://ci.example", "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "read"}]}]`:                                     "audience is required",
		`[{"issuer": "https://ci.example", "audience": "a", "rules": []}]`:                                                                          "at least one rule",
		`[{"issuer": "https://ci.example", "audience": "a", "rules": [{"claims": {}, "org": "acme", "scope": "read"}]}]`:                            "claims are required",
		`[{"issuer": "https://ci.example", "audience": "a", "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "all"}]}]`:                     `role "all"`,
		`[{"issuer": "https://ci.example", "audience": "a", "max_ttl": "soon", "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "read"}]}]`: "max_ttl",
		`[{"issuer": "https://ci.example", "audience": "a", "extra": 1, "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "read"}]}]`:        "unknown field",
	} {
		_, err := identity.ParseCIIssuers([]byte(in))
		require.ErrorContains(t, err, want, in)
	}
	_, err = identity.ParseCIIssuers([]byte(`[{"issuer": "http://127.0.0.1:9999", "audience": "a", "rules": [{"claims": {"r": "x"}, "org": "acme", "scope": "read"}]}]`))
	require.NoError(t, err, "http is allowed on loopback")
}

// Start-up names the variable that is wrong.
func TestConfigFromEnv(t *testing.T) {
	for env, want := range map[string]map[string]string{
		"PACKYARD_OIDC_CLIENT_ID":    {"PACKYARD_OIDC_ISSUER": "https://id.example"},
		"PACKYARD_OIDC_ISSUER":       {"PACKYARD_OIDC_CLIENT_ID": "x"},
		"PACKYARD_OIDC_ROLE_RULES":   {"PACKYARD_OIDC_ISSUER": "https://id.example", "PACKYARD_OIDC_CLIENT_ID": "x", "PACKYARD_OIDC_ROLE_RULES": "groups=a"},
		"PACKYARD_OIDC_SCOPES":       {"PACKYARD_OIDC_ISSUER": "https://id.example", "PACKYARD_OIDC_CLIENT_ID": "x", "PACKYARD_OIDC_SCOPES": "email"},
		"PACKYARD_CI_ISSUERS":        {"PACKYARD_CI_ISSUERS": "nope"},
		"PACKYARD_OIDC_REDIRECT_URL": {"PACKYARD_OIDC_ISSUER": "https://id.example", "PACKYARD_OIDC_CLIENT_ID": "x", "PACKYARD_OIDC_REDIRECT_URL": "/cb"},
	} {
		l := config.NewLoader(config.Map(want))
		identity.ConfigFromEnv(l)
		require.ErrorContains(t, l.Err(), env+":", want)
	}
	l := config.NewLoader(config.Map(map[string]string{"PACKYARD_OIDC_ISSUER": "https://id.example/", "PACKYARD_OIDC_CLIENT_ID": "x",
		"PACKYARD_OIDC_ROLE_RULES": "groups=dev:acme:read"}))
	c := identity.ConfigFromEnv(l)
	require.NoError(t, l.Err())
	require.Equal(t, "https://id.example", c.OIDC.Issuer)
	require.Equal(t, []string{"openid", "email", "profile"}, c.OIDC.Scopes)
	require.Equal(t, "preferred_username", c.OIDC.UsernameClaim)
	require.Equal(t, 7*24*time.Hour, c.OIDC.TokenTTL)
	require.Len(t, c.OIDC.Rules, 1)
}
