package format

import (
	"strconv"
	"strings"
)

// PHP's version_compare, which composer/semver applies to normalized
// versions: both strings are split into parts at '.', '-', '_', '+', other
// non-alphanumeric characters and every change between digits and
// non-digits; numeric parts compare as numbers, others by their special
// form (dev < alpha = a < beta = b < RC = rc < a number < pl = p, anything
// else lowest), and a longer version is greater when its next part is a
// number.

// phpVersionCompare returns -1, 0 or 1 as PHP's version_compare(a, b).
func phpVersionCompare(a, b string) int {
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	if simpleVersion(a) && simpleVersion(b) {
		return compareSimple(a, b)
	}
	return compareParts(versionParts(a), versionParts(b))
}

// compareParts compares two versions split into their canonical parts.
func compareParts(pa, pb []string) int {
	n := min(len(pa), len(pb))
	for i := 0; i < n; i++ {
		if c := comparePart(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(pa) > n:
		if isDigit(pa[n][0]) {
			return 1
		}
		return compareSpecial(pa[n], "#N#")
	case len(pb) > n:
		if isDigit(pb[n][0]) {
			return -1
		}
		return compareSpecial("#N#", pb[n])
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// versionParts is PHP's canonical form of a version split at its dots
// (empty parts dropped).
func versionParts(v string) []string {
	if v[0] == '#' {
		return strings.FieldsFunc(v, func(r rune) bool { return r == '.' })
	}
	var b strings.Builder
	b.WriteByte(v[0])
	last := v[0]
	prev := func() byte { s := b.String(); return s[len(s)-1] }
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '-' || c == '_' || c == '+':
			if prev() != '.' {
				b.WriteByte('.')
			}
		case (last != '.' && !isDigit(last) && isDigit(c)) || (isDigit(last) && c != '.' && !isDigit(c)):
			if prev() != '.' {
				b.WriteByte('.')
			}
			b.WriteByte(c)
		case !isAlnum(c):
			if prev() != '.' {
				b.WriteByte('.')
			}
		default:
			b.WriteByte(c)
		}
		last = c
	}
	return strings.FieldsFunc(b.String(), func(r rune) bool { return r == '.' })
}

func comparePart(a, b string) int {
	da, db := isDigit(a[0]), isDigit(b[0])
	switch {
	case da && db:
		return cmpInt(phpStrtol(a), phpStrtol(b))
	case da:
		return compareSpecial("#N#", b)
	case db:
		return compareSpecial(a, "#N#")
	}
	return compareSpecial(a, b)
}

// phpStrtol reads the leading digits of s as C's strtol does, saturating.
func phpStrtol(s string) int64 {
	end := 0
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 1<<63 - 1
	}
	return n
}

// specialForms are PHP's ordered special version forms, matched as
// prefixes in this order.
var specialForms = []struct {
	name  string
	order int
}{{"dev", 0}, {"alpha", 1}, {"a", 1}, {"beta", 2}, {"b", 2}, {"RC", 3}, {"rc", 3}, {"#", 4}, {"pl", 5}, {"p", 5}}

func specialOrder(form string) int {
	for _, f := range specialForms {
		if strings.HasPrefix(form, f.name) {
			return f.order
		}
	}
	return -1
}

func compareSpecial(a, b string) int {
	return cmpInt(int64(specialOrder(a)), int64(specialOrder(b)))
}

// simpleVersion reports a version of letters, digits, '.' and '-' only,
// not starting with '-' (PHP keeps a leading '-' as a part): a normalized
// version, which compareSimple compares without allocating.
func simpleVersion(v string) bool {
	if v[0] == '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isAlnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// nextPart returns the part of a simple version at i (a run of digits or
// of letters; '.' and '-' separate) and where the next one starts; "" at
// the end.
func nextPart(v string, i int) (string, int) {
	for i < len(v) && (v[i] == '.' || v[i] == '-') {
		i++
	}
	if i == len(v) {
		return "", i
	}
	j := i + 1
	for j < len(v) && isAlnum(v[j]) && isDigit(v[j]) == isDigit(v[i]) {
		j++
	}
	return v[i:j], j
}

// compareSimple is phpVersionCompare for two simple versions.
func compareSimple(a, b string) int {
	i, j := 0, 0
	for {
		pa, ni := nextPart(a, i)
		pb, nj := nextPart(b, j)
		switch {
		case pa == "" && pb == "":
			return 0
		case pb == "":
			if isDigit(pa[0]) {
				return 1
			}
			return compareSpecial(pa, "#N#")
		case pa == "":
			if isDigit(pb[0]) {
				return -1
			}
			return compareSpecial("#N#", pb)
		}
		if c := comparePart(pa, pb); c != 0 {
			return c
		}
		i, j = ni, nj
	}
}
