package monitoring

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// refData is 3 features: x (float, N(0,1)), c (categorical 0..3), b (bool), and a score.
func refData(rng *rand.Rand, n int) (ml.Dataset, []float64) {
	s := ml.Schema{Features: []ml.Feature{{Name: "x", Type: ml.Float}, {Name: "c", Type: ml.Categorical}, {Name: "b", Type: ml.Bool}}}
	d := ml.Dataset{Schema: s, X: make([]float64, 0, 3*n)}
	scores := make([]float64, n)
	for i := range n {
		x := rng.NormFloat64()
		d.X = append(d.X, x, float64(rng.IntN(4)), float64(rng.IntN(2)))
		scores[i] = 1 / (1 + math.Exp(-x))
	}
	return d, scores
}

type fakeFreshness map[string]features.Freshness

func (f fakeFreshness) Freshness(view string) features.Freshness { return f[view] }

func TestMonitorQualityChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ref, scores := refData(rng, 5000)
	cfg := DefaultConfig()
	cfg.Model, cfg.MinSamples = "m", 100
	cfg.Freshness = fakeFreshness{"users": {View: "users", Newest: t0, Lag: 2 * time.Hour}, "ads": {View: "ads", Newest: t0, Lag: time.Minute}}
	cfg.MaxStaleness = map[string]time.Duration{"users": time.Hour, "ads": time.Hour}
	mon, err := NewMonitor(cfg, ref, scores, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		row   []float64
		score float64
	}{
		{[]float64{0.1, 1, 0}, 0.5},         // clean
		{[]float64{math.NaN(), 1, 0}, 0.5},  // missing x
		{[]float64{40, 1, 0}, 0.5},          // x out of range
		{[]float64{0.1, 9, 1}, 0.5},         // unseen category
		{[]float64{0.1, 1.5, 0}, 0.5},       // categorical not an integer: schema
		{[]float64{0.1, 1, 2}, 0.5},         // bool not 0/1: schema
		{[]float64{0.1, 1, math.NaN()}, .5}, // missing b
	}
	for _, r := range rows {
		if err := mon.Observe(t0, r.row, r.score); err != nil {
			t.Fatal(err)
		}
	}
	if err := mon.Observe(t0, []float64{1, 2}, 0.5); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Observe(short row) = %v, want ErrBadRecord", err)
	}
	rep := mon.Check(t0)
	got := map[string]int64{}
	for _, q := range rep.Quality {
		got[q.Feature+"/"+q.Check] = q.Total
	}
	for _, tc := range []struct {
		key  string
		want int64
	}{
		{"x/" + CheckMissing, 1}, {"x/" + CheckOutOfRange, 1}, {"c/" + CheckUnseenCategory, 1},
		{"c/" + CheckSchema, 1}, {"b/" + CheckSchema, 1}, {"b/" + CheckMissing, 1}, {"score/" + CheckSchema, 1},
	} {
		if got[tc.key] != tc.want {
			t.Errorf("quality %s = %d, want %d (all: %v)", tc.key, got[tc.key], tc.want, got)
		}
	}
	if len(rep.Stale) != 2 || rep.Stale[0].View != "ads" || rep.Stale[0].Stale || !rep.Stale[1].Stale {
		t.Errorf("Stale = %+v, want ads fresh, users stale", rep.Stale)
	}
	if s := rep.Signals(); s["stale:users"] != 7200 || s["quality:x:missing"] != 1.0/7 {
		t.Errorf("Signals() stale:users = %v, quality:x:missing = %v, want 7200, 1/7", s["stale:users"], s["quality:x:missing"])
	}
	for _, d := range rep.Drift {
		if d.Status != StatusInsufficient {
			t.Errorf("%s/%s with %d values judged %s, want insufficient below MinSamples", d.Feature, d.Method, d.Window, d.Status)
		}
	}
}

func TestMonitorDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	ref, scores := refData(rng, 20_000)
	cfg := DefaultConfig()
	cfg.Model = "m"
	mon, err := NewMonitor(cfg, ref, scores, nil)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := refData(rng, 5000)
	for i := range 5000 {
		row := live.Row(i)
		row[0] += 1 // shift x by one standard deviation; c and b unchanged
		mon.Observe(t0.Add(time.Duration(i)*time.Second), row, 1/(1+math.Exp(-row[0])))
	}
	rep := mon.Check(t0)
	worst := rep.Worst()
	for _, tc := range []struct {
		feature string
		want    Status
	}{{"x", StatusAlert}, {"score", StatusAlert}, {"c", StatusOK}, {"b", StatusOK}} {
		if worst[tc.feature] != tc.want && !(tc.want == StatusOK && worst[tc.feature] == StatusWarn) {
			t.Errorf("worst status of %s = %s, want %s", tc.feature, worst[tc.feature], tc.want)
		}
	}
	if psi, _ := rep.Find("x", PSI); psi.Value < 0.8 || psi.Value > 1.0 {
		t.Errorf("PSI of x after a 1σ shift = %v, want ≈ 0.93 (μ² less the 10-bin bias)", psi.Value)
	}
	if rep.ActionRate <= rep.ReferenceActionRate+0.2 {
		t.Errorf("action rate %v vs reference %v, want a rise of > 0.2 after the shift", rep.ActionRate, rep.ReferenceActionRate)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Model = "m"
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"no model", func(c *Config) { c.Model = "" }, false},
		{"one bin", func(c *Config) { c.Bins = 1 }, false},
		{"warn above alert", func(c *Config) { c.Thresholds = Thresholds{PSI: {Warn: 0.3, Alert: 0.2}} }, false},
		{"p-value levels reversed", func(c *Config) { c.Thresholds = Thresholds{KS: {Warn: 0.01, Alert: 0.05}} }, false},
	} {
		c := good
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
