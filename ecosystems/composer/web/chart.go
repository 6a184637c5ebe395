package web

import (
	"cmp"
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"

	"github.com/packyard/packyard/ecosystems/composer"
)

// The charts of a package's page, drawn on the server as inline SVG: no
// script, no external resource, readable by a screen reader (a title and a
// description, and a <title> per bar).

const (
	chartWidth     = 600
	chartHeight    = 120
	chartTop       = 10 // room above the tallest bar
	maxVersionBars = 10
)

// DayChart draws installs per day as one bar (rect.bar) per day, oldest on
// the left, each carrying its day and count (data-day, data-count).
func DayChart(days []composer.DayCount) template.HTML {
	var peak, total int64
	for _, d := range days {
		peak, total = max(peak, d.Count), total+d.Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart chart-days" role="img" aria-labelledby="chart-days-title chart-days-desc" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">`,
		chartWidth, chartHeight+20)
	fmt.Fprintf(&b, `<title id="chart-days-title">Installs per day</title><desc id="chart-days-desc">%d installs over the last %d days</desc>`,
		total, len(days))
	if len(days) > 0 {
		slot := float64(chartWidth) / float64(len(days))
		for i, d := range days {
			h := 0.0
			if peak > 0 {
				h = float64(d.Count) / float64(peak) * (chartHeight - chartTop)
			}
			day := d.Time().Format("2006-01-02")
			fmt.Fprintf(&b, `<rect class="bar" data-day="%s" data-count="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				day, d.Count, float64(i)*slot+1, chartHeight-h, max(slot-2, 1), h, day, d.Count)
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" class="axis">%s</text><text x="%d" y="%d" text-anchor="end" class="axis">%s</text>`,
			chartHeight+16, days[0].Time().Format("Jan 2"), chartWidth, chartHeight+16, days[len(days)-1].Time().Format("Jan 2"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- every value written is a number or a formatted date
}

// VersionChart draws the installs of the most installed versions (at most
// maxVersionBars) as horizontal bars (rect.bar, data-version, data-count);
// empty when nothing was installed.
func VersionChart(versions []composer.VersionDetail) template.HTML {
	vs := slices.DeleteFunc(slices.Clone(versions), func(v composer.VersionDetail) bool { return v.Downloads == 0 })
	if len(vs) == 0 {
		return ""
	}
	slices.SortStableFunc(vs, func(a, b composer.VersionDetail) int { return cmp.Compare(b.Downloads, a.Downloads) })
	vs = vs[:min(len(vs), maxVersionBars)]
	const row, label = 22, 160
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart chart-versions" role="img" aria-labelledby="chart-versions-title" viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg">`,
		chartWidth, len(vs)*row)
	b.WriteString(`<title id="chart-versions-title">Installs per version</title>`)
	peak := vs[0].Downloads
	for i, v := range vs {
		w := float64(v.Downloads) / float64(peak) * (chartWidth - label - 60)
		name := html.EscapeString(v.Version)
		y := i * row
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="axis">%s</text>`, label-6, y+15, name)
		fmt.Fprintf(&b, `<rect class="bar" data-version="%s" data-count="%d" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %d</title></rect>`,
			name, v.Downloads, label, y+3, max(w, 1), row-6, name, v.Downloads)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis">%d</text>`, float64(label)+max(w, 1)+4, y+15, v.Downloads)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- the only text, version names, is escaped
}
