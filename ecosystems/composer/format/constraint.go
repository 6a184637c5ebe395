package format

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// Composer's version constraints (composer/semver's
// VersionParser::parseConstraints and its Constraint, MultiConstraint and
// MatchAllConstraint), reimplemented from their documented behaviour:
// "||" or "|" between alternatives; "," or spaces between conditions that
// must all hold; each condition a comparison (=, ==, !=, <>, <, <=, >, >=),
// a caret (^1.2) or tilde (~1.2) range, a wildcard (1.2.*, *), a hyphen
// range (1.0 - 2.0), a branch (dev-main, 1.x-dev, with an ignored #ref),
// an optional @stability flag and an ignored "as" alias. Versions are
// normalized first and compared with PHP's version_compare.

// maxConstraintLen bounds what ParseConstraint reads.
const maxConstraintLen = 1024

// Constraint is a parsed version constraint.
type Constraint interface {
	// Matches reports whether a normalized version satisfies the
	// constraint.
	Matches(normalized string) bool
}

// comparison is one operator and a normalized version.
type comparison struct {
	op      string // ==, !=, <, <=, >, >=
	version string
}

// multi is a conjunction (every part) or disjunction (any part).
type multi struct {
	parts []Constraint
	and   bool
}

// matchAll is "*".
type matchAll struct{}

func (matchAll) Matches(string) bool { return true }

func (m multi) Matches(v string) bool {
	for _, p := range m.parts {
		if p.Matches(v) != m.and {
			return !m.and
		}
	}
	return m.and
}

// Matches is Constraint::matchSpecific against "== v": branches (dev-*)
// are equal only to themselves and never compare with numbered versions.
func (c comparison) Matches(v string) bool {
	vb, cb := strings.HasPrefix(v, "dev-"), strings.HasPrefix(c.version, "dev-")
	switch {
	case c.op == "!=" && (vb || cb):
		return v != c.version
	case vb && cb:
		return c.op == "==" && v == c.version
	case vb || cb:
		return false
	}
	r := phpVersionCompare(v, c.version)
	switch c.op {
	case "==":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case ">":
		return r > 0
	}
	return r >= 0
}

// Satisfies reports whether a version (any form Normalize accepts) meets a
// constraint, as composer/semver's Semver::satisfies.
func Satisfies(version, constraint string) (bool, error) {
	n, err := Normalize(version)
	if err != nil {
		return false, err
	}
	c, err := ParseConstraint(constraint)
	if err != nil {
		return false, err
	}
	return c.Matches(n), nil
}

var (
	reConstraintOr   = regexp.MustCompile(`[ \t\n\f\r\v]*\|\|?[ \t\n\f\r\v]*`)
	reConstraintFlag = regexp.MustCompile(`(?i)^([^,\s]*?)@(stable|RC|beta|alpha|dev)$`)
	reConstraintRef  = regexp.MustCompile(`(?i)^(dev-[^,\s@]+?|[^,\s@]+?\.x-dev)#.+$`)
	reConstraintAny  = regexp.MustCompile(`(?i)^(v)?[xX*](\.[xX*])*$`)
	versionRE        = `v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:` + modifier + `|\.([xX*][.-]?dev))(?:\+[^\s]+)?`
	reTilde          = regexp.MustCompile(`(?i)^~>?` + versionRE + `$`)
	reCaret          = regexp.MustCompile(`(?i)^\^` + versionRE + `($)`)
	reXRange         = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.[xX*])+$`)
	reHyphen         = regexp.MustCompile(`(?i)^(?P<from>` + versionRE + `) +- +(?P<to>` + versionRE + `)($)`)
	reComparison     = regexp.MustCompile(`^(<>|!=|>=?|<=?|==?)?\s*(.*)`)
	reModifierEnd    = regexp.MustCompile(`-` + modifier + `$`)
	reDevName        = regexp.MustCompile(`^[0-9a-zA-Z-./]+$`)
)

// ParseConstraint parses a Composer version constraint; it fails with
// errs.ErrInvalidArgument where Composer's parser fails.
func ParseConstraint(s string) (Constraint, error) {
	if len(s) > maxConstraintLen {
		return nil, errs.Invalidf("a version constraint is at most %d characters", maxConstraintLen)
	}
	var or []Constraint
	for _, alt := range reConstraintOr.Split(phpTrim(s), -1) {
		var and []Constraint
		for _, part := range splitAnd(alt) {
			cs, err := parseConstraintPart(part)
			if err != nil {
				return nil, err
			}
			and = append(and, cs...)
		}
		if len(and) == 1 {
			or = append(or, and[0])
		} else {
			or = append(or, multi{parts: and, and: true})
		}
	}
	if len(or) == 1 {
		return or[0], nil
	}
	return multi{parts: or}, nil
}

// phpTrim is PHP's trim().
func phpTrim(s string) string { return strings.Trim(s, " \t\n\r\x00\x0b") }

// splitAnd splits an alternative at its AND separators, as Composer's
// (?<!^|as|[=>< ,]) *(?<!-)[, ](?!-) *(?!,|as|$) does.
func splitAnd(s string) []string {
	var parts []string
	last := 0
	for i := 0; i < len(s); i++ {
		if end, ok := andSeparator(s, i); ok {
			parts = append(parts, s[last:i])
			last = end
			i = end - 1
		}
	}
	return append(parts, s[last:])
}

// andSeparator reports whether an AND separator starts at i, and where it
// ends. It tries the separator's spaces as the regular expression does,
// greedy first, in time linear in their number.
func andSeparator(s string, i int) (int, bool) {
	if i == 0 || strings.HasSuffix(s[:i], "as") || strings.IndexByte("=>< ,", s[i-1]) >= 0 {
		return 0, false
	}
	spaces := spaceRun(s, i)
	for k := spaces; k >= 0; k-- {
		j := i + k
		if j >= len(s) || (s[j] != ',' && s[j] != ' ') || s[j-1] == '-' || (j+1 < len(s) && s[j+1] == '-') {
			continue
		}
		after := i + spaces - j - 1 // the rest of the spaces
		if j == i+spaces {
			after = spaceRun(s, j+1)
		}
		if e := j + 1 + after; e < len(s) && s[e] != ',' && !strings.HasPrefix(s[e:], "as") {
			return e, true
		}
		if after > 0 {
			return j + after, true // one space fewer: the next character is a space
		}
	}
	return 0, false
}

// spaceRun counts the spaces at s[i:].
func spaceRun(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == ' ' {
		n++
	}
	return n
}

// parseConstraintPart is VersionParser::parseConstraint: one condition.
func parseConstraintPart(c string) ([]Constraint, error) {
	if m := reAlias.FindStringSubmatch(c); m != nil {
		c = m[1]
	}
	flag := ""
	if m := reConstraintFlag.FindStringSubmatch(c); m != nil {
		c = m[1]
		if c == "" {
			c = "*"
		}
		if m[2] != "stable" {
			flag = m[2]
		}
	}
	if m := reConstraintRef.FindStringSubmatch(c); m != nil {
		c = m[1]
	}
	if m := reConstraintAny.FindStringSubmatch(c); m != nil {
		if m[1] != "" || m[2] != "" {
			return []Constraint{comparison{">=", "0.0.0.0-dev"}}, nil
		}
		return []Constraint{matchAll{}}, nil
	}
	if m := reTilde.FindStringSubmatch(c); m != nil {
		return tildeRange(c, m)
	}
	if m := reCaret.FindStringSubmatch(c); m != nil {
		return caretRange(c, m)
	}
	if m := reXRange.FindStringSubmatch(c); m != nil {
		return xRange(m), nil
	}
	if m := reHyphen.FindStringSubmatch(c); m != nil {
		return hyphenRange(m)
	}
	return comparisonPart(c, flag)
}

// position is the last of the version's numeric parts given (1 to 4).
func position(m []string) int {
	for i := 4; i > 1; i-- {
		if m[i] != "" {
			return i
		}
	}
	return 1
}

func tildeRange(c string, m []string) ([]Constraint, error) {
	if strings.HasPrefix(c, "~>") {
		return nil, errs.Invalidf("could not parse version constraint %s: invalid operator \"~>\", you probably meant to use the \"~\" operator", c)
	}
	pos := position(m)
	if m[8] != "" {
		pos++
	}
	return operatorRange(c, m, max(1, pos-1))
}

func caretRange(c string, m []string) ([]Constraint, error) {
	pos := 3
	switch {
	case m[1] != "0" || m[2] == "":
		pos = 1
	case m[2] != "0" || m[3] == "":
		pos = 2
	}
	return operatorRange(c, m, pos)
}

// operatorRange is the range of a tilde or caret constraint c: from its
// version (a pre-release of it unless c names a stability) to the next
// version at position high.
func operatorRange(c string, m []string, high int) ([]Constraint, error) {
	suffix := ""
	if m[5] == "" && m[7] == "" && m[8] == "" {
		suffix = "-dev"
	}
	low, err := Normalize(c[1:] + suffix)
	if err != nil {
		return nil, constraintError(c, err)
	}
	return []Constraint{comparison{">=", low}, comparison{"<", bumpVersion(m, high, 1) + "-dev"}}, nil
}

func xRange(m []string) []Constraint {
	pos := 1
	switch {
	case m[3] != "":
		pos = 3
	case m[2] != "":
		pos = 2
	}
	parts := []string{m[0], m[1], m[2], m[3], ""}
	low, high := bumpVersion(parts, pos, 0)+"-dev", bumpVersion(parts, pos, 1)+"-dev"
	if low == "0.0.0.0-dev" {
		return []Constraint{comparison{"<", high}}
	}
	return []Constraint{comparison{">=", low}, comparison{"<", high}}
}

func hyphenRange(m []string) ([]Constraint, error) {
	lowSuffix := ""
	if m[6] == "" && m[8] == "" && m[9] == "" {
		lowSuffix = "-dev"
	}
	low, err := Normalize(m[1])
	if err != nil {
		return nil, constraintError(m[0], err)
	}
	high, err := Normalize(m[10])
	if err != nil {
		return nil, constraintError(m[0], err)
	}
	if (m[12] != "" && m[13] != "") || m[15] != "" || m[17] != "" || m[18] != "" {
		return []Constraint{comparison{">=", low + lowSuffix}, comparison{"<=", high}}, nil
	}
	pos := 2
	if m[12] == "" {
		pos = 1
	}
	upper := bumpVersion([]string{"", m[11], m[12], m[13], m[14]}, pos, 1) + "-dev"
	return []Constraint{comparison{">=", low + lowSuffix}, comparison{"<", upper}}, nil
}

// comparisonPart is an operator and a version.
func comparisonPart(c, flag string) ([]Constraint, error) {
	m := reComparison.FindStringSubmatch(c)
	version, err := Normalize(m[2])
	if err != nil {
		if !strings.HasSuffix(m[2], "-dev") || !reDevName.MatchString(m[2]) {
			return nil, constraintError(c, err)
		}
		if version, err = Normalize("dev-" + strings.TrimSuffix(m[2], "-dev")); err != nil {
			return nil, constraintError(c, err)
		}
	}
	op := m[1]
	if op == "" {
		op = "="
	}
	switch {
	case op != "==" && op != "=" && flag != "" && ParseStability(version) == StabilityStable:
		version += "-" + flag
	case op == "<" || op == ">=":
		if !reModifierEnd.MatchString(strings.ToLower(m[2])) && !strings.HasPrefix(m[2], "dev-") {
			version += "-dev"
		}
	}
	switch op {
	case "=":
		op = "=="
	case "<>":
		op = "!="
	}
	return []Constraint{comparison{op, version}}, nil
}

func constraintError(c string, err error) error {
	return errs.Invalidf("could not parse version constraint %s: %s", c, errs.PublicMessage(err))
}

// bumpVersion is manipulateVersionString: parts after pos become 0, the
// part at pos grows by inc, and the four parts are joined.
func bumpVersion(m []string, pos, inc int) string {
	p := [5]string{}
	copy(p[:], m)
	for i := 4; i > 0; i-- {
		switch {
		case i > pos:
			p[i] = "0"
		case i == pos && inc != 0:
			n, _ := strconv.ParseInt(p[i], 10, 64)
			p[i] = strconv.FormatInt(n+int64(inc), 10)
		}
	}
	return p[1] + "." + p[2] + "." + p[3] + "." + p[4]
}
