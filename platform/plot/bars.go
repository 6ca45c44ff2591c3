package plot

import (
	"fmt"
	"html/template"
	"math"
	"unicode/utf8"
)

// Bars draws values per category as vertical bars, grouped side by side when there are
// several series: decisions by path in total (one series) or per day (one series per path).
type Bars struct {
	Title, XLabel, YLabel string
	Categories            []string
	Series                []BarSeries
	ValueLabels           bool // print each bar's value above it
}

// BarSeries holds one value per category; Color defaults to the palette. A non-finite value
// draws no bar and is counted in the footnote.
type BarSeries struct {
	Name   string
	Values []float64
	Color  string
}

// SVG renders the chart.
func (b Bars) SVG() (template.HTML, error) {
	var sk skipped
	lo, hi := 0.0, math.Inf(-1)
	for _, s := range b.Series {
		if len(s.Values) != len(b.Categories) {
			return "", fmt.Errorf("bars %q: series %q has %d values for %d categories: %w", b.Title, s.Name, len(s.Values), len(b.Categories), ErrLengthMismatch)
		}
		for _, v := range s.Values {
			if !finite(v) {
				sk.nonFinite++
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	var legend []legendItem
	if len(b.Series) > 1 {
		for i, s := range b.Series {
			legend = append(legend, legendItem{s.Name, colorFor(i, s.Color), "solid"})
		}
	}
	if hi == math.Inf(-1) {
		c := newCanvas(b.Title, legend, 52, 54)
		c.noData()
		return c.end(sk.notes()), nil
	}
	ya, err := linearAxis(lo, math.Max(hi, 0), 5, true)
	if err != nil {
		return "", fmt.Errorf("bars %q: %w", b.Title, err)
	}
	// Category labels turn 35° when they would collide.
	longest := 0
	for _, cat := range b.Categories {
		longest = max(longest, utf8.RuneCountInString(cat))
	}
	slot := (chartW - marginRight - leftMargin(ya)) / float64(len(b.Categories))
	rotate := charW*float64(longest) > slot-4
	bottom := 54.0
	if rotate {
		bottom = math.Min(54+0.6*charW*float64(longest), 140)
	}
	c := newCanvas(b.Title, legend, leftMargin(ya), bottom)
	c.yAxis(ya, b.YLabel)
	for i, cat := range b.Categories {
		x := c.left + (float64(i)+0.5)*slot
		if rotate {
			fmt.Fprintf(&c.b, `<text class="xtick" x="%.1f" y="%.1f" font-size="11" text-anchor="end" transform="rotate(-35 %.1f %.1f)">%s</text>`, x, c.bottom+14, x, c.bottom+14, esc(cat))
		} else {
			fmt.Fprintf(&c.b, `<text class="xtick" x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, x, c.bottom+16, esc(cat))
		}
	}
	fmt.Fprintf(&c.b, `<text class="xlabel" x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s</text>`, c.left+c.w()/2, chartH-18, esc(b.XLabel))
	group := slot * 0.8
	bw := group / float64(max(len(b.Series), 1))
	zero := c.sy(ya, 0)
	for si, s := range b.Series {
		col := esc(colorFor(si, s.Color))
		for i, v := range s.Values {
			if !finite(v) {
				continue
			}
			x := c.left + float64(i)*slot + (slot-group)/2 + float64(si)*bw
			y := c.sy(ya, v)
			top, height := math.Min(y, zero), math.Abs(zero-y)
			label := b.Categories[i]
			if s.Name != "" {
				label = s.Name + ", " + label
			}
			fmt.Fprintf(&c.b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s: %s</title></rect>`,
				x+0.5, top, math.Max(bw-1, 0.5), height, col, esc(label), fmtNum(v))
			if b.ValueLabels {
				ty := top - 3
				if v < 0 {
					ty = top + height + 11
				}
				fmt.Fprintf(&c.b, `<text class="value" x="%.2f" y="%.2f" font-size="10" text-anchor="middle">%s</text>`, x+bw/2, ty, esc(fmtNum(v)))
			}
		}
	}
	fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.2f" y2="%.2f" stroke="#555"/>`, c.left, c.right, zero, zero)
	c.frame()
	return c.end(sk.notes()), nil
}
