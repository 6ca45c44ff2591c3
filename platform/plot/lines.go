package plot

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Lines draws x/y series as lines with a legend, e.g. precision and recall per day or
// latency percentiles over time. The x values are numbers (Series.X) or times (Series.T),
// the same kind for every series of a chart.
type Lines struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY                  bool // values ≤ 0 break the line and are counted in the footnote
	Points                bool // draw a dot at every point, for sparse series such as days
	// The y axis spans at least [YMin, YMax] when YMax > YMin (precision: 0 to 1); otherwise
	// a linear axis runs from zero, or from the data's minimum if that is negative.
	YMin, YMax float64
	// XTicks, when set, are the numeric x axis's only ticks, for an axis whose values are a
	// transform of what a reader knows: latency by percentile on a "nines" axis puts p99 at
	// x = 2 and labels it "99". The axis spans the ticks and the data. Increasing and finite.
	XTicks []Tick
	// Thresholds are horizontal reference lines across the plot (a drift alert level, an
	// SLO), drawn dashed and labelled at the right; the y axis stretches to show them.
	Thresholds []Threshold
}

// Threshold is a labelled horizontal line at Y. Color defaults to a dark grey.
type Threshold struct {
	Y     float64
	Label string
	Color string
}

// Tick is a labelled position on an axis.
type Tick struct {
	At    float64
	Label string
}

// Series is one line. Set X or T, with as many entries as Y. A point whose x or y is not
// finite, or whose time is zero, is skipped and leaves a gap in the line.
type Series struct {
	Name   string
	X      []float64
	T      []time.Time
	Y      []float64
	Color  string
	Dashed bool
}

type point struct {
	x, y float64
	ok   bool // false: a gap
}

// points validates the series and turns them into coordinates; x of a time is its Unix
// seconds. It reports whether the x axis is time and in which location to label it.
func (l Lines) points() ([][]point, bool, *time.Location, skipped, error) {
	var sk skipped
	isTime, isNum := false, false
	var loc *time.Location
	out := make([][]point, len(l.Series))
	for si, s := range l.Series {
		if len(s.X) > 0 && len(s.T) > 0 {
			return nil, false, nil, sk, fmt.Errorf("series %q sets both X and T: %w", s.Name, ErrMixedX)
		}
		n := len(s.X)
		if len(s.T) > 0 {
			n = len(s.T)
			isTime = true
			if loc == nil {
				loc = s.T[0].Location()
			}
		} else if len(s.X) > 0 {
			isNum = true
		}
		if n != len(s.Y) {
			return nil, false, nil, sk, fmt.Errorf("series %q has %d x values and %d y values: %w", s.Name, n, len(s.Y), ErrLengthMismatch)
		}
		pts := make([]point, n)
		for i, y := range s.Y {
			var x float64
			if len(s.T) > 0 {
				if s.T[i].IsZero() {
					sk.zeroTime++
					continue
				}
				x = unixSeconds(s.T[i])
			} else {
				x = s.X[i]
			}
			switch {
			case !finite(x) || !finite(y):
				sk.nonFinite++
			case l.LogY && y <= 0:
				sk.nonPositive++
			default:
				pts[i] = point{x, y, true}
			}
		}
		out[si] = pts
	}
	if isTime && isNum {
		return nil, false, nil, sk, ErrMixedX
	}
	if loc == nil {
		loc = time.UTC
	}
	return out, isTime, loc, sk, nil
}

// SVG renders the chart.
func (l Lines) SVG() (template.HTML, error) {
	series, isTime, loc, sk, err := l.points()
	if err != nil {
		return "", fmt.Errorf("lines %q: %w", l.Title, err)
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi, minPos := math.Inf(1), math.Inf(-1), math.Inf(1)
	for _, pts := range series {
		for _, p := range pts {
			if !p.ok {
				continue
			}
			xlo, xhi = math.Min(xlo, p.x), math.Max(xhi, p.x)
			ylo, yhi = math.Min(ylo, p.y), math.Max(yhi, p.y)
			if p.y > 0 {
				minPos = math.Min(minPos, p.y)
			}
		}
	}
	legend := make([]legendItem, 0, len(l.Series))
	for i, s := range l.Series {
		if s.Name == "" {
			continue
		}
		kind := "line"
		if s.Dashed {
			kind = "dashed"
		}
		legend = append(legend, legendItem{s.Name, colorFor(i, s.Color), kind})
	}
	if xlo > xhi {
		c := newCanvas(l.Title, legend, 52, 54)
		c.noData()
		return c.end(sk.notes()), nil
	}
	for i, th := range l.Thresholds {
		if !finite(th.Y) || (l.LogY && th.Y <= 0) {
			return "", fmt.Errorf("lines %q: threshold %d (%v) cannot be drawn: %w", l.Title, i, th.Y, ErrRange)
		}
		ylo, yhi = math.Min(ylo, th.Y), math.Max(yhi, th.Y)
		if th.Y > 0 {
			minPos = math.Min(minPos, th.Y)
		}
	}
	if l.YMax > l.YMin {
		ylo, yhi = math.Min(ylo, l.YMin), math.Max(yhi, l.YMax)
		if l.LogY && l.YMin > 0 {
			minPos = math.Min(minPos, l.YMin)
		}
	}
	var xa, ya axis
	if len(l.XTicks) > 0 && isTime {
		return "", fmt.Errorf("lines %q: XTicks on a time axis: %w", l.Title, ErrMixedX)
	}
	if isTime {
		xa = timeAxis(xlo, xhi, 7, loc)
	} else if len(l.XTicks) > 0 {
		if xa, err = tickAxis(xlo, xhi, l.XTicks); err != nil {
			return "", fmt.Errorf("lines %q: %w", l.Title, err)
		}
	} else if xa, err = linearAxis(xlo, xhi, 8, true); err != nil {
		return "", fmt.Errorf("lines %q: %w", l.Title, err)
	}
	if l.LogY {
		ya = logAxis(minPos, math.Max(yhi, minPos))
	} else {
		lo, hi := math.Min(ylo, 0), math.Max(yhi, 0)
		if l.YMax > l.YMin {
			lo = math.Min(ylo, l.YMin) // an explicit range replaces the pull to zero
		}
		if ya, err = linearAxis(lo, hi, 5, true); err != nil {
			return "", fmt.Errorf("lines %q: %w", l.Title, err)
		}
	}
	c := newCanvas(l.Title, legend, leftMargin(ya), 54)
	c.yAxis(ya, l.YLabel)
	c.xAxis(xa, l.XLabel)
	c.frame()
	for _, th := range l.Thresholds {
		col := th.Color
		if col == "" {
			col = "#555"
		}
		y := c.sy(ya, th.Y)
		fmt.Fprintf(&c.b, `<line class="threshold" x1="%.2f" x2="%.2f" y1="%.2f" y2="%.2f" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3"><title>%s</title></line>`,
			c.left, c.right, y, y, esc(col), esc(th.Label+" = "+fmtNum(th.Y)))
		if th.Label != "" {
			fmt.Fprintf(&c.b, `<text x="%.2f" y="%.2f" font-size="10" text-anchor="end" fill="%s">%s</text>`, c.right-3, y-3, esc(col), esc(th.Label))
		}
	}
	for si, pts := range series {
		s := l.Series[si]
		col := esc(colorFor(si, s.Color))
		var d strings.Builder
		pen := false // the next point continues a line
		for _, p := range pts {
			if !p.ok {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.2f %.2f ", cmd, c.sx(xa, p.x), c.sy(ya, p.y))
			if !pen {
				d.WriteString("l0 0 ") // a lone point still shows, as a round cap
			}
			pen = true
		}
		if d.Len() == 0 {
			continue
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&c.b, `<path class="series" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"%s><title>%s</title></path>`,
			strings.TrimSpace(d.String()), col, dash, esc(s.Name))
		if !l.Points {
			continue
		}
		for i, p := range pts {
			if !p.ok {
				continue
			}
			fmt.Fprintf(&c.b, `<circle class="point" cx="%.2f" cy="%.2f" r="3" fill="%s"><title>%s: %s</title></circle>`,
				c.sx(xa, p.x), c.sy(ya, p.y), col, esc(s.Name), esc(l.pointLabel(s, i, p, loc)))
		}
	}
	return c.end(sk.notes()), nil
}

// tickAxis is a linear axis over the data and the given ticks, labelled only at them.
func tickAxis(lo, hi float64, ticks []Tick) (axis, error) {
	for i, t := range ticks {
		if !finite(t.At) || (i > 0 && t.At <= ticks[i-1].At) {
			return axis{}, fmt.Errorf("x tick %d (%v): want finite and increasing: %w", i, t.At, ErrRange)
		}
	}
	lo, hi = widen(math.Min(lo, ticks[0].At), math.Max(hi, ticks[len(ticks)-1].At))
	a := axis{lo: lo, hi: hi}
	for _, t := range ticks {
		a.ticks, a.labels = append(a.ticks, t.At), append(a.labels, t.Label)
	}
	return a, nil
}

func (l Lines) pointLabel(s Series, i int, p point, loc *time.Location) string {
	x := fmtNum(p.x)
	if len(s.T) > 0 {
		x = s.T[i].In(loc).Format("2006-01-02 15:04:05")
	}
	return x + " → " + fmtNum(p.y)
}
