package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
)

// clickSet is a click log under the examination model, in time order: two categorical
// fields set the click probability of a seen ad, each row was seen with probability about
// 1 or 0.4 (top or lower slot), and the reference is the generator's own probability of
// the row's label. Each exposure is nudged by its row number (rowOf reads it back), so a
// test can tell which rows a step was given.
func clickSet(n int, seed uint64) pipeline.TrainingSet {
	rng := rand.New(rand.NewPCG(seed, 9))
	alpha, beta := make([]float64, 12), make([]float64, 12)
	for i := range alpha {
		alpha[i], beta[i] = rng.NormFloat64()*0.6, rng.NormFloat64()*0.6
	}
	s := ml.Schema{Features: []ml.Feature{{Name: "a", Type: ml.Categorical}, {Name: "b", Type: ml.Categorical}}}
	ts := pipeline.TrainingSet{Data: ml.Dataset{Schema: s}, From: day0, To: day0.AddDate(0, 0, 1), Params: map[string]string{"position": "[1,0.4]"}}
	for i := range n {
		a, b := rng.IntN(12), rng.IntN(12)
		p := 1 / (1 + math.Exp(-(-1.5 + alpha[a] + beta[b])))
		e := 1.0
		if rng.IntN(2) == 1 {
			e = 0.4
		}
		e *= 1 - float64(i)*1e-8
		y := 0.0
		if rng.Float64() < e*p {
			y = 1
		}
		ts.Data.X = append(ts.Data.X, float64(a), float64(b))
		ts.Data.Y = append(ts.Data.Y, y)
		ts.Data.Exposure = append(ts.Data.Exposure, e)
		ts.Reference = append(ts.Reference, e*p)
	}
	return ts
}

// rowOf is the row number clickSet folded into an exposure.
func rowOf(e float64) int {
	base := 1.0
	if e < 0.7 {
		base = 0.4
	}
	return int(math.Round((1 - e/base) / 1e-8))
}

func clickFM(ctx context.Context, d ml.Dataset) (ml.Model, error) {
	cfg := ml.DefaultFMConfig()
	cfg.HashBits, cfg.Factors, cfg.Epochs = 8, 2, 3
	return ml.TrainFM(ctx, d, cfg)
}

func (f *fixture) clickDefinition(ts pipeline.TrainingSet, train func(context.Context, ml.Dataset) (ml.Model, error)) pipeline.Definition {
	return pipeline.Definition{
		Name: "clicks", Model: "pctr",
		Source: pipeline.SourceFunc(func(ctx context.Context) (pipeline.TrainingSet, error) {
			f.sourceRuns.Add(1)
			return ts, nil
		}),
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			f.trainRuns.Add(1)
			return train(ctx, d)
		},
		HoldoutFraction: 0.25, Split: pipeline.SplitTime, CalibrationFraction: 0.1, LatencySamples: 50,
		Gates: registry.Gates{EvalSet: "holdout", Metric: ml.MetricLogLossRatio,
			Floors: []registry.Floor{{EvalSet: "holdout", Metric: ml.MetricLogLossRatio, Min: 1.02}}},
		Alias: registry.Champion, Actor: "pipeline-test", CodeVersion: "test",
	}
}

// The time split trains on the first rows (less the calibration hold-back at their end)
// and evaluates on the last; the random split, still the default, mixes them.
func TestTimeSplit(t *testing.T) {
	ts := clickSet(4_000, 1)
	for _, tc := range []struct {
		split        pipeline.SplitKind
		wantMaxTrain int // the highest row number the trainer may see
		wantOrdered  bool
	}{
		{pipeline.SplitTime, 2699, true}, // 3,000 training rows, the last 300 held back for calibration
		{pipeline.SplitRandom, 3999, false},
	} {
		t.Run(string(tc.split)+"split", func(t *testing.T) {
			f := newFixture(t)
			var seen []int
			def := f.clickDefinition(ts, func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
				for _, e := range d.Exposure {
					seen = append(seen, rowOf(e))
				}
				return clickFM(ctx, d)
			})
			def.Split, def.SplitSeed, def.Alias = tc.split, 3, ""
			res, err := f.pipeline(t, def, nil).Run(ctx, demand())
			if err != nil {
				t.Fatal(err)
			}
			hi, ordered := 0, true
			for i, r := range seen {
				hi = max(hi, r)
				ordered = ordered && r == i
			}
			if len(seen) != 2700 || (tc.wantOrdered && (!ordered || hi != tc.wantMaxTrain)) || (!tc.wantOrdered && (ordered || hi < 3900)) {
				t.Errorf("%q split: trainer saw %d rows, highest %v, in order %v; want 2700 rows, highest %v, in order %v",
					tc.split, len(seen), hi, ordered, tc.wantMaxTrain, tc.wantOrdered)
			}
			if got := res.Metrics["holdout"][ml.MetricRows]; got != 1000 {
				t.Errorf("holdout rows = %v, want 1000", got)
			}
		})
	}
	if err := (pipeline.Definition{Name: "x", Model: "x", Source: pipeline.SourceFunc(nil), Train: clickFM, HoldoutFraction: 0.2,
		LatencySamples: 1, Actor: "a", Split: "weekly", Gates: registry.Gates{EvalSet: "holdout", Metric: "auc"}}).Validate(); err == nil {
		t.Error(`Validate(Split "weekly") = nil, want an error`)
	}
}

// The exposure column reaches the trainer (through the build checkpoint of a killed run
// too), the evaluation records the log loss over the reference, and a gate floor of 1.02 on
// that ratio passes the model and refuses one that ignores a field: it stays registered,
// the champion does not move.
func TestReferenceRatioGateAndExposure(t *testing.T) {
	ts := clickSet(60_000, 2)
	f := newFixture(t)
	var got ml.Dataset
	def := f.clickDefinition(ts, func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		got = d
		return clickFM(ctx, d)
	})
	if _, err := f.pipeline(t, def, func(s string) error {
		if s == pipeline.StepBuild {
			return errKilled
		}
		return nil
	}).Run(ctx, demand()); !errors.Is(err, errKilled) {
		t.Fatalf("Run killed after build = %v, want errKilled", err)
	}
	good, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if len(good.Resumed) != 1 || len(got.Exposure) != got.Rows() || got.Exposure[7] != ts.Data.Exposure[7] {
		t.Fatalf("resumed %v; trainer got %d exposures for %d rows; want the build resumed and every row's exposure", good.Resumed, len(got.Exposure), got.Rows())
	}
	h := good.Metrics["holdout"]
	ratio, ref := h[ml.MetricLogLossRatio], h[ml.MetricReferenceLogLoss]
	if !(ref > 0) || math.Abs(ratio-h[ml.MetricLogLoss]/ref) > 1e-12 {
		t.Fatalf("holdout metrics %v: want the reference log loss and the ratio of the model's to it", h)
	}
	if !good.GatesPassed || !good.Moved || ratio > 1.02 {
		t.Fatalf("exposure-aware model: ratio %.4f, gates %v (%+v), moved %v; want ≤ 1.02, promoted", ratio, good.GatesPassed, good.Gates, good.Moved)
	}

	blind := f.clickDefinition(ts, func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		d.X = slices.Clone(d.X) // trained blind to field b
		for i := 1; i < len(d.X); i += 2 {
			d.X[i] = 0
		}
		return clickFM(ctx, d)
	})
	blind.Name = "clicks-blind"
	bad, err := f.pipeline(t, blind, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	floorFailed := false
	for _, g := range bad.Gates {
		floorFailed = floorFailed || (g.Gate == "floor:holdout/"+ml.MetricLogLossRatio && !g.Passed)
	}
	if bad.GatesPassed || bad.Moved || !bad.Created || !floorFailed {
		t.Errorf("model blind to a field: ratio %.4f, created %v, gates %+v, moved %v; want registered, refused by the 1.02 floor",
			bad.Metrics["holdout"][ml.MetricLogLossRatio], bad.Created, bad.Gates, bad.Moved)
	}
	if al, _ := f.reg.Aliases(ctx, "pctr"); al[registry.Champion] != good.Version {
		t.Errorf("champion = v%d, want v%d", al[registry.Champion], good.Version)
	}
	short := ts
	short.Reference = ts.Reference[:10]
	if _, err := f.pipeline(t, f.clickDefinition(short, clickFM), nil).Run(ctx, demand()); !errors.Is(err, ml.ErrShape) {
		t.Errorf("Run(10 reference probabilities for 60,000 rows) = %v, want ErrShape", err)
	}
}

// Side parameters, the source's (a position effect) and the train step's (the
// calibration), are recorded on the version, and survive a run killed after training.
func TestSideParamsOnTheVersion(t *testing.T) {
	ts := clickSet(20_000, 3)
	f := newFixture(t)
	// A trainer whose predictions are off by a factor, so that calibration helps.
	skewed := func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		dd := d
		dd.Exposure = nil
		return clickFM(ctx, dd)
	}
	def := f.clickDefinition(ts, skewed)
	def.Alias = ""
	if _, err := f.pipeline(t, def, func(s string) error {
		if s == pipeline.StepTrain {
			return errKilled
		}
		return nil
	}).Run(ctx, demand()); !errors.Is(err, errKilled) {
		t.Fatal(err)
	}
	tr := f.trainRuns.Load()
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if f.trainRuns.Load() != tr {
		t.Errorf("training ran again after a kill past the train step")
	}
	v, err := f.reg.Resolve(ctx, "pctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	var pl ml.Platt
	if err := json.Unmarshal([]byte(v.Params[pipeline.ParamCalibration]), &pl); err != nil {
		t.Fatalf("version params %v: calibration: %v", v.Params, err)
	}
	if v.Params["position"] != "[1,0.4]" || pl.Identity() || v.Params["calibration_applied"] != "true" {
		t.Errorf("version params %v: want the source's position and a fitted, applied calibration", v.Params)
	}
	// The recorded metrics are the calibrated model's: recomputing them by hand from the
	// version's calibration gives the same log loss.
	m, _, err := f.reg.Load(ctx, "pctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	mh, err := ml.EvaluateCalibrated(m, ts.Data.Subset(ml.Range(15_000, 20_000)), pl)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(mh[ml.MetricLogLoss] - res.Metrics["holdout"][ml.MetricLogLoss]); d > 1e-12 {
		t.Errorf("holdout log loss from the version's calibration %v, recorded %v", mh[ml.MetricLogLoss], res.Metrics["holdout"][ml.MetricLogLoss])
	}
}
