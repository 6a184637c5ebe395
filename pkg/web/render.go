package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
)

//go:embed layout/*.html templates/*.html static/*
var kitTemplates embed.FS

// Templates are parsed pages, each in the kit's layout.
type Templates struct {
	pages map[string]*template.Template
}

// Page is what a handler renders in the layout.
type Page struct {
	Title  string  // the <title> and the page's heading
	Crumbs []Crumb // breadcrumbs after the home link
	Data   any     // the page template's own data: {{.Data}}
	Form   *Form   // the page's form (values and per-field errors), or nil
	Notice string  // a one-line confirmation shown above the content
}

// Crumb is one breadcrumb.
type Crumb struct {
	Name string
	URL  string // "" for the current page
}

// View is what a page template executes on: the Page's fields and the
// layout's. Page templates read {{.Data}}, {{.Form}}, {{.Viewer}}, and
// write {{template "csrf" .}} in every form that POSTs.
type View struct {
	Page
	Site      string  // the product name
	Viewer    *Viewer // never nil
	CSRF      string  // the form token ({{template "csrf" .}} writes the field)
	Path      string  // this page's path and query (sign-in comes back to it)
	SignIn    string  // the sign-in URL that comes back here
	RequestID string
	Static    string // the static files' prefix: {{.Static}}packyard.css
	Now       time.Time
}

// ParseTemplates parses each file of fsys that patterns match as one page
// in the kit's layout. A page file defines "content" (and may define
// "head" for extra <head> elements); it may use the kit's partials
// ("csrf", "field", "select", "pager", "empty") and functions (see Funcs).
// Pages are named by their base file name: "package.html".
func ParseTemplates(fsys fs.FS, patterns ...string) (*Templates, error) {
	base, err := template.New("layout.html").Funcs(Funcs()).ParseFS(kitTemplates, "layout/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	t := &Templates{pages: map[string]*template.Template{}}
	for _, pat := range patterns {
		files, err := fs.Glob(fsys, pat)
		if err != nil {
			return nil, fmt.Errorf("web: templates %q: %w", pat, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("web: templates %q match no file", pat)
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			pt, err := base.Clone()
			if err == nil {
				pt, err = pt.Parse(string(b))
			}
			if err != nil {
				return nil, fmt.Errorf("web: template %s: %w", f, err)
			}
			t.pages[path.Base(f)] = pt
		}
	}
	return t, nil
}

// Render writes a page of t in the layout with status. HEAD gets the
// headers only.
func (s *Site) Render(c echo.Context, status int, t *Templates, name string, p Page) error {
	pt, ok := t.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	v := s.view(c, p)
	var buf bytes.Buffer
	if err := pt.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := c.Response().Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Site) view(c echo.Context, p Page) View {
	r := c.Request()
	here := r.URL.Path
	if r.URL.RawQuery != "" {
		here += "?" + r.URL.RawQuery
	}
	return View{Page: p, Site: Name, Viewer: ViewerOf(c), CSRF: s.CSRFToken(c), Path: here,
		SignIn: SignInURL(LocalPath(here)), RequestID: access.RequestID(r.Context()), Static: StaticPrefix, Now: s.now()}
}

// Funcs are the template functions every page may use:
//
//	field .Form "name" "Label" "text"          a labelled input with its error ({{template "field" ...}})
//	select .Form "name" "Label" "a" "b" "c"    a labelled select         ({{template "select" ...}})
//	time T                                      "2006-01-02 15:04 UTC", "" for the zero time
//	bytes N                                     "1.2 MiB"
//	plural N "package" "packages"              "1 package", "3 packages"
//	title "packages"                            "Packages" (the first letter upper-cased)
func Funcs() template.FuncMap {
	return template.FuncMap{
		"field": func(f *Form, name, label, typ string) FieldView {
			return FieldView{Name: name, Label: label, Type: typ, Value: f.Value(name), Error: f.Error(name)}
		},
		"select": func(f *Form, name, label string, options ...string) FieldView {
			return FieldView{Name: name, Label: label, Type: "select", Value: f.Value(name), Error: f.Error(name), Options: options}
		},
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"bytes":  humanBytes,
		"plural": plural,
		"lower":  strings.ToLower,
		"title":  title,
	}
}

// title upper-cases the first letter of an ASCII word ("packages" → "Packages").
func title(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// FieldView is a form field for the "field" and "select" partials.
type FieldView struct {
	Name, Label, Type, Value, Error string
	Options                         []string
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
