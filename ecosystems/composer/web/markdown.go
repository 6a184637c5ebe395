package web

import (
	"bytes"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// Markdown renders a package's README: goldmark (GitHub-flavoured tables,
// strikethrough, autolinks, task lists) turns it into HTML, raw HTML in the
// Markdown included, and bluemonday's policy for user content removes
// everything that could run or load: script, style, iframe, object and
// form elements, event handler attributes, and URLs other than http(s),
// mailto and relative ones. Links get rel="nofollow noopener". The policy
// and the converter are safe for concurrent use.
type Markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// NewMarkdown returns the README renderer.
func NewMarkdown() *Markdown {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	p.RequireNoReferrerOnLinks(true)
	p.AllowAttrs("class").Matching(bluemonday.SpaceSeparatedTokens).OnElements("code", "pre") // language-php from fenced blocks
	return &Markdown{
		md: goldmark.New(
			goldmark.WithExtensions(extension.GFM),
			goldmark.WithRendererOptions(html.WithUnsafe()), // raw HTML reaches the sanitizer, which decides
		),
		policy: p,
	}
}

// Render converts Markdown to sanitized HTML.
func (m *Markdown) Render(src []byte) template.HTML {
	var buf bytes.Buffer
	if err := m.md.Convert(src, &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(string(src))) // #nosec G203 -- escaped text
	}
	return template.HTML(m.policy.SanitizeBytes(buf.Bytes())) // #nosec G203 -- sanitized above
}
