package ctr

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/sim"
)

// A small log: the model beats the base rate clearly, lands near the generator's log
// loss, and the shuffled slice measures the position effect. The case study's floor (2%
// of Bayes) needs the full-size log (adsranking eval); this test keeps a looser bar that a
// broken trainer, a wrong position estimate or a feature mix-up would still miss.
func TestTrainApproachesTheGenerator(t *testing.T) {
	ctx := context.Background()
	w, err := sim.New(sim.SmallConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix, err := inventory.New(w.Campaigns, w.Ads, len(w.Placements))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Generate(ctx, w, ix, w.Requests(150_000, 1), DefaultLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, rep, err := Train(ctx, l, l.SplitAt(sim.Day.Add(20*time.Hour)), 3, w.Truth().Position(), DefaultTrainConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d impressions; log loss %.5f, Bayes %.5f (ratio %.4f), base rate %.5f; position %.3f; ECE %.4f → %.4f",
		l.Rows(), rep.LogLoss, rep.BayesLogLoss, rep.Ratio(), rep.BaseRateLogLoss, rep.PositionEstimated, rep.ECERaw, rep.ECE)
	gap := rep.BaseRateLogLoss - rep.BayesLogLoss
	if got := rep.LogLoss - rep.BayesLogLoss; !(got < 0.5*gap) {
		t.Errorf("log loss %.5f: want it to close at least half the gap between the base rate %.5f and Bayes %.5f", rep.LogLoss, rep.BaseRateLogLoss, rep.BayesLogLoss)
	}
	if imp := rep.Importance; imp == nil || len(imp.Features) != Schema.Len() || imp.Rows == 0 {
		t.Errorf("Train: importance %+v, want one mean |contribution| per field over holdout rows", imp)
	}
	if rep.Ratio() < 1 {
		t.Errorf("log loss %.5f below the generator's own %.5f on %d rows: the holdout leaks", rep.LogLoss, rep.BayesLogLoss, rep.HoldoutRows)
	}
	for s, want := range w.Truth().Position() {
		if got := m.Position[s]; math.Abs(got-want) > 0.12 {
			t.Errorf("position[%d] = %.3f, want %.3f ± 0.12", s, got, want)
		}
	}
	if rep.ECE > 0.01 {
		t.Errorf("ECE %.4f, want ≤ 0.01", rep.ECE)
	}
}

func TestEstimatePositionNeedsExploration(t *testing.T) {
	l := &Log{Clicked: []float64{1, 0}, Slot: []int8{0, 1}, Shuffled: []bool{false, false}, Request: []int32{0, 0}}
	if _, err := EstimatePosition(l, []int{0, 1}, 2); err == nil {
		t.Error("EstimatePosition(no shuffled requests) = nil error, want ErrNoExploration")
	}
}
