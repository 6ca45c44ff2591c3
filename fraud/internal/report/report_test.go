package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

var sample = flag.String("sample", "", "also write the synthetic report to this file, to look at")

// synthetic is a plausible run: 1% fraud, a model that mostly separates it, a week of days
// with an outage on day 4 that sends decisions to the rules.
func synthetic() Data {
	r := rand.New(rand.NewPCG(1, 2))
	d := Data{
		Title:       "Fraud case study <demo>",
		GeneratedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Summary: []KV{
			{"transactions", "70,000"}, {"throughput", "1,150 /s"}, {"online AUC", "0.94"},
			{"approved", "68,900"}, {"review", "800"}, {"declined", "300"},
		},
		Thresholds: Thresholds{Review: 0.5, Decline: 0.8},
		Paths:      map[string]int{"model": 66000, "rules": 4000},
		Notes:      []string{"Labels arrive with a delay, so the last day's recall is provisional."},
	}
	beta := func(a, b float64) float64 { // crude: mean of uniforms pushed by a power
		return math.Pow(r.Float64(), b/a)
	}
	for range 700 {
		d.Scores.Fraud = append(d.Scores.Fraud, 1-beta(1, 3)*0.9)
	}
	for range 69300 {
		d.Scores.Legit = append(d.Scores.Legit, beta(1, 6))
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		rules := 100
		if i == 3 {
			rules = 3400
		}
		frauds := 90 + r.IntN(30)
		tp := frauds * (80 - 30*btoi(i == 3)) / 100
		d.Daily = append(d.Daily, Day{
			Date: day.AddDate(0, 0, i), Transactions: 10000, Frauds: frauds,
			Flagged: tp + 40 + r.IntN(40), TruePositives: tp,
			Paths: map[string]int{"model": 10000 - rules, "rules": rules},
		})
	}
	start := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	for i := range 70000 {
		d.LatencyMillis = append(d.LatencyMillis, 2+r.ExpFloat64()*3+float64(btoi(i%500 == 0))*200)
	}
	for i := range 60 {
		p99 := 15 + r.Float64()*5
		if i > 30 && i < 38 {
			p99 = 120
		}
		d.LatencyOverTime = append(d.LatencyOverTime, LatencyPoint{At: start.Add(time.Duration(i) * time.Second), P50: 4 + r.Float64(), P99: p99})
	}
	return d
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// svgs returns every inline <svg>…</svg> of page, each checked to be well-formed XML.
func svgs(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	for rest := page; ; {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			return out
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatalf("unterminated <svg> in page")
		}
		s := rest[i : i+j+len("</svg>")]
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("chart %d is not well-formed XML: %v", len(out)+1, err)
			}
		}
		out = append(out, s)
		rest = rest[i+j:]
	}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, synthetic()); err != nil {
		t.Fatalf("Write() error %v", err)
	}
	page := b.String()
	if *sample != "" {
		if err := os.WriteFile(*sample, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		"<title>Fraud case study &lt;demo&gt;</title>", "Generated 2026-11-25 12:00:00 UTC",
		"<h2>Summary</h2>", "<h2>Score distributions</h2>", "<h2>Precision and recall per day</h2>",
		"<h2>Decision latency</h2>", "<h2>Decisions by path</h2>",
		"Labels arrive with a delay", "review ≥ 0.5", "decline ≥ 0.8", "2026-03-04", "online AUC",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("Write() output lacks %q", want)
		}
	}
	charts := svgs(t, page)
	// Two score histograms, precision/recall, latency histogram, latency over time, paths
	// total and per day.
	if len(charts) != 7 {
		t.Fatalf("Write() drew %d charts, want 7", len(charts))
	}
	for i, c := range charts {
		if strings.Contains(c, `class="nodata"`) {
			t.Errorf("chart %d is empty with full data", i+1)
		}
	}
	// The score histograms carry the two thresholds; the latency one p50 and p99.
	for _, i := range []int{0, 1, 3} {
		if got := strings.Count(charts[i], `class="marker"`); got != 2 {
			t.Errorf("chart %d has %d marker lines, want 2", i+1, got)
		}
	}
	// Precision and recall: one dot per day each.
	if got := strings.Count(charts[2], `class="point"`); got != 14 {
		t.Errorf("precision/recall chart has %d points, want 14", got)
	}
	if got := strings.Count(charts[6], `class="bar"`); got != 14 {
		t.Errorf("per-day paths chart has %d bars, want 14", got)
	}
}

func TestWriteEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Data{}); err != nil {
		t.Fatalf("Write(Data{}) error %v", err)
	}
	page := b.String()
	charts := svgs(t, page)
	// No latency over time and no per-day paths: those charts are left out, not drawn empty.
	if len(charts) != 5 {
		t.Fatalf("Write(Data{}) drew %d charts, want 5", len(charts))
	}
	for i, c := range charts {
		if !strings.Contains(c, `class="nodata"`) {
			t.Errorf("chart %d of empty data is not a no-data panel", i+1)
		}
	}
	for _, want := range []string{
		"<title>Fraud detection case study</title>", "No headline numbers", "no distribution to show",
		"precision and recall cannot be shown", "No latency samples", "No decisions by path",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("Write(Data{}) output lacks %q", want)
		}
	}
}

func TestDay(t *testing.T) {
	for _, tc := range []struct {
		d         Day
		prec, rec float64
	}{
		{Day{Frauds: 10, Flagged: 20, TruePositives: 8}, 0.4, 0.8},
		{Day{Frauds: 0, Flagged: 0}, math.NaN(), math.NaN()},
	} {
		same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
		if p, r := tc.d.Precision(), tc.d.Recall(); !same(p, tc.prec) || !same(r, tc.rec) {
			t.Errorf("%+v: Precision, Recall = %v, %v, want %v, %v", tc.d, p, r, tc.prec, tc.rec)
		}
	}
}

func TestQuantileAndFormat(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {0.9, 4.6}, {1, 5}} {
		if got := quantile(s, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", s, tc.q, got, tc.want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
