package loadgen

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// A small line-chart renderer producing inline SVG, so HTML reports need no script, CDN or
// network to open.

type chart struct {
	title, xLabel, yLabel string
	logY                  bool
	legendLeft            bool   // for curves that rise to the right
	xTicks                []tick // nil: evenly spaced numeric ticks
	series                []plotSeries
}

type tick struct {
	v     float64
	label string
}

type plotSeries struct {
	name, color string
	dashed      bool
	pts         []pt
}

type pt struct{ x, y float64 }

const (
	chartW, chartH                     = 760, 300
	marginL, marginR, marginT, marginB = 70, 20, 34, 46
)

func (c chart) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`, marginL, html.EscapeString(c.title))

	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.pts {
			if c.logY && p.y <= 0 {
				continue
			}
			minX, maxX = math.Min(minX, p.x), math.Max(maxX, p.x)
			minY, maxY = math.Min(minY, p.y), math.Max(maxY, p.y)
		}
	}
	if math.IsInf(minX, 1) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">no data</text></svg>`, chartW/2-30, chartH/2)
		return b.String()
	}
	if len(c.xTicks) > 0 {
		minX = math.Min(minX, c.xTicks[0].v)
		maxX = math.Max(maxX, c.xTicks[len(c.xTicks)-1].v)
	} else {
		minX = math.Min(minX, 0)
	}
	if maxX == minX {
		maxX = minX + 1
	}
	var yTicks []tick
	var y0, y1 float64
	if c.logY {
		y0, y1 = math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
		if y1 <= y0 {
			y1 = y0 + 1
		}
		for d := y0; d <= y1; d++ {
			yTicks = append(yTicks, tick{d, decadeLabel(d)})
		}
	} else {
		y0, y1 = 0, niceCeil(maxY)
		for i := 0; i <= 5; i++ {
			v := y1 * float64(i) / 5
			yTicks = append(yTicks, tick{v, trimFloat(v)})
		}
	}
	plotW, plotH := float64(chartW-marginL-marginR), float64(chartH-marginT-marginB)
	sx := func(x float64) float64 { return float64(marginL) + (x-minX)/(maxX-minX)*plotW }
	sy := func(y float64) float64 {
		if c.logY {
			y = math.Log10(y)
		}
		return float64(marginT) + plotH - (y-y0)/(y1-y0)*plotH
	}
	// Grid and axes.
	for _, t := range yTicks {
		y := float64(marginT) + plotH - (t.v-y0)/(y1-y0)*plotH
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, marginL, chartW-marginR, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`, marginL-6, y+4, html.EscapeString(t.label))
	}
	xTicks := c.xTicks
	if len(xTicks) == 0 {
		step := niceCeil((maxX - minX) / 8)
		for v := math.Ceil(minX/step) * step; v <= maxX+1e-9; v += step {
			xTicks = append(xTicks, tick{v, trimFloat(v)})
		}
	}
	for _, t := range xTicks {
		x := sx(t.v)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#f0f0f0"/>`, x, x, marginT, chartH-marginB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x, chartH-marginB+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, marginL, marginT, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" font-size="12" text-anchor="middle">%s</text>`, float64(marginL)+plotW/2, chartH-8, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.0f" font-size="12" text-anchor="middle" transform="rotate(-90 14 %.0f)">%s</text>`,
		float64(marginT)+plotH/2, float64(marginT)+plotH/2, html.EscapeString(c.yLabel))
	// Lines: a non-positive value on a log axis breaks the line rather than inventing a point.
	for i, s := range c.series {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var seg []string
		flush := func() {
			if len(seg) == 1 {
				seg = append(seg, seg[0])
			}
			if len(seg) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.color, dash, strings.Join(seg, " "))
			}
			seg = seg[:0]
		}
		for _, p := range s.pts {
			if c.logY && p.y <= 0 {
				flush()
				continue
			}
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", sx(p.x), sy(p.y)))
		}
		flush()
		ly, lx := marginT+14+16*i, chartW-marginR-200
		if c.legendLeft {
			lx = marginL + 12
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, lx, lx+24, ly, ly, s.color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text>`, lx+30, ly+4, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// decadeLabel names 10^d milliseconds.
func decadeLabel(d float64) string {
	ms := math.Pow(10, d)
	switch {
	case ms >= 1000:
		return trimFloat(ms/1000) + "s"
	case ms >= 1:
		return trimFloat(ms) + "ms"
	default:
		return trimFloat(ms*1000) + "µs"
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
