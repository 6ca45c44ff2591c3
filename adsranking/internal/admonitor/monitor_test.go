package admonitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/adsranking/events"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// gauge reads the value of a counter or gauge with exactly these labels, NaN if absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() error %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return math.NaN()
}

func imp(req string, at time.Time, p float64) events.Impression {
	return events.Impression{Request: req, Time: at, Slot: 1, Ad: 1, Campaign: 1, Model: "v", PCTR: p}
}

func clk(req string, at time.Time) events.Click {
	return events.Click{Request: req, Time: at, Slot: 1, Ad: 1, Campaign: 1, Model: "v"}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"no attribution window", func(c *Config) { c.AttributionWindow = 0 }, false},
		{"negative lateness", func(c *Config) { c.Lateness = -time.Second }, false},
		{"window not a multiple", func(c *Config) { c.Window = 62 * time.Minute }, false},
		{"window below bucket", func(c *Config) { c.Window = time.Minute }, false},
		{"no bucket", func(c *Config) { c.Bucket = 0 }, false},
		{"zero tolerance", func(c *Config) { c.Tolerance = 0 }, false},
		{"clear past fire", func(c *Config) { c.ClearTolerance = 0.2 }, false},
		{"negative clear", func(c *Config) { c.ClearTolerance = -0.1 }, false},
		{"clear zero", func(c *Config) { c.ClearTolerance = 0 }, true},
		{"nan z", func(c *Config) { c.Z = math.NaN() }, false},
		{"negative evidence", func(c *Config) { c.MinExpectedClicks = -1 }, false},
		{"for zero", func(c *Config) { c.For = 0 }, false},
		{"clear for zero", func(c *Config) { c.ClearFor = 0 }, false},
		{"severity", func(c *Config) { c.Severity = "page" }, false},
		{"bins not ending at 1", func(c *Config) { c.BinEdges = []float64{0.1, 0.5} }, false},
		{"bins descending", func(c *Config) { c.BinEdges = []float64{0.5, 0.1, 1} }, false},
		{"one bin", func(c *Config) { c.BinEdges = []float64{1} }, true},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("Validate(%v) = %v, want ok %v (or ErrConfig)", tc.name, err, tc.ok)
		}
	}
}

func TestInvalidEvents(t *testing.T) {
	m := newMonitor(t, DefaultConfig())
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"no request", m.ObserveImpression(imp("", t0, 0.1))},
		{"pctr above 1", m.ObserveImpression(imp("a", t0, 1.5))},
		{"pctr NaN", m.ObserveImpression(imp("a", t0, math.NaN()))},
		{"zero time", m.ObserveImpression(imp("a", time.Time{}, 0.1))},
		{"click no request", m.ObserveClick(clk("", t0))},
		{"click zero time", m.ObserveClick(clk("a", time.Time{}))},
	} {
		if !errors.Is(tc.err, ErrInvalidEvent) {
			t.Errorf("Observe(%v) = %v, want ErrInvalidEvent", tc.name, tc.err)
		}
	}
	if r := m.Report(); len(r.Rows) != 0 {
		t.Errorf("Report() after invalid events has rows %+v, want none", r.Rows)
	}
}

func TestMaturity(t *testing.T) {
	// An impression at 00:02 is in the bucket [00:00, 00:05). Its bucket's last impression
	// matures 30 minutes after 00:05, and the watermark trails event time by a minute: it is
	// judged from event time 00:36 on, not before.
	cfg := DefaultConfig()
	for _, tc := range []struct {
		now     time.Duration
		matured bool
	}{
		{2 * time.Minute, false},
		{32 * time.Minute, false}, // 30 minutes old, but its bucket is not
		{35 * time.Minute, false}, // the bucket is, but Lateness is not over
		{36*time.Minute - time.Nanosecond, false},
		{36 * time.Minute, true},
		{3 * time.Hour, true}, // out of the sliding window, still in the total
	} {
		m := newMonitor(t, cfg)
		if err := m.ObserveImpression(imp("a", t0.Add(2*time.Minute), 0.25)); err != nil {
			t.Fatal(err)
		}
		m.Advance(t0.Add(tc.now))
		r := row(t, m.Report(), "v")
		got := r.Total.Impressions == 1 && r.PendingImpressions == 0
		if got != tc.matured || r.Total.Impressions+r.PendingImpressions != 1 {
			t.Errorf("matured(now %v) = %v (total %d, pending %d), want %v", tc.now, got, r.Total.Impressions, r.PendingImpressions, tc.matured)
		}
		inWindow := tc.matured && tc.now < cfg.Window+cfg.AttributionWindow+cfg.Lateness
		if (r.Window.Impressions == 1) != inWindow {
			t.Errorf("in window(now %v) = %v, want %v", tc.now, r.Window.Impressions == 1, inWindow)
		}
	}
}

func TestAttribution(t *testing.T) {
	// One impression at 00:00 and one click, delay after it, observed when event time is
	// already at seen (processing order differs from event order).
	for _, tc := range []struct {
		name        string
		delay, seen time.Duration
		want        ClickCounts
	}{
		{"immediate", 0, 0, ClickCounts{Attributed: 1}},
		{"late inside the window", 29 * time.Minute, 29 * time.Minute, ClickCounts{Attributed: 1}},
		{"at the window's edge", 30 * time.Minute, 30 * time.Minute, ClickCounts{Attributed: 1}},
		{"processed after the impression matured", 20 * time.Minute, 50 * time.Minute, ClickCounts{Attributed: 1}},
		{"stamped before its impression", -time.Minute, 0, ClickCounts{Attributed: 1}},
		{"outside the window", 31 * time.Minute, 31 * time.Minute, ClickCounts{OutsideWindow: 1}},
		{"long after, impression forgotten", 3 * time.Hour, 3 * time.Hour, ClickCounts{UnknownImpression: 1}},
	} {
		m := newMonitor(t, DefaultConfig())
		if err := m.ObserveImpression(imp("a", t0, 0.1)); err != nil {
			t.Fatal(err)
		}
		m.Advance(t0.Add(tc.seen))
		if err := m.ObserveClick(clk("a", t0.Add(tc.delay))); err != nil {
			t.Fatal(err)
		}
		m.Advance(t0.Add(5 * time.Hour))
		r := row(t, m.Report(), "v")
		if r.Clicks != tc.want {
			t.Errorf("Clicks(%v) = %+v, want %+v", tc.name, r.Clicks, tc.want)
		}
		if r.Total.Clicks != tc.want.Attributed {
			t.Errorf("Total.Clicks(%v) = %d, want %d", tc.name, r.Total.Clicks, tc.want.Attributed)
		}
	}
}

func TestClickBeforeItsImpression(t *testing.T) {
	// The click's report reaches the log before the impression's: it waits, and is
	// attributed when the impression comes; a click whose impression never comes is
	// counted as unattributed once the watermark passes it.
	m := newMonitor(t, DefaultConfig())
	if err := m.ObserveClick(clk("a", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveClick(clk("ghost", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := m.Report().WaitingClicks; got != 2 {
		t.Errorf("WaitingClicks = %d, want 2", got)
	}
	if err := m.ObserveImpression(imp("a", t0, 0.1)); err != nil {
		t.Fatal(err)
	}
	m.Advance(t0.Add(2 * time.Hour))
	rep := m.Report()
	r := row(t, rep, "v")
	if want := (ClickCounts{Attributed: 1, UnknownImpression: 1}); r.Clicks != want || rep.WaitingClicks != 0 {
		t.Errorf("Clicks = %+v, waiting %d; want %+v, waiting 0", r.Clicks, rep.WaitingClicks, want)
	}
	if r.Total.Clicks != 1 || r.Total.Impressions != 1 {
		t.Errorf("Total = %d clicks on %d impressions, want 1 on 1", r.Total.Clicks, r.Total.Impressions)
	}
}

func TestDuplicatesCountOnce(t *testing.T) {
	reg := newRegistry()
	m, err := New(DefaultConfig(), nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.ObserveImpression(imp("a", t0, 0.2)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := m.ObserveClick(clk("a", t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // a click with no impression, twice: one unattributed click
		if err := m.ObserveClick(clk("ghost", t0)); err != nil {
			t.Fatal(err)
		}
	}
	m.Advance(t0.Add(2 * time.Hour))
	r := row(t, m.Report(), "v")
	if r.Total.Impressions != 1 || r.Total.Clicks != 1 || r.Total.ExpectedClicks != 0.2 || r.DuplicateImpressions != 1 {
		t.Errorf("Total = %d clicks, %d impressions, %v expected, %d duplicate impressions; want 1, 1, 0.2, 1",
			r.Total.Clicks, r.Total.Impressions, r.Total.ExpectedClicks, r.DuplicateImpressions)
	}
	if want := (ClickCounts{Attributed: 1, Duplicate: 3, UnknownImpression: 1}); r.Clicks != want {
		t.Errorf("Clicks = %+v, want %+v", r.Clicks, want)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ads_monitor_impressions_total", map[string]string{"model": "v", "result": ResultCounted}, 1},
		{"ads_monitor_impressions_total", map[string]string{"model": "v", "result": ResultDuplicate}, 1},
		{"ads_monitor_clicks_total", map[string]string{"model": "v", "result": ResultAttributed}, 1},
		{"ads_monitor_clicks_total", map[string]string{"model": "v", "result": ResultDuplicate}, 3},
		{"ads_monitor_clicks_total", map[string]string{"model": "v", "result": ResultUnknownImpression}, 1},
		{"ads_monitor_expected_clicks_total", map[string]string{"model": "v"}, 0.2},
	} {
		if got := gauge(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestRatioInterval(t *testing.T) {
	const z = 2.576
	for _, tc := range []struct {
		clicks, expected, sumP2 float64
		low, high               float64 // want, within tol
		tol                     float64
	}{
		// Large counts: the Wald interval ratio ± z·√(Σp(1−p))/Σp.
		{10000, 10000, 500, 1 - z*math.Sqrt(9500)/10000, 1 + z*math.Sqrt(9500)/10000, 0.002},
		{7000, 10000, 500, 0.7 - z*math.Sqrt(0.7*10000-0.49*500)/10000, 0.7 + z*math.Sqrt(0.7*10000-0.49*500)/10000, 0.002},
		// High probabilities: the variance is Σp(1−p) = 500, not the Poisson 1,000.
		{1000, 1000, 500, 1 - z*math.Sqrt(500)/1000, 1 + z*math.Sqrt(500)/1000, 0.003},
		// No clicks: from 0, and the upper end about z²/Σp.
		{0, 100, 1, 0, z * z / 100, 0.001},
	} {
		lo, hi := ratioInterval(tc.clicks, tc.expected, tc.sumP2, z)
		if math.Abs(lo-tc.low) > tc.tol || math.Abs(hi-tc.high) > tc.tol {
			t.Errorf("ratioInterval(%v, %v, %v) = [%v, %v], want [%v, %v] ± %v", tc.clicks, tc.expected, tc.sumP2, lo, hi, tc.low, tc.high, tc.tol)
		}
		if r := tc.clicks / tc.expected; !(lo <= r && r <= hi) {
			t.Errorf("ratioInterval(%v, %v, %v) = [%v, %v], want it to hold the ratio %v", tc.clicks, tc.expected, tc.sumP2, lo, hi, r)
		}
	}
}

func TestReliability(t *testing.T) {
	// Two bins: 100 impressions at 0.02 with 2 clicks (calibrated), 100 at 0.2 with 10
	// (half the predicted): ECE = (|2−2| + |10−20|) / 200 = 0.05.
	cfg := DefaultConfig()
	m := newMonitor(t, cfg)
	for i := range 200 {
		p, clicks := 0.02, 2
		if i >= 100 {
			p, clicks = 0.2, 10
		}
		req := fmt.Sprint(i)
		if err := m.ObserveImpression(imp(req, t0, p)); err != nil {
			t.Fatal(err)
		}
		if i%100 < clicks {
			if err := m.ObserveClick(clk(req, t0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.Advance(t0.Add(time.Hour))
	s := row(t, m.Report(), "v").Window
	if math.Abs(s.ECE-0.05) > 1e-9 {
		t.Errorf("ECE = %v, want 0.05", s.ECE)
	}
	want := []Bin{{Low: 0.01, High: 0.02, Impressions: 100, Clicks: 2, MeanPCTR: 0.02, CTR: 0.02}, {Low: 0.15, High: 0.2, Impressions: 100, Clicks: 10, MeanPCTR: 0.2, CTR: 0.1}}
	if len(s.Reliability) != len(want) {
		t.Fatalf("Reliability = %+v, want %+v", s.Reliability, want)
	}
	for i, b := range s.Reliability {
		w := want[i]
		if b.Low != w.Low || b.High != w.High || b.Impressions != w.Impressions || b.Clicks != w.Clicks || math.Abs(b.MeanPCTR-w.MeanPCTR) > 1e-12 || math.Abs(b.CTR-w.CTR) > 1e-12 {
			t.Errorf("Reliability[%d] = %+v, want %+v", i, b, w)
		}
	}
	if got, want := s.CTR, 12.0/200; math.Abs(got-want) > 1e-12 {
		t.Errorf("CTR = %v, want %v", got, want)
	}
	if got, want := s.ExpectedCTR, 0.11; math.Abs(got-want) > 1e-12 {
		t.Errorf("ExpectedCTR = %v, want %v", got, want)
	}
}

func TestConcurrent(t *testing.T) {
	// Writers observe disjoint impressions and a click on every tenth (each click sent
	// twice) while readers evaluate and report; the counts must come out exact.
	m := newMonitor(t, DefaultConfig())
	const writers, per = 8, 1000
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				at := t0.Add(time.Duration(i) * time.Second)
				req := fmt.Sprintf("w%d-%d", w, i)
				if err := m.ObserveImpression(imp(req, at, 0.1)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					for range 2 {
						if err := m.ObserveClick(clk(req, at.Add(time.Second))); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := m.Evaluate(context.Background()); err != nil {
				t.Error(err)
			}
			_ = m.Report().String()
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	m.Advance(t0.Add(3 * time.Hour))
	r := row(t, m.Report(), "v")
	if r.Total.Impressions != writers*per || r.Clicks.Attributed != writers*per/10 || r.Clicks.Duplicate != writers*per/10 || r.Total.Clicks != writers*per/10 {
		t.Errorf("Total %d impressions %d clicks, Clicks %+v; want %d, %d, %d attributed and duplicate",
			r.Total.Impressions, r.Total.Clicks, r.Clicks, writers*per, writers*per/10, writers*per/10)
	}
}

func TestReportString(t *testing.T) {
	m := newMonitor(t, DefaultConfig())
	if err := m.ObserveImpression(imp("a", t0, 0.1)); err != nil {
		t.Fatal(err)
	}
	m.Advance(t0.Add(time.Hour))
	s := m.Report().String()
	for _, want := range []string{"watermark 2025-03-01T00:59:00Z", "v ", "alert ok"} {
		if !strings.Contains(s, want) {
			t.Errorf("Report().String() = %q, want it to contain %q", s, want)
		}
	}
}
