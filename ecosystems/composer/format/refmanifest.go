package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/packyard/packyard/pkg/errs"
)

// ErrNoManifest marks a ref whose composer.json Composer reads as none:
// an empty file, an empty object or array, or a value that is not an
// object.
var ErrNoManifest = errs.Invalidf("no composer.json")

// linkTypes are the composer.json keys whose constraints Composer parses
// when it loads a version.
var linkTypes = []string{"require", "require-dev", "conflict", "replace", "provide"}

// ParseRefManifest reads the composer.json of a git ref as Composer's VCS
// repository loads it (VcsDriver::getComposerInformation, then
// ArrayLoader): the ref's own "name" is not read (every ref is served under
// the default branch's name), fields of another type than expected are
// kept and left to the client's loader, which ignores them, and the ref is
// refused only where Composer skips it: invalid JSON, nothing to read
// (ErrNoManifest), a "version" that is neither a string nor a number, a
// link constraint Composer cannot parse, or an "autoload" or "time" of a
// type Composer's loader fails on.
func ParseRefManifest(b []byte) (Manifest, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || bytes.Equal(t, []byte("[]")) || (t[0] != '{' && t[0] != '[' && json.Valid(t)) {
		return Manifest{}, ErrNoManifest
	}
	o, err := ParseObject(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("composer.json: %w", errs.BadJSON(err))
	}
	if len(o) == 0 {
		return Manifest{}, ErrNoManifest
	}
	m := Manifest{Fields: o}
	if raw := o.Get("version"); raw != nil {
		if m.Version, err = phpString(raw); err != nil {
			return Manifest{}, errs.Invalidf("composer.json: \"version\" must be a string")
		}
	}
	for _, k := range []string{"autoload", "autoload-dev"} {
		if raw := o.Get(k); raw != nil && !bytes.Equal(raw, []byte("null")) && raw[0] != '{' && raw[0] != '[' {
			return Manifest{}, errs.Invalidf("composer.json: %q must be an object", k)
		}
	}
	if raw := o.Get("time"); raw != nil && !emptyPHP(raw) && raw[0] != '"' {
		return Manifest{}, errs.Invalidf("composer.json: \"time\" must be a string")
	}
	for _, k := range linkTypes {
		if err := checkLinks(k, o.Get(k)); err != nil {
			return Manifest{}, err
		}
	}
	m.Fields = loaded(o)
	return m, nil
}

// loaded is what Composer's loader keeps of a ref's fields and can read
// back from a Composer repository: a description or homepage that is not
// a string, a list or map field (keywords, authors, funding, extra,
// suggest) that is not one, and links that are not a map of package names
// to string constraints are ignored by the loader of a VCS repository, and
// the loader of a Composer repository fails on some of them, so they are
// not served.
func loaded(o Object) Object {
	out := make(Object, 0, len(o))
	for _, f := range o {
		switch f.Key {
		case "description", "homepage":
			if f.Value[0] != '"' {
				continue
			}
		case "keywords", "authors", "funding", "extra", "suggest":
			if f.Value[0] != '{' && f.Value[0] != '[' {
				continue
			}
		case "require", "require-dev", "conflict", "replace", "provide":
			if f.Value[0] != '{' {
				continue
			}
			f.Value = stringLinks(f.Value)
		}
		out = append(out, f)
	}
	return out
}

// stringLinks keeps the links of a map whose constraint is a string and
// whose package name is not a number (PHP would make it an integer key).
func stringLinks(raw json.RawMessage) json.RawMessage {
	obj, err := ParseObject(raw)
	if err != nil {
		return raw
	}
	keep := make(Object, 0, len(obj))
	for _, f := range obj {
		if _, err := strconv.Atoi(f.Key); err != nil && f.Value[0] == '"' {
			keep = append(keep, f)
		}
	}
	b, _ := keep.MarshalJSON()
	return b
}

// checkLinks checks the constraints of one link type as Composer's loader
// reads them: only an object or array is read, and only its string values,
// each of which must be a constraint ("self.version" stands for the
// version, already checked).
func checkLinks(key string, raw json.RawMessage) error {
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') {
		return nil
	}
	var values []json.RawMessage
	if raw[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		for _, v := range obj {
			values = append(values, v)
		}
	} else if json.Unmarshal(raw, &values) != nil {
		return nil
	}
	for _, v := range values {
		var c string
		if json.Unmarshal(v, &c) != nil || c == "self.version" {
			continue
		}
		if !validConstraint(c) {
			return errs.Invalidf("composer.json: %q has an invalid constraint %q", key, c)
		}
	}
	return nil
}

// emptyPHP reports a JSON value PHP's empty() is true for.
func emptyPHP(raw json.RawMessage) bool {
	switch string(raw) {
	case "null", "false", "0", `""`, `"0"`, "[]", "{}":
		return true
	}
	return false
}

// phpString is the string PHP makes of a JSON string or number (1.5 →
// "1.5", 2.0 → "2"); other values, and numbers PHP would print in
// exponent form, are refused.
func phpString(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.Abs(f) >= 1e15 || (f != 0 && math.Abs(f) < 1e-4) {
		return "", errs.Invalidf("not a string")
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}
