package format

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func obj(t testing.TB, s string) Object {
	t.Helper()
	o, err := ParseObject([]byte(s))
	require.NoError(t, err)
	return o
}

func TestMinifyExpand(t *testing.T) {
	versions := []Object{
		obj(t, `{"name":"acme/foo","version":"1.1.0","require":{"php":">=8"},"autoload":{"psr-4":{"Acme\\":"src/"}},"extra":{"branch-alias":{"dev-main":"1.x-dev"}}}`),
		obj(t, `{"name":"acme/foo","version":"1.0.0","autoload":{"psr-4":{"Acme\\":"src/"}}}`),
		obj(t, `{"name":"acme/foo","version":"0.9.0","require":{"php":">=7"},"description":null}`),
	}
	min := Minify(versions)
	require.Len(t, min, 3)
	b, err := json.Marshal(min)
	require.NoError(t, err)
	require.JSONEq(t, `[
	 {"name":"acme/foo","version":"1.1.0","require":{"php":">=8"},"autoload":{"psr-4":{"Acme\\":"src/"}},"extra":{"branch-alias":{"dev-main":"1.x-dev"}}},
	 {"version":"1.0.0","require":"__unset","extra":"__unset"},
	 {"version":"0.9.0","require":{"php":">=7"},"autoload":"__unset"}
	]`, string(b))

	// Expanding gives back each version in full; nulls count as absent.
	exp := Expand(min)
	require.Len(t, exp, 3)
	require.JSONEq(t, mustString(t, versions[0]), mustString(t, exp[0]))
	require.JSONEq(t, mustString(t, versions[1]), mustString(t, exp[1]))
	require.JSONEq(t, `{"name":"acme/foo","version":"0.9.0","require":{"php":">=7"}}`, mustString(t, exp[2]))
}

func mustString(t testing.TB, o Object) string {
	b, err := json.Marshal(o)
	require.NoError(t, err)
	return string(b)
}

func TestBuildP2(t *testing.T) {
	e := func(v, n string) VersionEntry {
		return VersionEntry{Normalized: n, Entry: obj(t, `{"name":"acme/foo","version":"`+v+`","version_normalized":"`+n+`"}`)}
	}
	stable, dev, err := BuildP2("acme/foo", []VersionEntry{
		e("1.0.0", "1.0.0.0"), e("dev-main", "dev-main"), e("1.2.0-beta1", "1.2.0.0-beta1"), e("1.x-dev", "1.9999999.9999999.9999999-dev"), e("1.1.0", "1.1.0.0"),
	})
	require.NoError(t, err)
	var doc struct {
		Packages map[string][]Object `json:"packages"`
		Minified string              `json:"minified"`
	}
	require.NoError(t, json.Unmarshal(stable, &doc))
	require.Equal(t, "composer/2.0", doc.Minified)
	var got []string
	for _, v := range Expand(doc.Packages["acme/foo"]) {
		var s string
		require.NoError(t, json.Unmarshal(v.Get("version"), &s))
		got = append(got, s)
	}
	require.Equal(t, []string{"1.2.0-beta1", "1.1.0", "1.0.0"}, got)

	require.NoError(t, json.Unmarshal(dev, &doc))
	got = nil
	for _, v := range Expand(doc.Packages["acme/foo"]) {
		var s string
		require.NoError(t, json.Unmarshal(v.Get("version"), &s))
		got = append(got, s)
	}
	require.Equal(t, []string{"1.x-dev", "dev-main"}, got)
}

func TestExpandBase(t *testing.T) {
	doc, err := RootDoc("acme", []string{"acme/b", "acme/a"})
	require.NoError(t, err)
	out := ExpandBase(doc, "https://reg.example/x")
	var root map[string]any
	require.NoError(t, json.Unmarshal(out, &root))
	require.Equal(t, "https://reg.example/x/composer/acme/p2/%package%.json", root["metadata-url"])
	require.Equal(t, "https://reg.example/x/composer/acme/search.json?q=%query%&type=%type%", root["search"])
	require.Equal(t, []any{"acme/a", "acme/b"}, root["available-packages"])
	require.NotContains(t, string(out), `\u0000`)
}

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte(`{"name":"Acme/Foo","version":"1.0.0","description":"d","z":1,"a":2}`), true)
	require.NoError(t, err)
	require.Equal(t, "acme/foo", m.Name)
	require.Equal(t, "1.0.0", m.Version)
	require.Equal(t, "d", m.Description())
	require.Equal(t, `{"name":"Acme/Foo","version":"1.0.0","description":"d","z":1,"a":2}`, mustString(t, m.Fields), "order kept")

	for in, msg := range map[string]string{
		``:                                 "invalid JSON",
		`[]`:                               "not a JSON object",
		`{"name":1}`:                       `"name" must be a string`,
		`{}`:                               `no "name"`,
		`{"name":"bad name"}`:              "is invalid",
		`{"name":"a/b","require":[1]}`:     `"require" must be an object`,
		`{"name":"a/b","require":{"x":1}}`: `"require" must be an object`,
		`{"name":"a/b","autoload":"x"}`:    `"autoload" must be an object`,
		`{"name":"a/b","version":2}`:       `"version" must be a string`,
		`{"name":"a/b"} trailing`:          "data after",
		`{"name":"a/b","extra":{"branch-alias":"x"}}`: "branch-alias",
	} {
		_, err := ParseManifest([]byte(in), true)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, in)
		require.ErrorContains(t, err, msg, in)
	}
	_, err = ParseManifest([]byte(`{"autoload":[]}`), false)
	require.NoError(t, err)
}

func FuzzMinifyExpand(f *testing.F) {
	f.Add(`{"a":1,"b":{"c":2}}`, `{"a":1}`, `{"b":null,"d":"__x"}`)
	f.Add(`{}`, `{"a":[1,2]}`, `{"a":[1,2]}`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var vs []Object
		for _, s := range []string{a, b, c} {
			o, err := ParseObject([]byte(s))
			if err != nil {
				return
			}
			for _, fl := range o {
				if string(fl.Value) == unset {
					return // a literal "__unset" value cannot round-trip in Composer either
				}
			}
			vs = append(vs, dropNulls(o))
		}
		exp := Expand(Minify(vs))
		require.Len(t, exp, len(vs))
		for i := range vs {
			require.ElementsMatch(t, vs[i], exp[i])
		}
	})
}

func TestEntryServesOnlyPackageFields(t *testing.T) {
	m, err := ParseManifest([]byte(`{"name":"acme/x","notification-url":"http://127.0.0.1:9/n","repositories":[{"type":"vcs","url":"http://127.0.0.1:9"}],`+
		`"config":{},"scripts":{},"minimum-stability":"dev","prefer-stable":true,"autoload-dev":{},"_comment":"x",`+
		`"description":"d","require":{"php":"^8"},"extra":{"a":1},"license":"MIT"}`), true)
	require.NoError(t, err)
	e := Entry("acme", m, "acme/x", "1.0.0", "1.0.0.0", "abc", "abc", time.Time{})
	var keys []string
	for _, f := range e {
		keys = append(keys, f.Key)
	}
	require.Equal(t, []string{"name", "description", "require", "extra", "license", "version", "version_normalized", "dist"}, keys)

	// Versions stored before a field was dropped are served without it.
	stable, _, err := BuildP2("acme/x", []VersionEntry{{Normalized: "1.0.0.0", Entry: m.Fields}})
	require.NoError(t, err)
	require.NotContains(t, string(stable), "notification-url")
	require.NotContains(t, string(stable), "repositories")
}
