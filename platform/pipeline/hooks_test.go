package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
)

// hookDefinition is the fixture's definition judged by an Evaluate hook returning metric
// = value, gated by a floor on it at min.
func hookDefinition(f *fixture, d ml.Dataset, metric string, value, floor float64) pipeline.Definition {
	def := f.definition(d)
	def.Evaluate = func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (ml.Metrics, error) {
		return ml.Metrics{metric: value}, nil
	}
	def.Gates = registry.Gates{EvalSet: "holdout", Metric: metric, LatencyBudget: time.Second,
		Floors: []registry.Floor{{EvalSet: "holdout", Metric: metric, Min: floor}}}
	return def
}

// An Evaluate hook's metrics are what the version records and what the gates read: a
// model whose hook metric clears the floor is promoted, a later one below it is refused
// and the champion stays.
func TestEvaluateHookIsRecordedAndGated(t *testing.T) {
	f := newFixture(t)
	data := mltest.Fraudish(3_000, 4, 5).Dataset
	good := hookDefinition(f, data, "hits_at_10", 0.4, 0.3)
	r1, err := f.pipeline(t, good, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if got := r1.Metrics["holdout"]; len(got) != 1 || got["hits_at_10"] != 0.4 {
		t.Fatalf("holdout metrics = %v, want only the hook's hits_at_10 = 0.4", got)
	}
	if !r1.GatesPassed || !r1.Moved {
		t.Fatalf("good model: gates %v moved %v (%+v), want promoted", r1.GatesPassed, r1.Moved, r1.Gates)
	}
	bad := hookDefinition(f, data, "hits_at_10", 0.1, 0.3)
	bad.SplitSeed = 9 // another split, another model
	r2, err := f.pipeline(t, bad, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if r2.Version == r1.Version || r2.GatesPassed || r2.Moved {
		t.Fatalf("bad model v%d: gates %v moved %v, want a new version refused", r2.Version, r2.GatesPassed, r2.Moved)
	}
	if v, err := f.reg.Resolve(ctx, "fraud", registry.Champion); err != nil || v.Number != r1.Version {
		t.Fatalf("champion = v%d (%v), want v%d kept", v.Number, err, r1.Version)
	}
	v, err := f.reg.Resolve(ctx, "fraud", strconv.Itoa(r2.Version))
	if err != nil || v.Metrics["holdout"]["hits_at_10"] != 0.1 {
		t.Fatalf("registered v%d metrics = %v (%v), want the hook's 0.1", r2.Version, v.Metrics, err)
	}
}

// A metric the definition declares lower-is-better is gated that way: 0.05 clears a
// floor of "at most 0.1" (undeclared, it would be read as "at least 0.1" and refused).
func TestLowerIsBetterHookMetric(t *testing.T) {
	f := newFixture(t)
	def := hookDefinition(f, mltest.Fraudish(3_000, 4, 6).Dataset, "pipeline_test_miss_rate", 0.05, 0.1)
	def.LowerIsBetter = []string{"pipeline_test_miss_rate"}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !res.GatesPassed || !res.Moved {
		t.Fatalf("gates %+v passed %v, want 0.05 ≤ 0.1 to pass", res.Gates, res.GatesPassed)
	}
	v, _ := f.reg.Resolve(ctx, "fraud", strconv.Itoa(res.Version))
	if v.Params["lower_is_better"] != "pipeline_test_miss_rate" {
		t.Errorf("params = %v, want lower_is_better recorded", v.Params)
	}
	def.LowerIsBetter = nil
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	def.Evaluate, def.LowerIsBetter = nil, []string{"x"}
	if err := def.Validate(); err == nil {
		t.Error("LowerIsBetter without Evaluate validated")
	}
}

// A SplitFunc decides the holdout: the Evaluate hook sees exactly its rows, and a split
// that gives a row twice is an error, not a silent leak.
func TestSplitFunc(t *testing.T) {
	f := newFixture(t)
	data := mltest.Fraudish(3_000, 4, 7).Dataset
	k := data.Schema.Len()
	def := f.definition(data)
	def.HoldoutFraction = 0
	def.SplitFunc = func(d ml.Dataset) (tr, ho []int, err error) {
		for i := range d.Rows() {
			if i%3 == 0 {
				ho = append(ho, i)
			} else {
				tr = append(tr, i)
			}
		}
		return tr, ho, nil
	}
	def.Evaluate = func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (ml.Metrics, error) {
		for j := range holdout.Rows() {
			if !slices.Equal(holdout.X[j*k:(j+1)*k], data.X[3*j*k:(3*j+1)*k]) {
				return nil, errors.New("holdout row is not every third row")
			}
		}
		return ml.Metrics{"holdout_rows": float64(holdout.Rows()), "train_rows": float64(train.Rows())}, nil
	}
	def.Gates = registry.Gates{EvalSet: "holdout", Metric: "holdout_rows", LatencyBudget: time.Second}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Metrics["holdout"]; m["holdout_rows"] != 1000 || m["train_rows"] != 2000 {
		t.Fatalf("metrics = %v, want 1000 holdout and 2000 training rows", m)
	}
	v, _ := f.reg.Resolve(ctx, "fraud", strconv.Itoa(res.Version))
	if v.Params["split"] != "custom" {
		t.Errorf("params = %v, want split=custom", v.Params)
	}
	def.Name = "overlap"
	def.SplitFunc = func(d ml.Dataset) ([]int, []int, error) { return []int{0, 1, 2}, []int{2, 3}, nil }
	if _, err := f.pipeline(t, def, nil).Run(ctx, demand()); err == nil {
		t.Error("a split giving row 2 to both sides ran")
	}
	def.HoldoutFraction = 0.2
	if err := def.Validate(); err == nil {
		t.Error("SplitFunc with a HoldoutFraction validated")
	}
}

// With Refit the model evaluated is fitted on the training split and the one registered
// on every row; a run killed after the train step resumes with both, not retraining.
func TestRefit(t *testing.T) {
	f := newFixture(t)
	data := mltest.Fraudish(2_000, 4, 8).Dataset
	def := f.definition(data)
	def.Refit = true
	var mu sync.Mutex
	var rows []int
	artifacts := map[int]string{}
	inner := def.Train
	def.Train = func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		m, err := inner(ctx, d)
		if err == nil {
			b, _ := m.MarshalBinary()
			mu.Lock()
			rows = append(rows, d.Rows())
			artifacts[d.Rows()] = registry.Sum(b)
			mu.Unlock()
		}
		return m, err
	}
	if _, err := f.pipeline(t, def, func(s string) error {
		if s == pipeline.StepTrain {
			return errKilled
		}
		return nil
	}).Run(ctx, demand()); !errors.Is(err, errKilled) {
		t.Fatalf("killed run = %v", err)
	}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []int{1_500, 2_000}) {
		t.Fatalf("trained on %v rows, want the 1,500-row split then all 2,000 (once: the rerun resumes)", rows)
	}
	if res.Artifact != artifacts[2_000] || res.Artifact == artifacts[1_500] {
		t.Errorf("registered artifact %s, want the refit's %s", res.Artifact[:12], artifacts[2_000][:12])
	}
	v, _ := f.reg.Resolve(ctx, "fraud", strconv.Itoa(res.Version))
	if v.Params["refit"] != "true" || v.Metrics["holdout"][ml.MetricAUC] == 0 {
		t.Errorf("version params %v metrics %v, want refit=true and the split model's holdout AUC", v.Params, v.Metrics)
	}
}

// An implicit-feedback factorization goes through the pipeline: its training set holds
// positives only (a classifier's would be refused as single-class), the Evaluate hook
// judges it, and the registered artifact decodes back to the factorization.
func TestImplicitFeedbackFactorization(t *testing.T) {
	f := newFixture(t)
	var users, items []int64
	for u := range int64(60) {
		for j := range int64(8) {
			users, items = append(users, u), append(items, (u*7+j*3)%40)
		}
	}
	data, err := ml.InteractionDataset(users, items)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ml.DefaultIALSConfig()
	cfg.Factors, cfg.Iterations = 4, 3
	def := pipeline.Definition{
		Name: "mf", Model: "mf",
		Source: pipeline.NewMemorySource(data, day0, day0.AddDate(0, 0, 1)),
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			return ml.TrainIALS(ctx, d, cfg)
		},
		Evaluate: func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (ml.Metrics, error) {
			return ml.Metrics{"holdout_rows": float64(holdout.Rows())}, nil
		},
		HoldoutFraction: 0.2, SplitSeed: 1, LatencySamples: 50, Actor: "pipeline-test", CodeVersion: "test",
		Gates: registry.Gates{EvalSet: "holdout", Metric: "holdout_rows"},
	}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := f.reg.Load(ctx, "mf", strconv.Itoa(res.Version))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*ml.MF); !ok || res.Metrics["holdout"]["holdout_rows"] != 96 {
		t.Fatalf("registered a %s with metrics %v, want a factorization judged on 96 holdout rows", m.Family(), res.Metrics)
	}
	def.Name, def.Evaluate = "mf-classifier", nil
	if _, err := f.pipeline(t, def, nil).Run(ctx, demand()); !errors.Is(err, ml.ErrOneClass) {
		t.Errorf("positives-only set without an Evaluate hook: %v, want ErrOneClass", err)
	}
}
