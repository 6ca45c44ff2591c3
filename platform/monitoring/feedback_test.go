package monitoring

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

func TestJoinerOutOfOrderAndHorizon(t *testing.T) {
	cfg := DefaultJoinConfig()
	cfg.Model, cfg.Horizon, cfg.K, cfg.KeepRows = "m", 24*time.Hour, 2, 10
	j, err := NewJoiner(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := func(id string, score float64, at time.Duration) predlog.Prediction {
		return predlog.Prediction{ID: id, Model: "m", Version: 1, Time: t0.Add(at), Score: score, Features: map[string]float64{"x": score}}
	}
	j.AddPrediction(p("a", 0.9, 0))
	j.AddPrediction(p("b", 0.2, time.Hour))
	j.AddOutcome(predlog.Outcome{ID: "a", Model: "m", Label: 1, Time: t0.Add(3 * time.Hour)})
	j.AddOutcome(predlog.Outcome{ID: "c", Model: "m", Label: 0, Time: t0.Add(5 * time.Hour)}) // before its prediction
	j.AddPrediction(p("c", 0.4, 2*time.Hour))
	j.AddOutcome(predlog.Outcome{ID: "c", Model: "m", Label: 0, Time: t0.Add(5 * time.Hour)}) // duplicate
	j.AddPrediction(p("d", 0.7, 2*time.Hour))
	res, pending := j.Counts()
	if res["joined"] != 2 || res["early"] != 1 || pending != 2 {
		t.Errorf("after joins: counts %v, pending %d; want joined 2, early 1, pending 2 (b, d)", res, pending)
	}
	if res["duplicate"] != 1 {
		t.Errorf("duplicate outcomes = %d, want 1", res["duplicate"])
	}
	if n := j.Advance(t0.Add(26 * time.Hour)); n != 1 { // b (t0+1h) is past the horizon; d (t0+2h) is not
		t.Errorf("Advance(t0+26h) expired %d, want 1", n)
	}
	q := j.Quality(1)
	if q.Labelled != 2 || q.Positives != 1 || q.AUC != 1 || q.LabelDelayP50 != 3*time.Hour {
		t.Errorf("Quality(1) = %+v, want 2 labelled, 1 positive, AUC 1, median delay 3h", q)
	}
	if d, _, _ := j.Labelled(ml.FloatSchema("x"), time.Time{}); d.Rows() != 2 {
		t.Errorf("Labelled() has %d rows, want 2", d.Rows())
	}

	cfg.ImplicitNegative = true
	j2, _ := NewJoiner(cfg, nil)
	j2.AddPrediction(p("e", 0.3, 0))
	j2.Advance(t0.Add(48 * time.Hour))
	if q := j2.Quality(1); q.Labelled != 1 || q.Positives != 0 || q.LabelDelayP50 != 0 {
		t.Errorf("implicit negative: Quality = %+v, want one labelled negative with no label delay", q)
	}
	j2.AddOutcome(predlog.Outcome{ID: "e", Model: "m", Label: 1, Time: t0.Add(50 * time.Hour)}) // the chargeback, after the horizon
	if res, _ := j2.Counts(); res["late"] != 1 || res["implicit_negative"] != 1 {
		t.Errorf("late outcome after an implicit negative: counts %v, want late 1", res)
	}
}

func TestDecayDetector(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := DefaultJoinConfig()
	cfg.Model = "m"
	for _, tc := range []struct {
		name    string
		signal  float64 // how much the score knows about the label online
		decayed bool
	}{
		{"online as good as offline", 2.0, false},
		{"online far worse", 0.3, true},
	} {
		j, _ := NewJoiner(cfg, nil)
		for i := range 3000 {
			y := float64(rng.IntN(2))
			s := 1 / (1 + math.Exp(-(tc.signal*(y-0.5) + rng.NormFloat64())))
			id := fmt.Sprint(i)
			j.AddPrediction(predlog.Prediction{ID: id, Model: "m", Version: 3, Time: t0, Score: s})
			j.AddOutcome(predlog.Outcome{ID: id, Model: "m", Label: y, Time: t0.Add(time.Hour)})
		}
		offline := j.Quality(3).AUC
		if tc.decayed {
			offline = 0.84 // what a signal of 2.0 gets, as registered offline
		}
		d := j.CheckDecay(registry.Version{Model: "m", Number: 3, Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: offline}}}, DefaultDecayConfig())
		if d.Decayed != tc.decayed || !d.Enough {
			t.Errorf("%s: CheckDecay = %+v, want decayed=%v with enough evidence", tc.name, d, tc.decayed)
		}
	}
}

// openPredictionLog opens an embedded event log with the monitoring streams and a
// PredictionLog writing to it; ctx lasts 20 s.
func openPredictionLog(t *testing.T) (context.Context, *eventlog.Log, *PredictionLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := EnsureStreams(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	pl, err := NewPredictionLog(l, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, l, pl
}

func TestPredictionLogRoundTrip(t *testing.T) {
	ctx, l, pl := openPredictionLog(t)
	b := ml.Batch{Schema: ml.FloatSchema("x", "y"), X: []float64{1, math.NaN(), 3, 4}}
	if err := pl.LogBatch(ctx, "fraud", 2, Canary, t0, []string{"r1", "r2"}, b, []float64{0.1, 0.9}); err != nil {
		t.Fatal(err)
	}
	// A retried call stores nothing twice.
	if err := pl.LogBatch(ctx, "fraud", 2, Canary, t0, []string{"r1", "r2"}, b, []float64{0.1, 0.9}); err != nil {
		t.Fatal(err)
	}
	if err := pl.LogOutcomes(ctx, predlog.Outcome{ID: "r2", Model: "fraud", Label: 1, Time: t0.Add(48 * time.Hour), Kind: "chargeback"}); err != nil {
		t.Fatal(err)
	}
	if err := pl.Log(ctx, predlog.Prediction{ID: "bad", Model: "fraud", Score: math.NaN()}); err == nil {
		t.Error("Log accepted a NaN score")
	}
	jc := DefaultJoinConfig()
	jc.Model = "fraud"
	j, _ := NewJoiner(jc, nil)
	var got []predlog.Prediction
	h := j.Handler()
	for _, stream := range []string{predlog.PredictionStream, predlog.OutcomeStream} {
		st, err := l.Replay(ctx, stream, eventlog.FromBeginning(), nil, func(ctx context.Context, m *eventlog.Message) error {
			if predlog.IsPrediction(m.Subject) {
				ps, err := predlog.DecodePredictions(m)
				if err != nil {
					return err
				}
				got = append(got, ps...)
			}
			return h(ctx, m)
		})
		if err != nil {
			t.Fatal(err)
		}
		if stream == predlog.PredictionStream && st.Events != 1 {
			t.Errorf("prediction stream holds %d events, want 1 (both rows in one message, the retry deduplicated)", st.Events)
		}
	}
	if len(got) != 2 || got[0].Version != 2 || got[0].Alias != Canary || !math.IsNaN(got[0].Row(b.Schema)[1]) || got[1].Features["x"] != 3 || !got[1].Time.Equal(t0) {
		t.Errorf("read back %+v, want r1 (y missing) and r2 as logged", got)
	}
	if q := j.Quality(2); q.Labelled != 1 || q.LabelDelayP50 != 48*time.Hour {
		t.Errorf("joined from the log: %+v, want 1 labelled with a 48h delay", q)
	}
}

// JudgeDecay: an absolute tolerance, a relative one, and too little evidence.
func TestJudgeDecay(t *testing.T) {
	q := OnlineQuality{Model: "m", Version: 2, Labelled: 2000, Positives: 60, PositiveRate: 0.03}
	tests := []struct {
		name     string
		baseline float64
		cfg      DecayConfig
		decayed  bool
	}{
		{"absolute, drop 0.02 ≥ 0.01", 0.05, DecayConfig{Metric: "ctr", Tolerance: 0.01, MinLabelled: 1000, MinPositives: 30}, true},
		{"absolute, drop 0.02 < 0.03", 0.05, DecayConfig{Metric: "ctr", Tolerance: 0.03, MinLabelled: 1000, MinPositives: 30}, false},
		{"relative, 40% below ≥ 20%", 0.05, DecayConfig{Metric: "ctr", Tolerance: 0.2, Relative: true, MinLabelled: 1000, MinPositives: 30}, true},
		{"relative, 6% below < 20%", 0.032, DecayConfig{Metric: "ctr", Tolerance: 0.2, Relative: true, MinLabelled: 1000, MinPositives: 30}, false},
		{"not enough clicks", 0.05, DecayConfig{Metric: "ctr", Tolerance: 0.01, MinLabelled: 1000, MinPositives: 100}, false},
	}
	for _, tt := range tests {
		d := JudgeDecay(q, tt.baseline, tt.cfg)
		if d.Decayed != tt.decayed || math.Abs(d.Drop-(tt.baseline-0.03)) > 1e-12 || d.Version != 2 {
			t.Errorf("%s: JudgeDecay = %+v, want decayed %v, drop %v", tt.name, d, tt.decayed, tt.baseline-0.03)
		}
	}
}

// TestJoinerPeriodWindow: quality over whole days of due predictions, by hand. Day 0 has
// a 0.9 (fraud), b 0.8, c 0.1 (fraud), d 0.3; day 1 has e 0.7 (fraud), f 0.6, g 0.2; day
// 2 has h 0.5 (not yet due). Chargebacks come a day late; the horizon is 2 days.
func TestJoinerPeriodWindow(t *testing.T) {
	day := 24 * time.Hour
	base := time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC)
	cfg := JoinConfig{Model: "m", Horizon: 2 * day, ImplicitNegative: true, Window: 100, K: 2, ActionThreshold: 0.5,
		Period: day, Periods: 2, OutcomeClock: true}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoiner(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	preds := []struct {
		id    string
		score float64
		at    time.Duration
		fraud bool
	}{
		{"a", 0.9, 1 * time.Hour, true}, {"b", 0.8, 2 * time.Hour, false}, {"c", 0.1, 3 * time.Hour, true}, {"d", 0.3, 4 * time.Hour, false},
		{"e", 0.7, day + time.Hour, true}, {"f", 0.6, day + 2*time.Hour, false}, {"g", 0.2, day + 3*time.Hour, false},
		{"h", 0.5, 2*day + 5*time.Hour, false},
	}
	for _, p := range preds {
		j.AddPrediction(predlog.Prediction{ID: p.id, Model: "m", Version: 1, Time: base.Add(p.at), Score: p.score})
		if p.fraud {
			j.AddOutcome(predlog.Outcome{ID: p.id, Model: "m", Label: 1, Time: base.Add(p.at + day), Kind: "chargeback"})
		}
	}
	// The newest outcome is e's (day 2, 01:00): predictions are closed as negatives only
	// before day 0, 01:00 (none), so of the window (days 0 and 1, due at day 4 01:00 minus
	// 2 days) only a, c and e are labelled, by their chargebacks.
	j.Advance(base.Add(4*day + time.Hour))
	q := j.Quality(1)
	if q.Due != 7 || q.Labelled != 3 || math.Abs(q.LabelCoverage-3.0/7) > 1e-12 {
		t.Errorf("outcome feed behind: Quality = due %d, labelled %d, coverage %v; want 7, 3, 3/7", q.Due, q.Labelled, q.LabelCoverage)
	}
	// An outcome from day 4 01:00 moves the outcome clock: every prediction before day 2
	// 01:00 is closed, b d f g as negatives.
	j.AddOutcome(predlog.Outcome{ID: "z", Model: "m", Label: 1, Time: base.Add(4*day + time.Hour), Kind: "chargeback"})
	j.Advance(base.Add(4*day + time.Hour))
	q = j.Quality(1)
	// AUC: positives .9 .1 .7 against negatives .8 .3 .6 .2: .9 beats 4, .1 none, .7 three: 7/12.
	// Precision at 2: day 0 {a, b} 1/2, day 1 {e, f} 1/2: mean 0.5.
	if q.Due != 7 || q.Labelled != 7 || q.Positives != 3 || q.LabelCoverage != 1 || math.Abs(q.AUC-7.0/12) > 1e-12 || q.PrecisionAtK != 0.5 ||
		!q.From.Equal(base) || !q.To.Equal(base.Add(2*day)) {
		t.Errorf("Quality = %+v; want due 7, labelled 7, positives 3, coverage 1, AUC 7/12, precision@2 0.5, window days 0-1", q)
	}
	if got := testutil.ToFloat64(m.online.WithLabelValues("m", "1", "label_coverage")); got != 1 {
		t.Errorf("exported label_coverage = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.online.WithLabelValues("m", "1", "auc")); math.Abs(got-7.0/12) > 1e-12 {
		t.Errorf("exported auc = %v, want 7/12", got)
	}

	// Day 1 alone, before f and g are closed: precision at 2 counts only labelled e (1/1),
	// so the mean over days 0 and 1 is (1/2 + 1)/2.
	j2, _ := NewJoiner(cfg, nil)
	for _, p := range preds {
		j2.AddPrediction(predlog.Prediction{ID: p.id, Model: "m", Version: 1, Time: base.Add(p.at), Score: p.score})
		if p.fraud {
			j2.AddOutcome(predlog.Outcome{ID: p.id, Model: "m", Label: 1, Time: base.Add(p.at + day), Kind: "chargeback"})
		}
	}
	j2.AddOutcome(predlog.Outcome{ID: "y", Model: "m", Label: 1, Time: base.Add(2*day + 13*time.Hour), Kind: "chargeback"}) // closes day 0
	j2.Advance(base.Add(4*day + time.Hour))
	q = j2.Quality(1)
	// Labelled: a b c d (day 0) and e: AUC positives .9 .1 .7 vs .8 .3: 2 + 0 + 1 of 6.
	if q.Labelled != 5 || math.Abs(q.LabelCoverage-5.0/7) > 1e-12 || q.PrecisionAtK != 0.75 || math.Abs(q.AUC-0.5) > 1e-12 {
		t.Errorf("half-closed: Quality = %+v; want labelled 5, coverage 5/7, precision@2 0.75, AUC 0.5", q)
	}

	// Without OutcomeClock the prediction clock alone closes them: coverage 1 although the
	// outcome feed said nothing past day 2.
	cfg.OutcomeClock = false
	j3, _ := NewJoiner(cfg, nil)
	for _, p := range preds {
		j3.AddPrediction(predlog.Prediction{ID: p.id, Model: "m", Version: 1, Time: base.Add(p.at), Score: p.score})
	}
	j3.Advance(base.Add(4*day + time.Hour))
	if q := j3.Quality(1); q.LabelCoverage != 1 || q.Positives != 0 {
		t.Errorf("no outcome clock, no outcomes: Quality = %+v; want coverage 1 and no positives", q)
	}
}
