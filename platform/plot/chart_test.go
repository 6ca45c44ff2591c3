package plot

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h         Histogram
		wantBars  int
		wantNote  string // in the footnote; "" for none
		wantNoDat bool
	}{
		{
			name: "two series, explicit edges",
			h: Histogram{
				Title: "scores", Edges: LinearEdges(0, 1, 4),
				Series: []HistSeries{
					{Name: "legit", Values: []float64{0.1, 0.1, 0.2, 0.3}},        // bins 0, 1
					{Name: "fraud", Values: []float64{0.6, 0.9, 1.0, 0.75, 0.74}}, // bins 2, 3
				},
				Markers: []Marker{{X: 0.5, Label: "review"}, {X: 0.8, Label: "decline"}},
			},
			wantBars: 4,
		},
		{
			name: "NaN and Inf skipped and counted",
			h:    Histogram{Title: "x", Series: []HistSeries{{Name: "a", Values: []float64{1, 2, math.NaN(), math.Inf(1), 3}}}},
			// computed bins: 1, 2 and 3 fall into three distinct bins
			wantBars: 3, wantNote: "2 non-finite values",
		},
		{
			name:     "values outside explicit edges",
			h:        Histogram{Edges: []float64{0, 1}, Series: []HistSeries{{Values: []float64{-1, 0.5, 2}}}},
			wantBars: 1, wantNote: "2 values outside the bins",
		},
		{
			name:     "log y, normalized",
			h:        Histogram{LogY: true, Normalize: true, Edges: []float64{0, 1, 2, 3}, Series: []HistSeries{{Values: []float64{0.5, 1.5, 1.5, 1.5}}, {Values: []float64{2.5}}}},
			wantBars: 3,
		},
		{name: "no series", h: Histogram{Title: "empty"}, wantNoDat: true},
		{name: "empty series", h: Histogram{Series: []HistSeries{{Name: "a"}, {Name: "b"}}}, wantNoDat: true},
		{name: "only NaN", h: Histogram{Series: []HistSeries{{Values: []float64{math.NaN()}}}}, wantNoDat: true, wantNote: "1 non-finite value"},
		{name: "one repeated value", h: Histogram{Series: []HistSeries{{Values: []float64{7, 7, 7}}}}, wantBars: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg, err := tc.h.SVG()
			if err != nil {
				t.Fatalf("SVG() error %v", err)
			}
			doc := parseSVG(t, svg)
			if got := doc.count["rect.bar"]; got != tc.wantBars {
				t.Errorf("bars = %d, want %d", got, tc.wantBars)
			}
			if got := doc.count["text.nodata"] > 0; got != tc.wantNoDat {
				t.Errorf("no-data panel = %v, want %v", got, tc.wantNoDat)
			}
			if tc.wantNote != "" && !doc.hasText(tc.wantNote) {
				t.Errorf("footnote %q missing; texts %q", tc.wantNote, doc.text)
			}
			if tc.wantNote == "" && doc.count["text.note"] > 0 {
				t.Errorf("unexpected footnote; texts %q", doc.text)
			}
			withData := 0
			for _, s := range tc.h.Series {
				if slices.ContainsFunc(s.Values, finite) {
					withData++
				}
			}
			if got := doc.count["path.outline"]; got != withData && !tc.wantNoDat {
				t.Errorf("outlines = %d, want %d (one per series with data)", got, withData)
			}
			if got := doc.count["line.marker"]; got != len(tc.h.Markers) {
				t.Errorf("markers = %d, want %d", got, len(tc.h.Markers))
			}
		})
	}
}

func TestHistogramCounts(t *testing.T) {
	h := Histogram{Edges: []float64{0, 1, 2}, Series: []HistSeries{{Values: []float64{0, 0.5, 1, 1.5, 2, 2.1}}}}
	counts, sk := h.count(h.Edges)
	// [0,1) holds 0 and 0.5; [1,2] holds 1, 1.5 and the last edge 2.
	if counts[0][0] != 2 || counts[0][1] != 3 || sk.outside != 1 {
		t.Errorf("count() = %v, outside %d, want [[2 3]], outside 1", counts, sk.outside)
	}
	h.Normalize = true
	counts, _ = h.count(h.Edges)
	if math.Abs(counts[0][1]-0.5) > 1e-12 {
		t.Errorf("normalized count() = %v, want [[1/3 1/2]]: shares of all finite values", counts)
	}
}

func TestHistogramErrors(t *testing.T) {
	for _, edges := range [][]float64{{1}, {0, 0}, {1, 0}, {0, math.NaN()}, {0, math.Inf(1)}} {
		_, err := Histogram{Edges: edges, Series: []HistSeries{{Values: []float64{1}}}}.SVG()
		if !errors.Is(err, ErrBadBins) {
			t.Errorf("Histogram{Edges: %v}.SVG() error = %v, want ErrBadBins", edges, err)
		}
	}
}

func TestLines(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	days := []time.Time{day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2), day.AddDate(0, 0, 3)}
	for _, tc := range []struct {
		name                   string
		l                      Lines
		wantPaths, wantPoints  int
		wantNote               string
		wantNoData             bool
		wantSegments, wantText string
	}{
		{
			name: "numeric, two series",
			l: Lines{Title: "t", XLabel: "x", YLabel: "y", Points: true, Series: []Series{
				{Name: "a", X: []float64{1, 2, 3}, Y: []float64{1, 4, 9}},
				{Name: "b", X: []float64{1, 2, 3}, Y: []float64{2, 3, 4}, Dashed: true},
			}},
			wantPaths: 2, wantPoints: 6, wantText: "a",
		},
		{
			name: "time x, NaN leaves a gap",
			l: Lines{Points: true, YMin: 0, YMax: 1, Series: []Series{
				{Name: "precision", T: days, Y: []float64{0.9, math.NaN(), 0.8, 0.85}},
			}},
			wantPaths: 1, wantPoints: 3, wantNote: "1 non-finite value", wantText: "Mar 2",
		},
		{
			name: "log y drops non-positive",
			l: Lines{LogY: true, Series: []Series{
				{Name: "p99", X: []float64{0, 1, 2}, Y: []float64{5, 0, 50}},
			}},
			wantPaths: 1, wantNote: "1 value ≤ 0",
		},
		{
			name: "zero time skipped",
			l: Lines{Series: []Series{
				{Name: "a", T: []time.Time{day, {}, days[1]}, Y: []float64{1, 2, 3}},
			}},
			wantPaths: 1, wantNote: "1 point without a time",
		},
		{name: "no series", l: Lines{Title: "nothing"}, wantNoData: true},
		{name: "empty series", l: Lines{Series: []Series{{Name: "a"}}}, wantNoData: true},
		{name: "all NaN", l: Lines{Series: []Series{{X: []float64{1}, Y: []float64{math.NaN()}}}}, wantNoData: true, wantNote: "1 non-finite"},
		{name: "single point", l: Lines{Series: []Series{{X: []float64{3}, Y: []float64{3}}}}, wantPaths: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg, err := tc.l.SVG()
			if err != nil {
				t.Fatalf("SVG() error %v", err)
			}
			doc := parseSVG(t, svg)
			if got := doc.count["path.series"]; got != tc.wantPaths {
				t.Errorf("paths = %d, want %d", got, tc.wantPaths)
			}
			if got := doc.count["circle.point"]; got != tc.wantPoints {
				t.Errorf("points = %d, want %d", got, tc.wantPoints)
			}
			if got := doc.count["text.nodata"] > 0; got != tc.wantNoData {
				t.Errorf("no-data panel = %v, want %v", got, tc.wantNoData)
			}
			if tc.wantNote != "" && !doc.hasText(tc.wantNote) {
				t.Errorf("footnote %q missing; texts %q", tc.wantNote, doc.text)
			}
			if tc.wantText != "" && !doc.hasText(tc.wantText) {
				t.Errorf("text %q missing; texts %q", tc.wantText, doc.text)
			}
		})
	}
}

func TestLinesGap(t *testing.T) {
	svg, err := Lines{Series: []Series{{X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 2, math.NaN(), 3, 4}}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	// The path d attribute starts a new subpath (M) after the gap: two in all.
	s := string(svg)
	d := s[strings.Index(s, `class="series" d="`):]
	d = d[:strings.Index(d, `" fill`)]
	if got := strings.Count(d, "M"); got != 2 {
		t.Errorf("subpaths = %d in %s, want 2", got, d)
	}
}

func TestLinesErrors(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		s    []Series
		want error
	}{
		{"x longer", []Series{{X: []float64{1, 2}, Y: []float64{1}}}, ErrLengthMismatch},
		{"y without x", []Series{{Y: []float64{1}}}, ErrLengthMismatch},
		{"times shorter", []Series{{T: []time.Time{now}, Y: []float64{1, 2}}}, ErrLengthMismatch},
		{"both X and T", []Series{{X: []float64{1}, T: []time.Time{now}, Y: []float64{1}}}, ErrMixedX},
		{"mixed series", []Series{{X: []float64{1}, Y: []float64{1}}, {T: []time.Time{now}, Y: []float64{1}}}, ErrMixedX},
	} {
		if _, err := (Lines{Series: tc.s}).SVG(); !errors.Is(err, tc.want) {
			t.Errorf("%s: SVG() error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestBars(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b          Bars
		wantBars   int
		wantLegend int
		wantNoData bool
	}{
		{"one series", Bars{Title: "paths", Categories: []string{"model", "rules"}, Series: []BarSeries{{Values: []float64{900, 100}}}, ValueLabels: true}, 2, 0, false},
		{"grouped", Bars{Categories: []string{"Mar 1", "Mar 2", "Mar 3"}, Series: []BarSeries{{Name: "model", Values: []float64{1, 2, 3}}, {Name: "rules", Values: []float64{0, 1, math.NaN()}}}}, 5, 2, false},
		{"negative", Bars{Categories: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{-3, 2}}}}, 2, 0, false},
		{"long labels rotate", Bars{Categories: []string{strings.Repeat("very long category ", 3), "b", "c", "d", "e", "f", "g", "h"}, Series: []BarSeries{{Values: []float64{1, 2, 3, 4, 5, 6, 7, 8}}}}, 8, 0, false},
		{"empty", Bars{}, 0, 0, true},
		{"all NaN", Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{math.NaN()}}}}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg, err := tc.b.SVG()
			if err != nil {
				t.Fatalf("SVG() error %v", err)
			}
			doc := parseSVG(t, svg)
			if got := doc.count["rect.bar"]; got != tc.wantBars {
				t.Errorf("bars = %d, want %d", got, tc.wantBars)
			}
			if got := doc.count["text.legend"]; got != tc.wantLegend {
				t.Errorf("legend entries = %d, want %d", got, tc.wantLegend)
			}
			if got := doc.count["text.nodata"] > 0; got != tc.wantNoData {
				t.Errorf("no-data panel = %v, want %v", got, tc.wantNoData)
			}
		})
	}
	_, err := Bars{Categories: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{1}}}}.SVG()
	if !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("Bars with 1 value for 2 categories: error = %v, want ErrLengthMismatch", err)
	}
}

// Every label reaches the SVG as text, never as markup, and control characters that XML
// forbids do not break it.
func TestChartsEscapeText(t *testing.T) {
	evil := `<script>alert("x")</script> & 'q' ` + "\x00\x07\xff"
	charts := map[string]Chart{
		"histogram": Histogram{Title: evil, XLabel: evil, YLabel: evil, Series: []HistSeries{{Name: evil, Values: []float64{1, 2}, Color: `red"/><script>`}}, Markers: []Marker{{X: 1.5, Label: evil}}},
		"lines":     Lines{Title: evil, XLabel: evil, YLabel: evil, Points: true, Series: []Series{{Name: evil, X: []float64{1, 2}, Y: []float64{1, 2}}}},
		"bars":      Bars{Title: evil, XLabel: evil, YLabel: evil, Categories: []string{evil, "b"}, Series: []BarSeries{{Name: evil, Values: []float64{1, 2}}, {Name: "x", Values: []float64{1, 2}}}},
	}
	for name, c := range charts {
		svg, err := c.SVG()
		if err != nil {
			t.Fatalf("%s: SVG() error %v", name, err)
		}
		if strings.Contains(strings.ToLower(string(svg)), "<script") {
			t.Errorf("%s: SVG contains an unescaped <script", name)
		}
		doc := parseSVG(t, svg)
		if !doc.hasText(`<script>alert("x")</script> & 'q'`) {
			t.Errorf("%s: the label did not survive as text; texts %q", name, doc.text)
		}
	}
}

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 66000: "66,000", -1234567: "-1,234,567", 0.123456: "0.1235", 999: "999"} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}

// XTicks label a transformed axis: latency by percentile on a "nines" axis, where x is
// log10(1/(1-p)) and the reader wants "99", not "2".
func TestLinesXTicks(t *testing.T) {
	nines := func(p float64) float64 { return math.Log10(100 / (100 - p)) }
	l := Lines{LogY: true, XTicks: []Tick{{nines(0), "0"}, {nines(90), "90"}, {nines(99), "99"}, {nines(99.9), "99.9"}},
		Series: []Series{{Name: "corrected", X: []float64{nines(50), nines(99), nines(99.5)}, Y: []float64{1, 5, 9}}}}
	svg, err := l.SVG()
	if err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, svg)
	if got := doc.count["text.xtick"]; got != 4 {
		t.Errorf("x ticks = %d, want the 4 given", got)
	}
	for _, want := range []string{"99.9", "90", "0"} {
		if !doc.hasText(want) {
			t.Errorf("x tick %q missing; texts %q", want, doc.text)
		}
	}
	if doc.hasText("0.5") || doc.hasText("2.5") {
		t.Errorf("the axis has numeric ticks of its own besides the given ones: %q", doc.text)
	}
	for _, bad := range [][]Tick{{{1, "a"}, {1, "b"}}, {{math.NaN(), "a"}}} {
		l.XTicks = bad
		if _, err := l.SVG(); !errors.Is(err, ErrRange) {
			t.Errorf("XTicks %v: SVG() error = %v, want ErrRange", bad, err)
		}
	}
	l.XTicks, l.Series = []Tick{{0, "0"}}, []Series{{T: []time.Time{time.Now()}, Y: []float64{1}}}
	if _, err := l.SVG(); !errors.Is(err, ErrMixedX) {
		t.Errorf("XTicks on a time axis: SVG() error = %v, want ErrMixedX", err)
	}
}

func TestLinesThresholds(t *testing.T) {
	l := Lines{Title: "psi", Series: []Series{{Name: "x0", X: []float64{1, 2, 3}, Y: []float64{0.01, 0.02, 0.05}}},
		Thresholds: []Threshold{{Y: 0.1, Label: "warn"}, {Y: 0.2, Label: "alert", Color: "#c00"}}}
	svg, err := l.SVG()
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if n := strings.Count(s, `class="threshold"`); n != 2 {
		t.Errorf("threshold lines = %d, want 2", n)
	}
	for _, want := range []string{">warn<", ">alert<", `stroke="#c00"`, "alert = 0.2"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// The data tops out at 0.05: the axis must reach the alert line at 0.2.
	if !strings.Contains(s, ">0.2<") {
		t.Errorf("y axis does not stretch to the 0.2 threshold:\n%s", s)
	}
	l.Thresholds = []Threshold{{Y: math.NaN()}}
	if _, err := l.SVG(); !errors.Is(err, ErrRange) {
		t.Errorf("NaN threshold: err = %v, want ErrRange", err)
	}
}
