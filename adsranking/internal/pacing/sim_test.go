package pacing

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testSimConfig is the default day at a fifth of the traffic, so the test stays fast
// under the race detector; the claims do not depend on the volume.
func testSimConfig() SimConfig {
	c := DefaultSimConfig()
	c.Requests = 80_000
	return c
}

// The claims of the case study, on one seeded day: with reservations no campaign is
// billed over its budget although reports are late and some lost; counting on report
// overspends without pacing; both pacers follow the plan far better than no pacing.
func TestSimulateDay(t *testing.T) {
	r, err := SimulateDay(testSimConfig())
	if err != nil {
		t.Fatalf("SimulateDay: %v", err)
	}
	t.Logf("\n%s", r.FormatSummary())
	if len(r.Runs) != 6 {
		t.Fatalf("%d runs, want 3 strategies × 2 modes", len(r.Runs))
	}
	by := map[Strategy]map[Mode]Run{}
	for _, run := range r.Runs {
		if by[run.Strategy] == nil {
			by[run.Strategy] = map[Mode]Run{}
		}
		by[run.Strategy][run.Mode] = run
	}
	for _, run := range r.Runs {
		lost, late := 0, int64(0)
		for _, c := range run.Campaigns {
			lost += c.LostReports
			late += c.Late
			if run.Mode == ReserveAtDecision && c.Billed > c.Budget {
				t.Errorf("%s, %v: campaign %d billed %.6f of a %.6f budget, want ≤ budget",
					run.Strategy, run.Mode, c.ID, c.Billed, c.Budget)
			}
		}
		// Not vacuous: reports were late (past the window) and lost in every run.
		if lost == 0 || late == 0 {
			t.Errorf("%s, %v: %d lost and %d late reports, want some of each", run.Strategy, run.Mode, lost, late)
		}
		if run.Mode == ReserveAtDecision && run.Summary.MaxOverspend != 0 {
			t.Errorf("%s, %v: MaxOverspend = %v, want 0", run.Strategy, run.Mode, run.Summary.MaxOverspend)
		}
	}
	if naive := by[StrategyNone][CountOnReport].Summary; naive.MaxOverspend <= 0.01 || naive.Overspenders == 0 {
		t.Errorf("none, count on report: max overspend %.4f, %d over 1%%; want > 1%% for some campaign (the check must be able to fail)",
			naive.MaxOverspend, naive.Overspenders)
	}
	none := by[StrategyNone][ReserveAtDecision].Summary
	if none.ExhaustedEarly < 0.5 {
		t.Errorf("none: %.0f%% exhausted before 20:00, want most (budgets are below demand)", 100*none.ExhaustedEarly)
	}
	for _, s := range []Strategy{StrategyThrottle, StrategyPID} {
		for _, m := range []Mode{ReserveAtDecision, CountOnReport} {
			got := by[s][m].Summary
			if got.MeanDeviation > none.MeanDeviation/5 {
				t.Errorf("%s, %v: mean deviation %.4f, want below a fifth of no pacing's %.4f", s, m, got.MeanDeviation, none.MeanDeviation)
			}
			if got.ExhaustedEarly >= none.ExhaustedEarly || got.ExhaustedEarly > 0.1 {
				t.Errorf("%s, %v: %.0f%% exhausted before 20:00, want ≤ 10%% and fewer than no pacing's %.0f%%",
					s, m, 100*got.ExhaustedEarly, 100*none.ExhaustedEarly)
			}
			if got.Delivery < 0.97 {
				t.Errorf("%s, %v: billed %.3f of budget, want ≥ 0.97 (pacing must still spend it)", s, m, got.Delivery)
			}
		}
	}
	// Bidding below value (PID) buys cheaper impressions than skipping requests at full value.
	if pid, th := by[StrategyPID][ReserveAtDecision].Summary, by[StrategyThrottle][ReserveAtDecision].Summary; pid.ValuePerSpend <= th.ValuePerSpend {
		t.Errorf("value per spend: pid %.3f, throttle %.3f, want pid higher", pid.ValuePerSpend, th.ValuePerSpend)
	}

	charts := r.SpendCharts(3)
	if len(charts) != len(r.Runs) {
		t.Errorf("SpendCharts: %d charts, want %d", len(charts), len(r.Runs))
	}
	controls := r.ControlCharts(3)
	if len(controls) != 4 {
		t.Errorf("ControlCharts: %d charts, want 4 (throttle and PID, both modes)", len(controls))
	}
	for _, ch := range append(charts, controls...) {
		if len(ch.Series) < 3 {
			t.Errorf("chart %q has %d series, want ≥ 3", ch.Title, len(ch.Series))
		}
		if _, err := ch.SVG(); err != nil {
			t.Errorf("chart %q: SVG: %v", ch.Title, err)
		}
	}
	if tab := r.SummaryTable(); len(tab.Rows) != len(r.Runs) || len(tab.Rows[0]) != len(tab.Header) {
		t.Errorf("SummaryTable: %d rows of %d cells, header %d; want %d rows", len(tab.Rows), len(tab.Rows[0]), len(tab.Header), len(r.Runs))
	}
}

// Same seed, same day; another seed, another day.
func TestSimulateDayDeterministic(t *testing.T) {
	cfg := testSimConfig()
	cfg.Requests = 5_000
	cfg.Strategies = []Strategy{StrategyThrottle}
	cfg.Modes = []Mode{ReserveAtDecision}
	a, err := SimulateDay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SimulateDay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Runs, b.Runs) || !reflect.DeepEqual(a.Campaigns, b.Campaigns) {
		t.Errorf("two runs with seed %d differ", cfg.Seed)
	}
	cfg.Seed++
	c, err := SimulateDay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Runs, c.Runs) {
		t.Errorf("seeds %d and %d gave the same day", cfg.Seed-1, cfg.Seed)
	}
}

func TestSimConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*SimConfig)
	}{
		{"no day start", func(c *SimConfig) { c.DayStart = time.Time{} }},
		{"no campaigns", func(c *SimConfig) { c.Campaigns = 0 }},
		{"too many requests", func(c *SimConfig) { c.Requests = 1 << 30 }},
		{"reach above 1", func(c *SimConfig) { c.ReachMax = 1.5 }},
		{"reach reversed", func(c *SimConfig) { c.ReachMin, c.ReachMax = 0.5, 0.2 }},
		{"zero value", func(c *SimConfig) { c.ValueMin = 0 }},
		{"CTR 0", func(c *SimConfig) { c.CTR = 0 }},
		{"market median 0", func(c *SimConfig) { c.MarketMedian = 0 }},
		{"market swing 1", func(c *SimConfig) { c.MarketSwing = 1 }},
		{"budget share 0", func(c *SimConfig) { c.BudgetMin = 0 }},
		{"no delay", func(c *SimConfig) { c.ReportDelay = 0 }},
		{"all lost", func(c *SimConfig) { c.LostReports = 1 }},
		{"no window", func(c *SimConfig) { c.Window = 0 }},
		{"no forecast", func(c *SimConfig) { c.Forecast = Diurnal{} }},
		{"bad throttle", func(c *SimConfig) { c.Throttle.MinRate = 0 }},
		{"bad pid", func(c *SimConfig) { c.PID.MinMultiplier = 2 }},
		{"unknown strategy", func(c *SimConfig) { c.Strategies = []Strategy{"bang-bang"} }},
		{"no modes", func(c *SimConfig) { c.Modes = nil }},
		{"unknown mode", func(c *SimConfig) { c.Modes = []Mode{9} }},
	}
	if err := DefaultSimConfig().Validate(); err != nil {
		t.Fatalf("DefaultSimConfig().Validate() = %v, want nil", err)
	}
	for _, tt := range tests {
		c := DefaultSimConfig()
		tt.mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", tt.name, err)
		}
		if _, err := SimulateDay(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: SimulateDay = %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestFormatSummary(t *testing.T) {
	r := Result{Runs: []Run{{Summary: Summary{Strategy: StrategyPID, Mode: CountOnReport, MeanDeviation: 0.0123, MaxOverspend: 0.02, Overspenders: 3}}}}
	got := r.FormatSummary()
	for _, want := range []string{"mean |spend−plan|", "pid", "count on report", "1.2%", "2.00%"} {
		if !strings.Contains(got, want) {
			t.Errorf("FormatSummary() = %q, want it to contain %q", got, want)
		}
	}
}
