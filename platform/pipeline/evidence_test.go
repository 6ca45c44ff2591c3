package pipeline_test

import (
	"math"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
)

// TestVersionCarriesImportanceAndSlices: a run records the global importance (mean
// |TreeSHAP contribution| over holdout rows) and the holdout metrics per declared segment,
// recomputed here from the registered model and the same seeded split.
func TestVersionCarriesImportanceAndSlices(t *testing.T) {
	f := newFixture(t)
	data := mltest.Fraudish(8_000, 8, 1).Dataset // f06, f07 are noise
	def := f.definition(data)
	def.Slices = []pipeline.Slice{{Name: "f02-flag", Feature: "f02", Cuts: []float64{0.5}}}
	def.ImportanceRows = 300
	if _, err := f.pipeline(t, def, nil).Run(ctx, demand()); err != nil {
		t.Fatal(err)
	}
	m, v, err := f.reg.Load(ctx, "fraud", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	imp := v.Importance
	if imp == nil || imp.Method != ml.MethodTreeSHAP || imp.Rows != 300 || len(imp.Features) != 8 {
		t.Fatalf("Importance = %+v, want treeshap over 300 rows for 8 features", imp)
	}
	byName := map[string]float64{}
	for _, fi := range imp.Features {
		byName[fi.Feature] = fi.MeanAbs
	}
	for _, noise := range []string{"f06", "f07"} {
		if byName[noise] >= byName["f02"] {
			t.Errorf("importance of noise %s = %.4f ≥ f02's %.4f, which moves the logit by 1.5", noise, byName[noise], byName["f02"])
		}
	}
	_, holdout := data.Split(1-def.HoldoutFraction, def.SplitSeed)
	var hi, lo []int
	for i := range holdout.Rows() {
		if holdout.Row(i)[2] >= 0.5 {
			hi = append(hi, i)
		} else {
			lo = append(lo, i)
		}
	}
	if len(v.Slices) != 2 {
		t.Fatalf("Slices = %+v, want two segments", v.Slices)
	}
	for k, want := range []struct {
		segment string
		rows    []int
	}{{"f02 < 0.5", lo}, {"f02 ≥ 0.5", hi}} {
		got := v.Slices[k]
		ms, err := ml.Evaluate(m, holdout.Subset(want.rows))
		if err != nil {
			t.Fatal(err)
		}
		if got.Slice != "f02-flag" || got.Segment != want.segment || got.Rows != len(want.rows) || math.Abs(got.Metrics[ml.MetricAUC]-ms[ml.MetricAUC]) > 1e-12 {
			t.Errorf("slice %d = %s/%s %d rows AUC %.4f, want f02-flag/%s %d rows AUC %.4f", k, got.Slice, got.Segment, got.Rows, got.Metrics[ml.MetricAUC], want.segment, len(want.rows), ms[ml.MetricAUC])
		}
	}
	card, err := f.reg.Card(ctx, "fraud", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| f02-flag | f02 ≥ 0.5", "over 300 holdout rows (treeshap explanations)"} {
		if !strings.Contains(card, s) {
			t.Errorf("card lacks %q", s)
		}
	}
}

func TestBadSlicesAreRefused(t *testing.T) {
	d := mltest.Fraudish(200, 6, 1).Dataset
	m, err := ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []pipeline.Slice{
		{Name: "x", Feature: "nope", Cuts: []float64{1}},
		{Name: "x", Feature: "f00"},
		{Name: "x", Feature: "f00", Cuts: []float64{1, 0}},
		{Name: "x", Feature: "f00", Cuts: []float64{0}, Labels: []string{"one"}},
		{Feature: "f00", Cuts: []float64{0}},
	} {
		if _, err := pipeline.EvaluateSlices(m, d, []pipeline.Slice{s}); err == nil {
			t.Errorf("EvaluateSlices(%+v) = nil error, want refused", s)
		}
	}
}
