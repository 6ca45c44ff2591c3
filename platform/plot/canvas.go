package plot

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"unicode/utf8"
)

// Chart geometry, in SVG user units; the SVG scales down to narrow screens.
const (
	chartW      = 760.0
	chartH      = 330.0
	marginRight = 20.0
	charW       = 6.6 // rough width of one 11px character, for layout only
)

type legendItem struct {
	name, color string
	kind        string // "box" (translucent), "solid", "line" or "dashed"
}

// canvas accumulates one chart's SVG. Its plot area is [left, right] × [top, bottom].
type canvas struct {
	b                        strings.Builder
	left, right, top, bottom float64
}

// newCanvas opens the SVG with its title and legend; the legend wraps onto as many rows as
// it needs and the plot area starts below it. left and bottom are the margins that the y
// tick labels and the x axis need.
func newCanvas(title string, legend []legendItem, left, bottom float64) *canvas {
	c := &canvas{left: left, right: chartW - marginRight, bottom: chartH - bottom}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s" font-family="system-ui, sans-serif" style="max-width:100%%;height:auto">`,
		chartW, chartH, chartW, chartH, esc(title))
	fmt.Fprintf(&c.b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&c.b, `<rect width="%.0f" height="%.0f" fill="#fff"/>`, chartW, chartH)
	fmt.Fprintf(&c.b, `<text class="title" x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`, left, esc(title))
	y, x := 38.0, left
	for _, it := range legend {
		w := 30 + charW*float64(utf8.RuneCountInString(it.name)) + 18
		if x+w > c.right && x > left {
			x, y = left, y+16
		}
		switch it.kind {
		case "box":
			fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="20" height="10" fill="%s" fill-opacity="0.35" stroke="%s" stroke-width="1.5"/>`, x, y-8, esc(it.color), esc(it.color))
		case "solid":
			fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="20" height="10" fill="%s"/>`, x, y-8, esc(it.color))
		default:
			dash := ""
			if it.kind == "dashed" {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, x, x+20, y-3, y-3, esc(it.color), dash)
		}
		fmt.Fprintf(&c.b, `<text class="legend" x="%.1f" y="%.1f" font-size="11">%s</text>`, x+26, y+1, esc(it.name))
		x += w
	}
	c.top = 30
	if len(legend) > 0 {
		c.top = y + 14
	}
	return c
}

func (c *canvas) w() float64 { return c.right - c.left }
func (c *canvas) h() float64 { return c.bottom - c.top }

// sx and sy map axis values to SVG coordinates.
func (c *canvas) sx(a axis, v float64) float64 { return c.left + a.frac(v)*c.w() }
func (c *canvas) sy(a axis, v float64) float64 { return c.bottom - a.frac(v)*c.h() }

// yAxis draws horizontal grid lines with their labels, and the rotated y axis title.
func (c *canvas) yAxis(a axis, label string) {
	for i, v := range a.ticks {
		y := c.sy(a, v)
		fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e6e6e6"/>`, c.left, c.right, y, y)
		fmt.Fprintf(&c.b, `<text class="ytick" x="%.1f" y="%.1f" font-size="11" text-anchor="end">%s</text>`, c.left-6, y+4, esc(a.labels[i]))
	}
	mid := (c.top + c.bottom) / 2
	fmt.Fprintf(&c.b, `<text class="ylabel" x="14" y="%.1f" font-size="12" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`, mid, mid, esc(label))
}

// xAxis draws vertical grid lines with their labels, and the x axis title.
func (c *canvas) xAxis(a axis, label string) {
	for i, v := range a.ticks {
		x := c.sx(a, v)
		fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#f0f0f0"/>`, x, x, c.top, c.bottom)
		// A label centred on a tick near the right edge would run off the image.
		anchor, lx := "middle", x
		if half := charW * float64(utf8.RuneCountInString(a.labels[i])) / 2; x+half > chartW-2 {
			anchor, lx = "end", chartW-2
		}
		fmt.Fprintf(&c.b, `<text class="xtick" x="%.1f" y="%.1f" font-size="11" text-anchor="%s">%s</text>`, lx, c.bottom+16, anchor, esc(a.labels[i]))
	}
	c.xLabel(label)
}

func (c *canvas) xLabel(label string) {
	fmt.Fprintf(&c.b, `<text class="xlabel" x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s</text>`, c.left+c.w()/2, c.bottom+33, esc(label))
}

func (c *canvas) frame() {
	fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, c.left, c.top, c.w(), c.h())
}

// noData marks a chart that had nothing finite to draw.
func (c *canvas) noData() {
	c.frame()
	fmt.Fprintf(&c.b, `<text class="nodata" x="%.1f" y="%.1f" font-size="14" fill="#777" text-anchor="middle">no data</text>`, c.left+c.w()/2, c.top+c.h()/2)
}

// end writes the footnotes (what was skipped) and closes the SVG.
func (c *canvas) end(notes []string) template.HTML {
	if len(notes) > 0 {
		fmt.Fprintf(&c.b, `<text class="note" x="%.1f" y="%.1f" font-size="10" fill="#777">%s</text>`, c.left, chartH-4.0, esc(strings.Join(notes, "; ")))
	}
	c.b.WriteString(`</svg>`)
	// Safe: every string that reached the builder went through esc; the rest are numbers.
	return template.HTML(c.b.String())
}

// leftMargin is the room the y tick labels need, plus the rotated axis title.
func leftMargin(a axis) float64 {
	n := 0
	for _, l := range a.labels {
		n = max(n, utf8.RuneCountInString(l))
	}
	return math.Max(52, charW*float64(n)+34)
}
