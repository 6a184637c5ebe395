package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Fragment is one area's part of the OpenAPI document: YAML (or JSON) with
// "paths" and optionally "components" (schemas, parameters, responses,
// requestBodies) that it adds. It may refer to the base document's
// components: schemas Error, parameters PageSize, PageToken and Org,
// responses BadRequest, Unauthenticated, PermissionDenied, NotFound and
// Conflict. Areas embed theirs beside their handlers and provide it to the
// fx group "openapi".
type Fragment struct {
	Name string // the area, for error messages
	YAML []byte
}

//go:embed openapi.yaml
var base []byte

// Document merges the base document and the fragments into the OpenAPI 3
// document (JSON). Two fragments that define the same path and method, or
// the same component differently, are an error.
func Document(frags ...Fragment) ([]byte, error) {
	doc, err := parse("base", base)
	if err != nil {
		return nil, err
	}
	for _, f := range frags {
		part, err := parse(f.Name, f.YAML)
		if err != nil {
			return nil, err
		}
		if err := merge(doc, part, f.Name); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}

func parse(name string, b []byte) (map[string]any, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("openapi fragment %s: %w", name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("openapi fragment %s: %w", name, err)
	}
	return m, nil
}

// merge adds part's paths and components to doc.
func merge(doc, part map[string]any, name string) error {
	for key := range part {
		if key != "paths" && key != "components" {
			return fmt.Errorf("openapi fragment %s: only paths and components may be added, not %q", name, key)
		}
	}
	paths := child(doc, "paths")
	for p, ops := range asMap(part["paths"]) {
		have := child(paths, p)
		for method, op := range asMap(ops) {
			if _, dup := have[method]; dup {
				return fmt.Errorf("openapi fragment %s: %s %s is already described", name, strings.ToUpper(method), p)
			}
			have[method] = op
		}
	}
	comps := child(doc, "components")
	for kind, defs := range asMap(part["components"]) {
		have := child(comps, kind)
		for n, def := range asMap(defs) {
			if old, dup := have[n]; dup && !equalJSON(old, def) {
				return fmt.Errorf("openapi fragment %s: components.%s.%s is already defined differently", name, kind, n)
			}
			have[n] = def
		}
	}
	return nil
}

func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Operations lists a document's operations as "METHOD /path" (ServeMux
// pattern syntax, {name} for parameters), sorted.
func Operations(doc []byte) ([]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var out []string
	for p, ops := range d.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Handler serves the document (public: it describes, never grants).
func Handler(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}
