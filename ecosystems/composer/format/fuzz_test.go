package format

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

// Any bytes parse to an ordered object or an error: an accepted document is
// valid JSON, each key appears once with a valid compact value, and the keys
// are those encoding/json sees.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{"name":"acme/lib","require":{"php":">=8.1"}}`, `{"a":1,"a":2}`, `{}`, `[]`, `{"a":}`, `{"a":1} x`,
		`{"a":{"b":[1,2,{"c":null}]}}`, "{\"\\u0000\":1}", `{"x":1e400}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseObject(b)
		if err != nil {
			return
		}
		require.True(t, json.Valid(b), "accepted invalid JSON %q", b)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &m))
		require.Len(t, o, len(m), "keys of %q", b)
		for _, fl := range o {
			_, ok := m[fl.Key]
			require.True(t, ok, "key %q not in the document", fl.Key)
			require.True(t, json.Valid(fl.Value), "value of %q", fl.Key)
		}
	})
}

// composer.json: every refusal is an InvalidArgument (a message for the
// user, no Go type names); an accepted manifest has a valid lower-case name,
// or none when none is required.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		`{"name":"acme/lib","description":"x","require":{"php":">=8.1"},"autoload":{"psr-4":{"Acme\\":"src/"}}}`,
		`{"name":"Acme/Lib","version":"1.0.0","extra":{"branch-alias":{"dev-main":"1.x-dev"}}}`,
		`{"name":"acme"}`, `{"name":1}`, `{"require":[]}`, `{"require":{"a/b":1}}`, `{"autoload":[]}`, `{"extra":{"branch-alias":[]}}`,
		`{"name":"a/b","time":5}`, `[]`, `{`, "",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, requireName bool) {
		m, err := ParseManifest(b, requireName)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			require.NotContains(t, err.Error(), "Go value", "a Go type name reaches the user")
			return
		}
		if requireName || m.Name != "" {
			require.NoError(t, ValidatePackageName(m.Name))
			require.Equal(t, strings.ToLower(m.Name), m.Name)
		}
		_ = m.Description()
	})
}

// Version constraints (of requirements and advisories): any string is
// parsed without a panic, a refusal is an InvalidArgument, an accepted
// constraint matches any normalized version without a panic, and a
// version Normalize accepts is a constraint that matches itself.
func FuzzConstraint(f *testing.F) {
	for _, s := range []string{">=1.0,<2.0", "^1.2 || ~2.0", "1.0.*", "*", "dev-main", "dev-main#abc123", ">=1.0@beta", "@dev",
		"1.0 - 2.0", "1.0.0 as 2.0", "| |", ",,", "<>1", "v1.x", "", "~>1.0", "^0.0.3", "1.0.0-rc1 - 2", "  >= 1 , < 2 ", "99999999999999999999.x"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, s, version string) {
		c, err := ParseConstraint(s)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
		} else {
			for _, v := range []string{"1.2.3.0", "0.0.0.0-dev", "dev-main", "9999999-dev", version} {
				_ = c.Matches(v)
			}
		}
		n, err := Normalize(s)
		if err != nil || strings.ContainsAny(s, "|, ") || strings.HasPrefix(n, "dev-") {
			return
		}
		c, err = ParseConstraint(s)
		require.NoError(t, err, "version %q is not a constraint", s)
		require.True(t, c.Matches(n), "%q does not match its own version %s", s, n)
	})
}

// A git ref's composer.json: every refusal is an InvalidArgument; an
// accepted one has no name read, and serves only string constraints.
func FuzzParseRefManifest(f *testing.F) {
	for _, s := range []string{`{"name":"Old_Style","version":1.5,"require":{"a/b":5,"c/d":"^1.0","0":"1"},"description":5}`,
		`{}`, `[]`, `"x"`, `{"require":["x"],"autoload":"src"}`, `{"time":7}`, `{"require":{"php":">=8.1 <>"}}`, `{"version":true}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseRefManifest(b)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		require.Empty(t, m.Name)
		for _, k := range linkTypes {
			if raw := m.Fields.Get(k); raw != nil {
				var links map[string]string
				require.NoError(t, json.Unmarshal(raw, &links), "%s: %s", k, raw)
			}
		}
	})
}
