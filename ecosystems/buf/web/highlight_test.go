package web

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHighlightProto(t *testing.T) {
	h, err := newHighlighter()
	require.NoError(t, err)
	src := "syntax = \"proto3\";\n// A <script>alert(1)</script> comment.\nmessage Pet { string name = 1 [json_name = \"<b>\"]; }\n"
	s := h.show("pet/v1/pet.proto", []byte(src), false)
	out := string(s.Highlighted)
	require.NotEmpty(t, out)
	require.NotContains(t, out, "<script>")
	require.NotContains(t, out, "<b>")
	require.Contains(t, out, "&lt;script&gt;")
	require.Contains(t, out, `<span style="`, "tokens carry their colours")
	require.Contains(t, out, `id="L3"`, "lines can be linked")
	require.Regexp(t, `<span style="[^"]+">message</span>`, out, "keywords are styled")
	require.NotContains(t, out, "url(", "no external assets")
}

func TestShowFile(t *testing.T) {
	h, err := newHighlighter()
	require.NoError(t, err)

	s := h.show("README.md", []byte("# <b>hi</b>"), false)
	require.Equal(t, shownFile{Text: "# <b>hi</b>"}, s, "other files are text, for the template to escape")

	require.Equal(t, shownFile{Binary: true}, h.show("x.bin", []byte{0xff, 0xfe, 0}, false))
	require.Equal(t, shownFile{Binary: true}, h.show("x.txt", []byte("a\x00b"), false))

	// A cut inside a character is not binary.
	s = h.show("doc.txt", []byte("ab\xc3"), true)
	require.Equal(t, shownFile{Text: "ab", Truncated: true}, s)

	// Large or truncated .proto files are shown as text.
	big := "syntax = \"proto3\";\n" + strings.Repeat("// x\n", maxHighlighted/5+1)
	s = h.show("big.proto", []byte(big), false)
	require.Empty(t, s.Highlighted)
	require.Equal(t, big, s.Text)
	s = h.show("cut.proto", []byte("syntax"), true)
	require.Empty(t, s.Highlighted)
	require.True(t, s.Truncated)
}
