package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// Field is one key of a JSON object with its raw (compact) value.
type Field struct {
	Key   string
	Value json.RawMessage
}

// Object is a JSON object that keeps its keys in order, so a package's
// composer.json is served as its author wrote it.
type Object []Field

// ParseObject decodes a JSON object, keeping key order; a repeated key keeps
// its last value (at its first position). It takes time linear in the
// size of b.
func ParseObject(b []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var o Object
	at := map[string]int{} // key → its position in o: one pass, no copies
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("invalid JSON at %q: %w", key, err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, fmt.Errorf("invalid JSON at %q: %w", key, err)
		}
		if i, ok := at[key]; ok {
			o[i].Value = c.Bytes()
			continue
		}
		at[key] = len(o)
		o = append(o, Field{key, c.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: data after the object")
	}
	return o, nil
}

// Get returns a key's raw value, or nil.
func (o Object) Get(key string) json.RawMessage {
	for _, f := range o {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// With returns o with key set to value (replaced in place, or appended).
func (o Object) With(key string, value json.RawMessage) Object {
	for i, f := range o {
		if f.Key == key {
			out := append(Object(nil), o...)
			out[i].Value = value
			return out
		}
	}
	return append(append(Object(nil), o...), Field{key, value})
}

// Without returns o without key.
func (o Object) Without(keys ...string) Object {
	out := make(Object, 0, len(o))
next:
	for _, f := range o {
		for _, k := range keys {
			if f.Key == k {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// MarshalJSON writes the object in its key order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object keeping key order.
func (o *Object) UnmarshalJSON(b []byte) error {
	v, err := ParseObject(b)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// MustJSON encodes a value that always encodes (strings, maps of strings,
// objects): the raw value of a field.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with values that always encode
	}
	return b
}

// Manifest is a parsed composer.json.
type Manifest struct {
	Name    string // lower-cased
	Version string // as declared, "" when absent
	Fields  Object // every field, verbatim
}

// Description returns the manifest's description, or "".
func (m Manifest) Description() string {
	var s string
	_ = json.Unmarshal(m.Fields.Get("description"), &s)
	return s
}

// ParseManifest parses and checks a composer.json: a JSON object whose
// fields have the types Composer expects, with a valid name (unless
// requireName is false, for refs whose name comes from elsewhere).
func ParseManifest(b []byte, requireName bool) (Manifest, error) {
	o, err := ParseObject(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("composer.json: %w", errs.BadJSON(err))
	}
	m := Manifest{Fields: o}
	if raw := o.Get("name"); raw != nil {
		if err := json.Unmarshal(raw, &m.Name); err != nil {
			return Manifest{}, errs.Invalidf("composer.json: \"name\" must be a string")
		}
		m.Name = strings.ToLower(m.Name)
		if err := ValidatePackageName(m.Name); err != nil {
			return Manifest{}, fmt.Errorf("composer.json: %w", err)
		}
	} else if requireName {
		return Manifest{}, errs.Invalidf("composer.json has no \"name\"")
	}
	if raw := o.Get("version"); raw != nil {
		if err := json.Unmarshal(raw, &m.Version); err != nil {
			return Manifest{}, errs.Invalidf("composer.json: \"version\" must be a string")
		}
	}
	for _, k := range []string{"require", "require-dev", "conflict", "replace", "provide", "suggest"} {
		raw := o.Get(k)
		if raw == nil {
			continue
		}
		var links map[string]string
		if err := json.Unmarshal(raw, &links); err != nil {
			return Manifest{}, errs.Invalidf("composer.json: %q must be an object of package names to version constraints", k)
		}
	}
	for _, k := range []string{"autoload", "autoload-dev", "extra", "support", "scripts", "config", "archive"} {
		if raw := o.Get(k); raw != nil && !isObjectOrEmptyArray(raw) {
			return Manifest{}, errs.Invalidf("composer.json: %q must be an object", k)
		}
	}
	for _, k := range []string{"description", "type", "homepage", "time", "target-dir", "minimum-stability"} {
		if raw := o.Get(k); raw != nil {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return Manifest{}, errs.Invalidf("composer.json: %q must be a string", k)
			}
		}
	}
	if raw := o.Get("extra"); raw != nil {
		var extra struct {
			BranchAlias json.RawMessage `json:"branch-alias"`
		}
		if json.Unmarshal(raw, &extra) == nil && extra.BranchAlias != nil {
			var ba map[string]string
			if err := json.Unmarshal(extra.BranchAlias, &ba); err != nil && !isObjectOrEmptyArray(extra.BranchAlias) {
				return Manifest{}, errs.Invalidf("composer.json: \"extra.branch-alias\" must be an object of branch names to versions")
			}
		}
	}
	return m, nil
}

// BranchAliases returns extra.branch-alias, or nil.
func (m Manifest) BranchAliases() map[string]string {
	var extra struct {
		BranchAlias map[string]string `json:"branch-alias"`
	}
	_ = json.Unmarshal(m.Fields.Get("extra"), &extra)
	return extra.BranchAlias
}

func isObjectOrEmptyArray(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && (t[0] == '{' || bytes.Equal(t, []byte("[]")))
}
