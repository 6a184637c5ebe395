package module

import (
	"encoding/hex"
	"strings"
	"unicode"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// ValidateModuleName checks a module name with the rules of organization names.
func ValidateModuleName(name string) error { return metadata.ValidateName("module", name) }

// ValidateLabelName checks a label name: 1-250 characters without spaces or
// control characters.
func ValidateLabelName(name string) error {
	if name == "" || len(name) > 250 {
		return errs.Invalidf("label name %q must have 1 to 250 characters", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return errs.Invalidf("label name %q must not contain spaces or control characters", name)
		}
	}
	return nil
}

// NormalizeID turns a commit, label or module id given with or without
// dashes, in any case, into packyard's 32 lower-case hex digits; ok is false
// when s is not such an id.
func NormalizeID(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}
