package admonitor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/platform/monitoring"
)

// t0 is where simulated event time starts.
var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// phase is a stretch of simulated traffic: per model version, impressions per minute and
// the factor between the true click probability and the logged pctr (1: calibrated).
type phase struct {
	dur  time.Duration
	arms []arm
}

type arm struct {
	model     string
	perMinute int
	factor    float64
}

// event is one impression or click, at its event time.
type event struct {
	at  time.Time
	imp *events.Impression
	clk *events.Click
}

// simulate draws a stream: pctr uniform on [0.01, 0.09], clicks with probability
// factor·pctr after delay(r), the events sorted by event time (impressions first on ties).
func simulate(seed uint64, phases []phase, delay func(*rand.Rand) time.Duration) []event {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []event
	start, req := t0, 0
	for _, ph := range phases {
		for min := range int(ph.dur / time.Minute) {
			for _, a := range ph.arms {
				for j := range a.perMinute {
					at := start.Add(time.Duration(min)*time.Minute + time.Duration(j)*time.Minute/time.Duration(a.perMinute))
					req++
					p := 0.01 + 0.08*r.Float64()
					imp := events.Impression{Request: "r" + strconv.Itoa(req), Time: at, Slot: req % 3, Ad: 1, Campaign: 1, Model: a.model, PCTR: p}
					out = append(out, event{at: at, imp: &imp})
					if r.Float64() < a.factor*p {
						clk := events.Click{Request: imp.Request, Slot: imp.Slot, Ad: 1, Campaign: 1, Model: a.model, Time: at.Add(delay(r))}
						out = append(out, event{at: clk.Time, clk: &clk})
					}
				}
			}
		}
		start = start.Add(ph.dur)
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.at.Compare(b.at) })
	return out
}

// uniformDelay spreads clicks over [0, max).
func uniformDelay(max time.Duration) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(max))) }
}

// feed observes the events, evaluating whenever event time enters a new minute, and a
// last time after advancing past the end so the final impressions mature. It returns the
// transitions.
func feed(t *testing.T, m *Monitor, evs []event) []monitoring.Alert {
	t.Helper()
	ctx := context.Background()
	var out []monitoring.Alert
	eval := func() {
		als, err := m.Evaluate(ctx)
		if err != nil {
			t.Fatalf("Evaluate() error %v", err)
		}
		out = append(out, als...)
	}
	last := t0
	for _, e := range evs {
		if e.at.Sub(last) >= time.Minute {
			eval()
			last = e.at.Truncate(time.Minute)
		}
		observe(t, m, e)
	}
	if len(evs) > 0 {
		m.Advance(evs[len(evs)-1].at.Add(2 * time.Hour))
	}
	eval()
	return out
}

// observe hands one event to the monitor.
func observe(t *testing.T, m *Monitor, e event) {
	t.Helper()
	var err error
	if e.imp != nil {
		err = m.ObserveImpression(*e.imp)
	} else {
		err = m.ObserveClick(*e.clk)
	}
	if err != nil {
		t.Fatalf("observe %+v: %v", e, err)
	}
}

func newMonitor(t *testing.T, cfg Config) *Monitor {
	t.Helper()
	m, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatalf("New(%+v) error %v", cfg, err)
	}
	return m
}

func row(t *testing.T, r Report, model string) Row {
	t.Helper()
	i := slices.IndexFunc(r.Rows, func(x Row) bool { return x.Model == model })
	if i < 0 {
		t.Fatalf("Report() has no row for %q:\n%v", model, r)
	}
	return r.Rows[i]
}

func transitions(als []monitoring.Alert, model string) []string {
	var out []string
	for _, a := range als {
		if a.Model == model {
			out = append(out, a.State)
		}
	}
	return out
}

func TestCalibratedNeverAlerts(t *testing.T) {
	// Six hours at 100 impressions a minute: about 300 expected clicks per window, over
	// about 70 evaluations per seed.
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := newMonitor(t, DefaultConfig())
			evs := simulate(seed, []phase{{dur: 6 * time.Hour, arms: []arm{{model: "ads-pctr/v1", perMinute: 100, factor: 1}}}}, uniformDelay(25*time.Minute))
			als := feed(t, m, evs)
			if len(als) != 0 {
				t.Fatalf("calibrated model: alerts %+v, want none", als)
			}
			r := row(t, m.Report(), "ads-pctr/v1")
			if r.Total.Impressions != 6*60*100 {
				t.Errorf("Total.Impressions = %d, want %d", r.Total.Impressions, 6*60*100)
			}
			if !(r.Total.RatioLow < 1 && r.Total.RatioHigh > 1) {
				t.Errorf("cumulative ratio %v [%v, %v], want an interval holding 1", r.Total.Ratio, r.Total.RatioLow, r.Total.RatioHigh)
			}
		})
	}
}

func TestOverpredictingModelAlerts(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	m := newMonitor(t, cfg)
	// True CTR 30% below pctr; clicks up to 25 minutes late.
	evs := simulate(4, []phase{{dur: 3 * time.Hour, arms: []arm{{model: "bad", perMinute: 150, factor: 0.7}}}}, uniformDelay(25*time.Minute))
	als := feed(t, m, evs)
	if got, want := transitions(als, "bad"), []string{monitoring.StateFiring}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	// The first judgment is possible once the first bucket matured: its end, plus the
	// attribution window. The alert needs For such judgments.
	first := t0.Add(cfg.Bucket + cfg.AttributionWindow)
	if earliest := first.Add(time.Duration(cfg.For-1) * cfg.Bucket); als[0].At.Before(earliest) {
		t.Errorf("alert at %v, want no earlier than %v (before that no impression had matured)", als[0].At, earliest)
	}
	if latest := t0.Add(cfg.AttributionWindow + cfg.Window); als[0].At.After(latest) {
		t.Errorf("alert at %v, want by %v (a full window of matured impressions)", als[0].At, latest)
	}
	r := row(t, m.Report(), "bad")
	if r.Alert == nil || r.Alert.Rule != RuleName {
		t.Fatalf("Report().Alert = %+v, want the firing %s", r.Alert, RuleName)
	}
	// The stream ended and the window emptied; the alert stays as it was for lack of
	// evidence, and the cumulative ratio shows why it fired.
	if !(r.Total.RatioHigh < 1-cfg.Tolerance) || r.Total.Ratio < 0.65 || r.Total.Ratio > 0.75 {
		t.Errorf("cumulative ratio %v [%v, %v], want about 0.7 with the interval below %v", r.Total.Ratio, r.Total.RatioLow, r.Total.RatioHigh, 1-cfg.Tolerance)
	}
}

// TestEvaluateCatchesUp evaluates once, after the whole stream: every bucket's window is
// still judged in order, so the transitions and their times are those of an evaluator
// that kept up.
func TestEvaluateCatchesUp(t *testing.T) {
	t.Parallel()
	evs := simulate(4, []phase{
		{dur: 2 * time.Hour, arms: []arm{{model: "m", perMinute: 150, factor: 0.7}}},
		{dur: 3 * time.Hour, arms: []arm{{model: "m", perMinute: 150, factor: 1}}},
	}, uniformDelay(25*time.Minute))
	kept := feed(t, newMonitor(t, DefaultConfig()), evs)
	if got := transitions(kept, "m"); !slices.Equal(got, []string{monitoring.StateFiring, monitoring.StateResolved}) {
		t.Fatalf("evaluating every minute: transitions %v, want firing then resolved", got)
	}
	late := newMonitor(t, DefaultConfig())
	for _, e := range evs {
		observe(t, late, e)
	}
	late.Advance(evs[len(evs)-1].at.Add(2 * time.Hour))
	once, err := late.Evaluate(context.Background())
	if err != nil {
		t.Fatalf("Evaluate() error %v", err)
	}
	if len(once) != len(kept) {
		t.Fatalf("evaluating once: %d transitions, want %d (%+v)", len(once), len(kept), kept)
	}
	for i := range kept {
		if once[i].State != kept[i].State || !once[i].At.Equal(kept[i].At) {
			t.Errorf("transition %d: once %s at %v, kept up %s at %v", i, once[i].State, once[i].At, kept[i].State, kept[i].At)
		}
	}
}

func TestAlertNeedsExpectedClicks(t *testing.T) {
	// 5 impressions a minute expect about 15 clicks an hour: below 50, never judged, however
	// bad the model.
	m := newMonitor(t, DefaultConfig())
	evs := simulate(5, []phase{{dur: 6 * time.Hour, arms: []arm{{model: "small", perMinute: 5, factor: 0.3}}}}, uniformDelay(10*time.Minute))
	if als := feed(t, m, evs); len(als) != 0 {
		t.Fatalf("alerts %+v, want none below MinExpectedClicks", als)
	}
	if r := row(t, m.Report(), "small"); r.Window.ExpectedClicks >= DefaultConfig().MinExpectedClicks {
		t.Fatalf("window expected clicks %v, want below %v for this test to mean anything", r.Window.ExpectedClicks, DefaultConfig().MinExpectedClicks)
	}
}

func TestOnlyTheBadVersionAlerts(t *testing.T) {
	t.Parallel()
	reg := newRegistry()
	m, err := New(DefaultConfig(), nil, nil, reg)
	if err != nil {
		t.Fatalf("New() error %v", err)
	}
	evs := simulate(6, []phase{{dur: 3 * time.Hour, arms: []arm{{model: "v1", perMinute: 150, factor: 1}, {model: "v2", perMinute: 150, factor: 0.7}}}}, uniformDelay(25*time.Minute))
	als := feed(t, m, evs)
	for _, tc := range []struct {
		model string
		want  []string
		gauge float64
	}{
		{"v1", nil, 0},
		{"v2", []string{monitoring.StateFiring}, 1},
	} {
		if got := transitions(als, tc.model); !slices.Equal(got, tc.want) {
			t.Errorf("transitions(%v) = %v, want %v", tc.model, got, tc.want)
		}
		if got := gauge(t, reg, "ads_monitor_calibration_alert", map[string]string{"model": tc.model}); got != tc.gauge {
			t.Errorf("ads_monitor_calibration_alert{model=%v} = %v, want %v", tc.model, got, tc.gauge)
		}
		if got, want := gauge(t, reg, "ads_monitor_impressions_total", map[string]string{"model": tc.model, "result": ResultCounted}), float64(3*60*150); got != want {
			t.Errorf("ads_monitor_impressions_total{model=%v} = %v, want %v", tc.model, got, want)
		}
	}
}

func TestAlertResolves(t *testing.T) {
	// The same version overpredicts for three hours, then is calibrated (the traffic mix
	// moved back): the alert fires once and resolves once, without flapping in between.
	t.Parallel()
	m := newMonitor(t, DefaultConfig())
	evs := simulate(7, []phase{
		{dur: 150 * time.Minute, arms: []arm{{model: "v", perMinute: 150, factor: 0.7}}},
		{dur: 150 * time.Minute, arms: []arm{{model: "v", perMinute: 150, factor: 1}}},
	}, uniformDelay(25*time.Minute))
	als := feed(t, m, evs)
	if got, want := transitions(als, "v"), []string{monitoring.StateFiring, monitoring.StateResolved}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	if resolved, good := als[1].At, t0.Add(150*time.Minute); resolved.Before(good) {
		t.Errorf("resolved at %v, before the model became calibrated at %v", resolved, good)
	}
	if row(t, m.Report(), "v").Alert != nil {
		t.Errorf("Report().Alert firing after the alert resolved")
	}
}

func TestImmatureImpressionsNotJudged(t *testing.T) {
	// A calibrated model whose every click comes 25 minutes after its impression: judging
	// impressions younger than that would see a third of the hour's clicks missing.
	t.Parallel()
	m := newMonitor(t, DefaultConfig())
	evs := simulate(8, []phase{{dur: 3 * time.Hour, arms: []arm{{model: "v", perMinute: 150, factor: 1}}}},
		func(*rand.Rand) time.Duration { return 25 * time.Minute })
	// Stop before the end so that the last impressions are still young.
	cut := slices.IndexFunc(evs, func(e event) bool { return !e.at.Before(t0.Add(3 * time.Hour)) })
	if cut < 0 {
		cut = len(evs)
	}
	ctx := context.Background()
	for i, e := range evs[:cut] {
		if e.imp != nil {
			_ = m.ObserveImpression(*e.imp)
		} else {
			_ = m.ObserveClick(*e.clk)
		}
		if i%500 == 0 {
			if als, err := m.Evaluate(ctx); err != nil || len(als) != 0 {
				t.Fatalf("Evaluate() = %+v, %v; want no alert", als, err)
			}
		}
	}
	rep := m.Report()
	r := row(t, rep, "v")
	if r.PendingImpressions < 25*150 {
		t.Errorf("PendingImpressions = %d, want at least the last 25 minutes' %d", r.PendingImpressions, 25*150)
	}
	if r.Window.Ratio < 0.85 || r.Window.Ratio > 1.15 {
		t.Errorf("window ratio = %v, want about 1 (immature impressions counted as non-clicks?)", r.Window.Ratio)
	}
	if got, want := r.Total.Impressions+r.PendingImpressions, int64(3*60*150); got != want {
		t.Errorf("matured %d + pending %d = %d, want %d", r.Total.Impressions, r.PendingImpressions, got, want)
	}
	if got := r.Total.Clicks + r.PendingClicks; got != r.Clicks.Attributed {
		t.Errorf("matured clicks %d + pending clicks %d = %d, want Attributed %d", r.Total.Clicks, r.PendingClicks, got, r.Clicks.Attributed)
	}
	if r.Window.To.Add(DefaultConfig().AttributionWindow).After(rep.Watermark) {
		t.Errorf("window ends %v, its impressions mature after the watermark %v", r.Window.To, rep.Watermark)
	}
}
