// Package plot draws small static charts (histograms, line charts, bar charts) as inline SVG
// and assembles them into self-contained HTML reports, so a case study's results open in any
// browser with no script, stylesheet or network access.
//
// Charts are plain values: fill the struct, call SVG. Every piece of text is escaped, so
// labels may come from data. Non-finite values (NaN, ±Inf) are skipped, counted and reported
// in a footnote under the chart rather than rejected, because a report written at the end of
// a long run should still show everything that was measurable; structural mistakes (x and y
// of different lengths, bin edges out of order) are errors. A chart with no finite values
// renders as a framed "no data" panel.
package plot

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Chart is anything that renders to an inline SVG fragment; Histogram, Lines and Bars do.
type Chart interface {
	SVG() (template.HTML, error)
}

var (
	_ Chart = Histogram{}
	_ Chart = Lines{}
	_ Chart = Bars{}
)

// Series colours, used in this order when a series sets none: the Okabe–Ito set, chosen to
// stay distinguishable with the common forms of colour blindness (its yellow is left out, it
// vanishes on white). Callers wanting a fixed meaning (fraud red, legitimate blue) name one.
const (
	Blue   = "#0072B2"
	Red    = "#D55E00"
	Green  = "#009E73"
	Orange = "#E69F00"
	Purple = "#CC79A7"
	Sky    = "#56B4E9"
	Black  = "#000000"
	Grey   = "#777777"
)

func colorFor(i int, c string) string {
	if c != "" {
		return c
	}
	palette := [...]string{Blue, Red, Green, Orange, Purple, Sky, Black}
	return palette[i%len(palette)]
}

// esc makes s safe as SVG/HTML text or attribute content and valid XML: invalid UTF-8 is
// replaced and control characters XML forbids are dropped before HTML escaping.
func esc(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, s)
	return template.HTMLEscapeString(s)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// skipped tallies values left out of a chart, for its footnote.
type skipped struct {
	nonFinite   int // NaN or ±Inf
	nonPositive int // ≤ 0 on a log axis
	outside     int // outside the histogram's bins
	zeroTime    int // zero time.Time
}

func (s skipped) notes() []string {
	var n []string
	plural := func(k int, one, many string) string {
		if k == 1 {
			return one
		}
		return many
	}
	if s.nonFinite > 0 {
		n = append(n, fmt.Sprintf("%d non-finite %s (NaN/Inf) skipped", s.nonFinite, plural(s.nonFinite, "value", "values")))
	}
	if s.zeroTime > 0 {
		n = append(n, fmt.Sprintf("%d %s without a time skipped", s.zeroTime, plural(s.zeroTime, "point", "points")))
	}
	if s.nonPositive > 0 {
		n = append(n, fmt.Sprintf("%d %s ≤ 0 not shown on the log axis", s.nonPositive, plural(s.nonPositive, "value", "values")))
	}
	if s.outside > 0 {
		n = append(n, fmt.Sprintf("%d %s outside the bins not counted", s.outside, plural(s.outside, "value", "values")))
	}
	return n
}
