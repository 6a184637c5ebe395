package vcs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseExportIgnore(t *testing.T) {
	ps := parseExportIgnore("# c\n/tests export-ignore\n*.md export-ignore\ndocs/keep.md -export-ignore\nbuild/ export-ignore\n!x export-ignore\n[attr]m export-ignore\n/text text\n", nil)
	require.Len(t, ps, 4)
}

// The path git-upload-pack gets over ssh is quoted as git quotes it.
func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/x.git":  `'/srv/x.git'`,
		"it's.git":    `'it'\''s.git'`,
		"a!b; rm -rf": `'a'\!'b; rm -rf'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
