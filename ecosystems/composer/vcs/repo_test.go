package vcs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseExportIgnore(t *testing.T) {
	ps := parseExportIgnore("# c\n/tests export-ignore\n*.md export-ignore\ndocs/keep.md -export-ignore\nbuild/ export-ignore\n!x export-ignore\n[attr]m export-ignore\n/text text\n", nil)
	require.Len(t, ps, 4)
}
