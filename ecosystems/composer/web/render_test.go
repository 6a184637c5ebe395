package web

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/composer"
)

func TestMarkdownRemovesWhatCouldRun(t *testing.T) {
	m := NewMarkdown()
	cases := []struct {
		name, src string
		gone      []string // must not appear (lower-cased output)
		kept      []string // must appear
	}{
		{"script element", "# Title\n\n<script>alert('x')</script>\n\ntext", []string{"<script", "alert("}, []string{"<h1", "text"}},
		{"inline script in a paragraph", "hello <script src=\"https://evil.example.com/x.js\"></script> world", []string{"<script", "evil.example.com"}, []string{"hello", "world"}},
		{"iframe", "<iframe src=\"https://evil.example.com\"></iframe>\n\nafter", []string{"<iframe", "evil.example.com"}, []string{"after"}},
		{"javascript link in markdown", "[click](javascript:alert(1))", []string{"javascript:"}, []string{"click"}},
		{"javascript link in html", "<a href=\"JaVaScRiPt:alert(1)\">click</a>", []string{"javascript:"}, []string{"click"}},
		{"event handler on an image", "<img src=\"logo.png\" onerror=\"alert(1)\">", []string{"onerror", "alert("}, []string{"logo.png"}},
		{"event handler on a div", "<div onclick=\"alert(1)\" onmouseover=\"alert(2)\">box</div>", []string{"onclick", "onmouseover", "alert("}, []string{"box"}},
		{"style element", "<style>body{display:none}</style>ok", []string{"<style", "display:none"}, []string{"ok"}},
		{"object and embed", "<object data=\"x.swf\"></object><embed src=\"x.swf\">", []string{"<object", "<embed"}, nil},
		{"form", "<form action=\"https://evil.example.com\"><input name=\"p\"></form>", []string{"<form", "<input"}, nil},
		{"data URL link", "[x](data:text/html;base64,PHNjcmlwdD4=)", []string{"data:text/html"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := strings.ToLower(string(m.Render([]byte(c.src))))
			for _, g := range c.gone {
				require.NotContains(t, out, strings.ToLower(g))
			}
			for _, k := range c.kept {
				require.Contains(t, out, strings.ToLower(k))
			}
		})
	}
}

func TestMarkdownRendersREADMEs(t *testing.T) {
	m := NewMarkdown()
	out := string(m.Render([]byte("# acme/util\n\nA **bold** [link](https://example.com/docs).\n\n```php\n<?php echo 1;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")))
	require.Contains(t, out, "<h1")
	require.Contains(t, out, "<strong>bold</strong>")
	require.Contains(t, out, `href="https://example.com/docs"`)
	require.Contains(t, out, `rel="nofollow noreferrer"`)
	require.Contains(t, out, `<code class="language-php">&lt;?php echo 1;`)
	require.Contains(t, out, "<table>")
}

func TestDayChart(t *testing.T) {
	days := make([]composer.DayCount, 30)
	for i := range days {
		days[i].Day = 20000 + int64(i)
	}
	days[27].Count, days[29].Count = 2, 4
	svg := string(DayChart(days))
	require.True(t, strings.HasPrefix(svg, "<svg "))
	require.Equal(t, 30, strings.Count(svg, `<rect class="bar"`))
	require.Contains(t, svg, `data-day="2024-11-02" data-count="4"`) // day 20000 is 2024-10-04
	require.Contains(t, svg, "6 installs over the last 30 days")
	heights := regexp.MustCompile(`data-count="(\d+)"[^>]*height="([0-9.]+)"`).FindAllStringSubmatch(svg, -1)
	require.Len(t, heights, 30)
	for _, h := range heights {
		if h[1] == "0" {
			require.Equal(t, "0.0", h[2])
		} else {
			require.NotEqual(t, "0.0", h[2])
		}
	}
	require.Contains(t, svg, `height="110.0"`) // the peak is the full height
	require.Equal(t, 0, strings.Count(string(DayChart(nil)), "<rect"))
}

func TestVersionChart(t *testing.T) {
	require.Empty(t, VersionChart([]composer.VersionDetail{{Version: "1.0.0"}}))
	var vs []composer.VersionDetail
	for i := range 12 {
		vs = append(vs, composer.VersionDetail{Version: "1.0." + string(rune('0'+i%10)), Downloads: int64(i + 1)})
	}
	vs = append(vs, composer.VersionDetail{Version: `<b>"x"`, Downloads: 100})
	svg := string(VersionChart(vs))
	require.Equal(t, 10, strings.Count(svg, `<rect class="bar"`))
	require.NotContains(t, svg, "<b>")
	require.Contains(t, svg, `data-version="&lt;b&gt;&#34;x&#34;" data-count="100"`)
}

func TestSnippets(t *testing.T) {
	require.Equal(t, "composer require acme/util", RequireCommand("acme/util"))
	var doc struct {
		Repositories []map[string]string `json:"repositories"`
	}
	require.NoError(t, json.Unmarshal([]byte(RepositorySnippet("https://packages.example.com/", "acme")), &doc))
	require.Equal(t, []map[string]string{{"type": "composer", "url": "https://packages.example.com/composer/acme"}}, doc.Repositories)
	require.Equal(t, "composer config repositories.acme composer https://packages.example.com/composer/acme", ConfigCommand("https://packages.example.com", "acme"))
}
