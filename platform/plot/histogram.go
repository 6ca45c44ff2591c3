package plot

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Histogram counts one or more series into shared bins and overlays them as translucent bars,
// e.g. the scores of fraudulent against legitimate transactions.
type Histogram struct {
	Title, XLabel, YLabel string // YLabel defaults to "count" or "fraction of series"
	Series                []HistSeries
	// Edges are explicit bin edges, strictly increasing; bin i is [Edges[i], Edges[i+1]) and
	// the last bin also holds its upper edge. Values outside are counted in the footnote.
	// When nil, about Bins bins of a round width cover the data (Bins defaults to 20).
	Edges []float64
	Bins  int
	// Normalize plots each series' share of its own finite values per bin instead of counts,
	// so groups of very different size (1% fraud) can be compared on one axis.
	Normalize bool
	LogY      bool // empty bins draw nothing on a log axis
	Markers   []Marker
}

// HistSeries is one group of values; Color defaults to the palette.
type HistSeries struct {
	Name   string
	Values []float64
	Color  string
}

// Marker is a labelled dashed vertical line at X, such as a decision threshold.
type Marker struct {
	X     float64
	Label string
	Color string // default grey
}

// LinearEdges returns n equal-width bins' edges from lo to hi, for Histogram.Edges.
func LinearEdges(lo, hi float64, n int) []float64 {
	if n < 1 || !(hi > lo) {
		return nil
	}
	e := make([]float64, n+1)
	for i := range e {
		e[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	e[n] = hi
	return e
}

// bins returns the bin edges to use and whether the data had hasData finite value.
func (h Histogram) bins() ([]float64, bool, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range h.Series {
		for _, v := range s.Values {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	hasData := lo <= hi
	if h.Edges != nil {
		if len(h.Edges) < 2 {
			return nil, hasData, fmt.Errorf("%d edges: %w", len(h.Edges), ErrBadBins)
		}
		for i, e := range h.Edges {
			if !finite(e) || (i > 0 && e <= h.Edges[i-1]) {
				return nil, hasData, fmt.Errorf("edge %d = %v: %w", i, e, ErrBadBins)
			}
		}
		return h.Edges, hasData, nil
	}
	if !hasData {
		return nil, false, nil
	}
	n := h.Bins
	if n <= 0 {
		n = 20
	}
	lo, hi = widen(lo, hi)
	if !finite(hi - lo) {
		return nil, true, ErrRange
	}
	step := niceStep(hi-lo, n)
	first := math.Floor(lo/step + 1e-9)
	last := max(math.Ceil(hi/step-1e-9), first+1)
	var e []float64
	for i := first; i <= last; i++ {
		e = append(e, i*step)
	}
	return e, true, nil
}

// count bins each series; the second result tallies values that were left out.
func (h Histogram) count(edges []float64) ([][]float64, skipped) {
	var sk skipped
	out := make([][]float64, len(h.Series))
	last := len(edges) - 1
	for si, s := range h.Series {
		c := make([]float64, last)
		n := 0
		for _, v := range s.Values {
			if !finite(v) {
				sk.nonFinite++
				continue
			}
			n++
			if v < edges[0] || v > edges[last] {
				sk.outside++
				continue
			}
			i := sort.SearchFloat64s(edges, v) // first edge ≥ v
			if i == last || edges[i] != v {
				i--
			}
			c[max(i, 0)]++
		}
		if h.Normalize && n > 0 {
			for i := range c {
				c[i] /= float64(n)
			}
		}
		out[si] = c
	}
	return out, sk
}

// SVG renders the histogram.
func (h Histogram) SVG() (template.HTML, error) {
	edges, hasData, err := h.bins()
	if err != nil {
		return "", fmt.Errorf("histogram %q: %w", h.Title, err)
	}
	legend := make([]legendItem, 0, len(h.Series)+len(h.Markers))
	for i, s := range h.Series {
		if s.Name != "" {
			legend = append(legend, legendItem{s.Name, colorFor(i, s.Color), "box"})
		}
	}
	var sk skipped
	markers := make([]Marker, 0, len(h.Markers))
	for _, m := range h.Markers {
		if !finite(m.X) {
			sk.nonFinite++
			continue
		}
		if m.Color == "" {
			m.Color = Grey
		}
		markers = append(markers, m) // labelled on the plot, not in the legend
	}
	if !hasData {
		c := newCanvas(h.Title, legend, 52, 54)
		c.noData()
		for _, s := range h.Series {
			for _, v := range s.Values {
				if !finite(v) {
					sk.nonFinite++
				}
			}
		}
		return c.end(sk.notes()), nil
	}
	counts, skc := h.count(edges)
	skc.nonFinite += sk.nonFinite
	sk = skc

	xlo, xhi := edges[0], edges[len(edges)-1]
	for _, m := range markers {
		xlo, xhi = math.Min(xlo, m.X), math.Max(xhi, m.X)
	}
	xa, err := linearAxis(xlo, xhi, 10, false)
	if err != nil {
		return "", fmt.Errorf("histogram %q: %w", h.Title, err)
	}
	ymax, minPos := 0.0, math.Inf(1)
	for _, c := range counts {
		for _, v := range c {
			ymax = math.Max(ymax, v)
			if v > 0 {
				minPos = math.Min(minPos, v)
			}
		}
	}
	var ya axis
	if h.LogY && ymax > 0 {
		ya = logAxis(minPos, ymax)
	} else {
		if ya, err = linearAxis(0, ymax, 5, true); err != nil {
			return "", fmt.Errorf("histogram %q: %w", h.Title, err)
		}
	}
	ylabel := h.YLabel
	if ylabel == "" {
		ylabel = "count"
		if h.Normalize {
			ylabel = "fraction of series"
		}
	}
	c := newCanvas(h.Title, legend, leftMargin(ya), 54)
	c.yAxis(ya, ylabel)
	c.xAxis(xa, h.XLabel)
	// Translucent fills first, then each series' outline on top, so overlapping groups both
	// keep a readable shape. The first series is drawn last, on top.
	base := c.bottom
	for si := len(h.Series) - 1; si >= 0; si-- {
		s := h.Series[si]
		col := esc(colorFor(si, s.Color))
		for i, v := range counts[si] {
			if v <= 0 {
				continue
			}
			x0, x1 := c.sx(xa, edges[i]), c.sx(xa, edges[i+1])
			y := c.sy(ya, v)
			fmt.Fprintf(&c.b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s" fill-opacity="0.35"><title>%s [%s, %s): %s</title></rect>`,
				x0, y, math.Max(x1-x0, 0.5), base-y, col,
				esc(s.Name), fmtNum(edges[i]), fmtNum(edges[i+1]), fmtNum(v))
		}
	}
	for si := len(h.Series) - 1; si >= 0; si-- {
		if d := outline(c, xa, ya, edges, counts[si]); d != "" {
			fmt.Fprintf(&c.b, `<path class="outline" d="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, d, esc(colorFor(si, h.Series[si].Color)))
		}
	}
	for i, m := range markers {
		x := c.sx(xa, m.X)
		col := esc(m.Color)
		fmt.Fprintf(&c.b, `<line class="marker" x1="%.2f" x2="%.2f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="6 4"/>`, x, x, c.top, c.bottom, col)
		if m.Label != "" {
			anchor, dx := "start", 4.0
			if x > c.left+0.75*c.w() {
				anchor, dx = "end", -4
			}
			fmt.Fprintf(&c.b, `<text class="marker-label" x="%.2f" y="%.1f" font-size="10" fill="%s" text-anchor="%s">%s</text>`, x+dx, c.top+12+12*float64(i), col, anchor, esc(m.Label))
		}
	}
	c.frame()
	return c.end(sk.notes()), nil
}

// outline traces the top of a series' bars as a step line; empty bins drop to the axis (or
// break the line on a log axis, where zero has no place).
func outline(c *canvas, xa, ya axis, edges, counts []float64) string {
	var b strings.Builder
	pen := false
	for i, v := range counts {
		x0, x1 := c.sx(xa, edges[i]), c.sx(xa, edges[i+1])
		y := c.bottom
		if v > 0 {
			y = c.sy(ya, v)
		} else if ya.log {
			pen = false
			continue
		}
		if !pen {
			fmt.Fprintf(&b, "M%.2f %.2f ", x0, c.bottom)
			pen = true
		}
		fmt.Fprintf(&b, "L%.2f %.2f L%.2f %.2f ", x0, y, x1, y)
		if ya.log && (i+1 == len(counts) || counts[i+1] <= 0) {
			fmt.Fprintf(&b, "L%.2f %.2f ", x1, c.bottom)
		}
	}
	if pen && !ya.log {
		fmt.Fprintf(&b, "L%.2f %.2f", c.sx(xa, edges[len(edges)-1]), c.bottom)
	}
	return strings.TrimSpace(b.String())
}

// fmtNum prints a value compactly for tooltips and value labels: whole numbers in full with
// thousands separators, others to four significant digits.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		s := strconv.FormatFloat(math.Abs(v), 'f', 0, 64)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		if v < 0 {
			s = "-" + s
		}
		return s
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
