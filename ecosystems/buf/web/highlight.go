package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
)

// Limits of what a file page shows.
const (
	// maxShown is the most bytes of a file a page shows.
	maxShown = 1 << 20
	// maxHighlighted is the largest .proto file shown highlighted; a larger
	// one is shown as plain text.
	maxHighlighted = 256 << 10
)

// highlighter renders .proto sources as HTML whose tokens carry their
// colours as inline styles (the site's policy allows them), so the page
// needs no stylesheet of its own.
type highlighter struct {
	lexer     chroma.Lexer
	style     *chroma.Style
	formatter *chromahtml.Formatter
}

func newHighlighter() (*highlighter, error) {
	lexer := lexers.Get("protobuf")
	if lexer == nil {
		return nil, fmt.Errorf("buf web: no protobuf lexer in the highlighting library")
	}
	return &highlighter{
		lexer:     chroma.Coalesce(lexer),
		style:     styles.Get("github"),
		formatter: chromahtml.New(chromahtml.WithLineNumbers(true), chromahtml.WithLinkableLineNumbers(true, "L"), chromahtml.TabWidth(4)),
	}, nil
}

// proto renders src, a .proto file, as highlighted HTML; every token's
// text is escaped by the formatter.
func (h *highlighter) proto(src string) (template.HTML, error) {
	it, err := h.lexer.Tokenise(nil, src)
	if err != nil {
		return "", fmt.Errorf("highlight: %w", err)
	}
	var b bytes.Buffer
	if err := h.formatter.Format(&b, h.style, it); err != nil {
		return "", fmt.Errorf("highlight: %w", err)
	}
	return template.HTML(b.String()), nil // #nosec: chroma escapes every token
}

// shownFile is how a file page shows a file's content.
type shownFile struct {
	Highlighted template.HTML // a .proto file small enough to highlight
	Text        string        // any other text, escaped by the template
	Binary      bool          // not UTF-8 text: not shown
	Truncated   bool          // only the first maxShown bytes are shown
}

// show decides how content (at most maxShown bytes of the file; truncated
// when there was more) is shown.
func (h *highlighter) show(path string, content []byte, truncated bool) shownFile {
	out := shownFile{Truncated: truncated}
	if truncated {
		// The cut may split a character: drop its partial bytes.
		for i := 0; i < utf8.UTFMax && len(content) > 0 && !utf8.Valid(content); i++ {
			content = content[:len(content)-1]
		}
	}
	if !utf8.Valid(content) || bytes.IndexByte(content, 0) >= 0 {
		return shownFile{Binary: true}
	}
	if strings.HasSuffix(path, ".proto") && !truncated && len(content) <= maxHighlighted {
		if html, err := h.proto(string(content)); err == nil {
			out.Highlighted = html
			return out
		}
	}
	out.Text = string(content)
	return out
}
