package format

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"time"
)

// The documents packyard serves are built once per change with a
// placeholder where the external base URL goes, and the placeholder is
// replaced when they are served: the base URL may depend on the request.
const basePlaceholder = "\x00packyard-base\x00"

// encodedPlaceholder is basePlaceholder as encoding/json writes it inside
// a string. A package author who writes this escape sequence into their own
// composer.json only gets the base URL into their own text.
var encodedPlaceholder = []byte(`\u0000packyard-base\u0000`)

// ExpandBase replaces the base URL placeholder in a built document.
func ExpandBase(doc []byte, base string) []byte {
	if !bytes.Contains(doc, encodedPlaceholder) {
		return doc
	}
	enc, _ := json.Marshal(base)
	return bytes.ReplaceAll(doc, encodedPlaceholder, enc[1:len(enc)-1])
}

const unset = `"__unset"`

// Minify turns full version objects into Composer's "composer/2.0"
// minified list: the first in full, each next one as the keys that changed
// or appeared since the previous one, plus "__unset" for keys that went
// away. Keys with a null value count as absent (PHP isset), so they are
// dropped first. It takes time linear in the size of the versions.
func Minify(versions []Object) []Object {
	out := make([]Object, 0, len(versions))
	var prev Object
	var prevAt map[string]json.RawMessage
	for i, v := range versions {
		v = dropNulls(v)
		at := make(map[string]json.RawMessage, len(v))
		for _, f := range v {
			at[f.Key] = f.Value
		}
		if i == 0 {
			out = append(out, v)
			prev, prevAt = v, at
			continue
		}
		var d Object
		for _, f := range v {
			if old, ok := prevAt[f.Key]; !ok || !bytes.Equal(old, f.Value) {
				d = append(d, f)
			}
		}
		for _, f := range prev {
			if _, ok := at[f.Key]; !ok {
				d = append(d, Field{f.Key, json.RawMessage(unset)})
			}
		}
		if d == nil {
			d = Object{}
		}
		out = append(out, d)
		prev, prevAt = v, at
	}
	return out
}

// Expand is Composer's MetadataMinifier::expand: the inverse of Minify.
func Expand(versions []Object) []Object {
	out := make([]Object, 0, len(versions))
	var cur Object
	for i, v := range versions {
		if i == 0 {
			cur = append(Object(nil), v...)
		} else {
			cur = applyChanges(cur, v)
		}
		out = append(out, append(Object(nil), cur...))
	}
	return out
}

// applyChanges applies one minified version's changes to the previous
// full version: a changed key keeps its place, a new one (or one unset and
// set again) goes last, an "__unset" one goes away.
func applyChanges(cur, changes Object) Object {
	next := append(Object(nil), cur...)
	at := make(map[string]int, len(next))
	for i, f := range next {
		at[f.Key] = i
	}
	gone := map[int]bool{}
	for _, f := range changes {
		i, ok := at[f.Key]
		switch {
		case string(f.Value) == unset:
			if ok {
				gone[i] = true
				delete(at, f.Key)
			}
		case ok:
			next[i].Value = f.Value
		default:
			at[f.Key] = len(next)
			next = append(next, f)
		}
	}
	if len(gone) == 0 {
		return next
	}
	kept := make(Object, 0, len(next)-len(gone))
	for i, f := range next {
		if !gone[i] {
			kept = append(kept, f)
		}
	}
	return kept
}

func dropNulls(o Object) Object {
	for _, f := range o {
		if string(f.Value) == "null" {
			out := make(Object, 0, len(o))
			for _, f := range o {
				if string(f.Value) != "null" {
					out = append(out, f)
				}
			}
			return out
		}
	}
	return o
}

// VersionEntry is one version of a package as stored: its full p2 object
// and the normalized version used to sort and split.
type VersionEntry struct {
	Normalized string
	Entry      Object
}

// BuildP2 returns the stable (name.json) and dev (name~dev.json) p2
// documents of a package: versions newest first, minified.
func BuildP2(name string, versions []VersionEntry) (stable, dev []byte, err error) {
	var s, d []VersionEntry
	for _, v := range versions {
		if ParseStability(v.Normalized) == StabilityDev {
			d = append(d, v)
		} else {
			s = append(s, v)
		}
	}
	if stable, err = p2Doc(name, s); err != nil {
		return nil, nil, err
	}
	if dev, err = p2Doc(name, d); err != nil {
		return nil, nil, err
	}
	return stable, dev, nil
}

func p2Doc(name string, vs []VersionEntry) ([]byte, error) {
	sort.SliceStable(vs, func(i, j int) bool { return CompareNormalized(vs[i].Normalized, vs[j].Normalized) > 0 })
	objs := make([]Object, len(vs))
	for i, v := range vs {
		objs[i] = Served(v.Entry) // versions stored before a field was dropped
	}
	doc := struct {
		Packages map[string][]Object `json:"packages"`
		Minified string              `json:"minified"`
	}{map[string][]Object{name: Minify(objs)}, "composer/2.0"}
	return json.Marshal(doc)
}

// RootDoc is the packages.json of a repository that serves only its own
// packages: it lists their names, so Composer asks for no other.
func RootDoc(org string, names []string) ([]byte, error) {
	if names == nil {
		names = []string{}
	}
	names = slices.Sorted(slices.Values(names))
	return rootDoc(org, &names)
}

// MirrorRootDoc is the packages.json of a repository that mirrors
// upstreams: it lists no package names, so Composer asks it for every name.
func MirrorRootDoc(org string) ([]byte, error) { return rootDoc(org, nil) }

func rootDoc(org string, available *[]string) ([]byte, error) {
	prefix := basePlaceholder + "/composer/" + org
	type advisories struct {
		Metadata bool   `json:"metadata"`
		APIURL   string `json:"api-url"`
	}
	return json.Marshal(struct {
		Packages          struct{}   `json:"packages"`
		MetadataURL       string     `json:"metadata-url"`
		AvailablePackages *[]string  `json:"available-packages,omitempty"`
		NotifyBatch       string     `json:"notify-batch"`
		Search            string     `json:"search"`
		List              string     `json:"list"`
		Advisories        advisories `json:"security-advisories"`
	}{
		MetadataURL:       prefix + "/p2/%package%.json",
		AvailablePackages: available,
		NotifyBatch:       prefix + "/downloads",
		Search:            prefix + "/search.json?q=%query%&type=%type%",
		List:              prefix + "/list.json",
		Advisories:        advisories{APIURL: prefix + "/security-advisories"},
	})
}

// distURL is where a version's archive is downloaded, keyed by reference so
// an old reference stays downloadable after its tag or branch moved.
func distURL(org, name, reference string) string {
	return basePlaceholder + "/composer/" + org + "/dists/" + name + "/" + reference + ".zip"
}

// MirrorURL is where packyard serves an upstream's archive once mirrored:
// key names the archive among the package's, ext is its type ("zip").
func MirrorURL(org, name, key, ext string) string {
	return basePlaceholder + "/composer/" + org + "/mirror/" + name + "/" + key + "." + ext
}

// servedFields are the keys of a version a registry serves: what Composer
// reads of a dependency. Everything else of a package's composer.json is
// dropped: root-only fields Composer ignores in a dependency (repositories,
// config, scripts, minimum-stability, prefer-stable, autoload-dev), and
// fields that would send clients elsewhere (notification-url: packyard's
// own notify-batch in packages.json is where installs are reported).
var servedFields = map[string]bool{
	"name": true, "description": true, "keywords": true, "homepage": true, "readme": true,
	"version": true, "version_normalized": true, "time": true, "type": true,
	"license": true, "authors": true, "support": true, "funding": true,
	"require": true, "require-dev": true, "conflict": true, "replace": true, "provide": true, "suggest": true,
	"autoload": true, "include-path": true, "target-dir": true, "bin": true, "extra": true, "archive": true,
	"abandoned": true, "php-ext": true,
	"dist": true, "source": true, "default-branch": true,
}

// Served returns the fields of a version object a registry serves (see
// servedFields), in their order.
func Served(o Object) Object {
	for _, f := range o {
		if !servedFields[f.Key] {
			out := make(Object, 0, len(o))
			for _, f := range o {
				if servedFields[f.Key] {
					out = append(out, f)
				}
			}
			return out
		}
	}
	return o
}

// Entry builds the p2 object of a version: the fields of its composer.json
// a registry serves, then the repository's fields (its name, versions and
// the dist packyard serves at reference, with its sha1).
func Entry(org string, m Manifest, name, pretty, normalized, reference, sha1 string, t time.Time) Object {
	e := Served(m.Fields).Without("version", "version_normalized", "dist", "source", "default-branch")
	e = e.With("name", MustJSON(name))
	e = e.With("version", MustJSON(pretty))
	e = e.With("version_normalized", MustJSON(normalized))
	e = e.With("dist", MustJSON(map[string]string{"type": "zip", "url": distURL(org, name, reference), "reference": reference, "shasum": sha1}))
	if e.Get("time") == nil && !t.IsZero() {
		e = e.With("time", MustJSON(t.UTC().Format(time.RFC3339)))
	}
	return e
}
