package web

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/errs"
)

// MaxFieldBytes bounds one form value.
const MaxFieldBytes = 8 << 10

// Form is a form's values and per-field errors: a handler that refuses the
// input re-renders the page with the Form, and every field shows what was
// typed and its message next to it.
type Form struct {
	Values url.Values
	Errors map[string]string // field name -> message
}

// NewForm returns an empty form (a GET of the page), or one with defaults
// given as name, value pairs.
func NewForm(defaults ...string) *Form {
	f := &Form{Values: url.Values{}, Errors: map[string]string{}}
	for i := 0; i+1 < len(defaults); i += 2 {
		f.Values.Set(defaults[i], defaults[i+1])
	}
	return f
}

// ParseForm reads the POSTed fields (the kit already parsed the body within
// its limit and checked the CSRF field). It is strict: a field not in
// fields, a field sent twice, a value over MaxFieldBytes or not UTF-8 is an
// InvalidArgument error. Values are trimmed of surrounding spaces.
func ParseForm(c echo.Context, fields ...string) (*Form, error) {
	r := c.Request()
	vals := r.PostForm
	if r.MultipartForm != nil {
		vals = r.MultipartForm.Value
	}
	allowed := map[string]bool{CSRFField: true}
	for _, f := range fields {
		allowed[f] = true
	}
	f := NewForm()
	for name, vs := range vals {
		switch {
		case !allowed[name]:
			return nil, errs.Invalidf("unexpected form field %q", clipName(name))
		case len(vs) != 1:
			return nil, errs.Invalidf("form field %q sent %d times", clipName(name), len(vs))
		case len(vs[0]) > MaxFieldBytes:
			return nil, errs.TooLargef("form field %q is longer than %d bytes", name, MaxFieldBytes)
		case !utf8.ValidString(vs[0]):
			return nil, errs.Invalidf("form field %q is not valid UTF-8", name)
		}
		if name != CSRFField {
			f.Values.Set(name, strings.TrimSpace(vs[0]))
		}
	}
	return f, nil
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Value is what was typed in a field.
func (f *Form) Value(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// Error is the message next to a field, "" when none.
func (f *Form) Error(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// SetError puts a message next to a field (the first one stays).
func (f *Form) SetError(name, msg string) {
	if _, ok := f.Errors[name]; !ok {
		f.Errors[name] = msg
	}
}

// Valid reports whether no field has an error.
func (f *Form) Valid() bool { return f == nil || len(f.Errors) == 0 }

// Required sets "NAME is required" on each empty field; it reports whether
// all were filled.
func (f *Form) Required(fields ...string) bool {
	ok := true
	for _, name := range fields {
		if f.Value(name) == "" {
			f.SetError(name, "Required.")
			ok = false
		}
	}
	return ok
}
