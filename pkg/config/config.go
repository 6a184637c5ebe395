// Package config reads packyard's settings from environment variables.
//
// Every package owns its Config struct and fills it with a Loader over its
// own PACKYARD_* variables. A Loader collects every problem, so start-up
// reports all malformed variables at once, each by name. Secrets also accept
// NAME_FILE: a path whose content (without a trailing newline) is the value.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env looks a variable up, like os.LookupEnv.
type Env func(name string) (string, bool)

// OS is the process environment.
func OS() Env { return os.LookupEnv }

// Map is an environment made of a map, for tests.
func Map(m map[string]string) Env {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// Loader reads typed values and collects errors naming the variable.
type Loader struct {
	env  Env
	errs []error
}

// NewLoader returns a Loader over env (the process environment when nil).
func NewLoader(env Env) *Loader {
	if env == nil {
		env = OS()
	}
	return &Loader{env: env}
}

// Err returns every problem found so far, joined, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// Fail records a problem with a variable.
func (l *Loader) Fail(name, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (l *Loader) lookup(name string) (string, bool) {
	v, ok := l.env(name)
	if ok {
		return strings.TrimSpace(v), v != ""
	}
	return "", false
}

// Secret reads name, or the file named by name_FILE. Setting both is an error.
func (l *Loader) Secret(name string) string {
	v, ok := l.lookup(name)
	path, fok := l.lookup(name + "_FILE")
	switch {
	case ok && fok:
		l.Fail(name, "set either %s or %s_FILE, not both", name, name)
		return ""
	case fok:
		b, err := os.ReadFile(path)
		if err != nil {
			l.Fail(name+"_FILE", "cannot read secret file: %v", err)
			return ""
		}
		return strings.TrimRight(string(b), "\r\n")
	case ok:
		return v
	}
	return ""
}

// String reads name, or def when unset or empty.
func (l *Loader) String(name, def string) string {
	if v, ok := l.lookup(name); ok {
		return v
	}
	return def
}

// OneOf reads name and checks it is one of allowed (case-insensitive; the
// result is lower-cased).
func (l *Loader) OneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(l.String(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.Fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// Bool reads name as true/false/1/0/yes/no/on/off.
func (l *Loader) Bool(name string, def bool) bool {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	l.Fail(name, "%q is not a boolean (use true or false)", v)
	return def
}

// Int reads name as a decimal integer within [min, max].
func (l *Loader) Int(name string, def, min, max int) int {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.Fail(name, "%q is not a whole number", v)
		return def
	}
	if n < min || n > max {
		l.Fail(name, "%d is out of range [%d, %d]", n, min, max)
		return def
	}
	return n
}

// Duration reads name as a Go duration ("30s", "5m", "1h30m") that must be > 0.
func (l *Loader) Duration(name string, def time.Duration) time.Duration {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		l.Fail(name, "%q is not a positive duration (examples: 30s, 5m, 12h, 7d)", v)
		return def
	}
	return d
}

// ParseDuration is time.ParseDuration plus a day unit ("7d", "30d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// Size reads name as a byte size: a number with an optional unit
// (B, KB, MB, GB, KiB, MiB, GiB). It must be > 0.
func (l *Loader) Size(name string, def int64) int64 {
	v, ok := l.lookup(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n <= 0 {
		l.Fail(name, "%q is not a positive size (examples: 512KiB, 64MiB, 1GiB)", v)
		return def
	}
	return n
}

// ParseSize parses "64MiB", "10MB", "1024".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
}

// URL reads name as an absolute URL with one of the given schemes.
func (l *Loader) URL(name string, schemes ...string) *url.URL {
	v, ok := l.lookup(name)
	if !ok {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		l.Fail(name, "%q is not an absolute URL", Redact(v))
		return nil
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return u
		}
	}
	l.Fail(name, "scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
	return nil
}

// Redact hides the password of a URL-looking string for error messages and logs.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
