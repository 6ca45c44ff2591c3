package ml_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
)

var ctx = context.Background()

func smallGBDT() ml.GBDTConfig {
	c := ml.DefaultGBDTConfig()
	c.Trees, c.MaxDepth, c.MaxLeaves = 40, 4, 16
	return c
}

func TestLogRegRecoversCoefficients(t *testing.T) {
	w, b := []float64{1.5, -2, 0.5, 0}, -0.7
	g := mltest.Logistic(100_000, w, b, 1)
	cfg := ml.DefaultLogRegConfig()
	cfg.L2 = 0
	m, err := ml.TrainLogReg(ctx, g.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw, gb := m.Coefficients()
	for j := range w {
		if !near(gw[j], w[j], 0.05) {
			t.Errorf("weight[%d] = %.3f, want %.3f ± 0.05", j, gw[j], w[j])
		}
	}
	if !near(gb, b, 0.05) {
		t.Errorf("intercept = %.3f, want %.3f ± 0.05", gb, b)
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// On data drawn from a known probability model, the trained model's test log loss must be
// within a few percent of the generator's own, which no model can beat in expectation.
func TestLogLossNearGenerator(t *testing.T) {
	train := mltest.Logistic(60_000, []float64{1, -1, 0.5, 0.25, 0, 0}, -1, 2)
	test := mltest.Logistic(40_000, []float64{1, -1, 0.5, 0.25, 0, 0}, -1, 3)
	best := ml.LogLoss(test.Y, test.P)
	trainers := map[string]func() (ml.Model, error){
		"logreg": func() (ml.Model, error) { return ml.TrainLogReg(ctx, train.Dataset, ml.DefaultLogRegConfig()) },
		"gbdt":   func() (ml.Model, error) { return ml.TrainGBDT(ctx, train.Dataset, smallGBDT()) },
	}
	limits := map[string]float64{"logreg": 1.01, "gbdt": 1.04}
	for name, train := range trainers {
		m, err := train()
		if err != nil {
			t.Fatal(err)
		}
		met, err := ml.Evaluate(m, test.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		ratio := met[ml.MetricLogLoss] / best
		t.Logf("%s: logloss %.5f, generator %.5f, ratio %.4f", name, met[ml.MetricLogLoss], best, ratio)
		if ratio > limits[name] {
			t.Errorf("%s logloss / generator logloss = %.4f, want ≤ %.2f", name, ratio, limits[name])
		}
	}
}

func TestGBDTBeatsLogRegOnNonLinearTarget(t *testing.T) {
	train := mltest.Fraudish(40_000, 8, 4)
	test := mltest.Fraudish(20_000, 8, 5)
	lr, err := ml.TrainLogReg(ctx, train.Dataset, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	gb, err := ml.TrainGBDT(ctx, train.Dataset, smallGBDT())
	if err != nil {
		t.Fatal(err)
	}
	ml1, _ := ml.Evaluate(lr, test.Dataset)
	ml2, _ := ml.Evaluate(gb, test.Dataset)
	best := ml.AUC(test.Y, test.P)
	t.Logf("AUC logreg %.4f, gbdt %.4f, generator %.4f", ml1[ml.MetricAUC], ml2[ml.MetricAUC], best)
	if ml2[ml.MetricAUC] < ml1[ml.MetricAUC]+0.05 {
		t.Errorf("gbdt AUC %.4f, want ≥ logreg AUC %.4f + 0.05", ml2[ml.MetricAUC], ml1[ml.MetricAUC])
	}
	if ml2[ml.MetricAUC] < best-0.035 {
		t.Errorf("gbdt AUC %.4f, want within 0.035 of the generator's %.4f", ml2[ml.MetricAUC], best)
	}
	imp := gb.Importance()
	top := map[string]bool{imp[0].Feature: true, imp[1].Feature: true, imp[2].Feature: true, imp[3].Feature: true}
	// f02 (threshold) and f03 (bump) carry signal alone; f00 and f01 only together.
	if !top["f02"] || !top["f03"] || !(top["f00"] || top["f01"]) {
		t.Errorf("Importance() top 4 = %v, want f02, f03 and f00 or f01 (the true signals)", imp[:4])
	}
}

func TestFMLearnsInteractions(t *testing.T) {
	train := mltest.Clicks(150_000, 6)
	test := mltest.Clicks(30_000, 7)
	fm, err := ml.TrainFM(ctx, train.Dataset, ml.DefaultFMConfig())
	if err != nil {
		t.Fatal(err)
	}
	lr, err := ml.TrainLogReg(ctx, train.Dataset, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	mf, _ := ml.Evaluate(fm, test.Dataset)
	ml1, _ := ml.Evaluate(lr, test.Dataset)
	best := ml.AUC(test.Y, test.P)
	t.Logf("AUC fm %.4f, logreg-on-ids %.4f, generator %.4f", mf[ml.MetricAUC], ml1[ml.MetricAUC], best)
	if mf[ml.MetricAUC] < ml1[ml.MetricAUC]+0.05 {
		t.Errorf("fm AUC %.4f, want ≥ logreg AUC %.4f + 0.05", mf[ml.MetricAUC], ml1[ml.MetricAUC])
	}
	q := fm.Quantize()
	pf, pq := make([]float64, test.Rows()), make([]float64, test.Rows())
	_ = fm.Predict(test.Batch(), pf)
	if err := q.Predict(test.Batch(), pq); err != nil {
		t.Fatal(err)
	}
	worst, mean := 0.0, 0.0
	for i := range pf {
		worst = math.Max(worst, math.Abs(pf[i]-pq[i]))
		mean += math.Abs(pf[i]-pq[i]) / float64(len(pf))
	}
	aq := ml.AUC(test.Y, pq)
	t.Logf("int8 FM: AUC %.4f, mean |Δp| %.5f, max |Δp| %.4f", aq, mean, worst)
	if mean > 0.005 || worst > 0.05 || aq < mf[ml.MetricAUC]-0.005 {
		t.Errorf("int8 FM mean |Δp| = %.5f, max %.4f, AUC %.4f; want ≤ 0.005, ≤ 0.05, ≥ %.4f", mean, worst, aq, mf[ml.MetricAUC]-0.005)
	}
}

type trained struct {
	name  string
	model ml.Model
	data  ml.Dataset
}

func trainAll(t *testing.T) []trained {
	t.Helper()
	f := mltest.Fraudish(5_000, 6, 8)
	c := mltest.Clicks(5_000, 9)
	lr, err := ml.TrainLogReg(ctx, f.Dataset, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	gb, err := ml.TrainGBDT(ctx, f.Dataset, smallGBDT())
	if err != nil {
		t.Fatal(err)
	}
	fc := ml.DefaultFMConfig()
	fc.HashBits, fc.Epochs = 10, 2
	fm, err := ml.TrainFM(ctx, c.Dataset, fc)
	if err != nil {
		t.Fatal(err)
	}
	ui, _ := c.SelectFeatures([]string{"user_id", "ad_id"})
	mc := ml.DefaultMFConfig()
	mc.Epochs = 2
	mf, err := ml.TrainMF(ctx, ui, mc)
	if err != nil {
		t.Fatal(err)
	}
	return []trained{{"logreg", lr, f.Dataset}, {"gbdt", gb, f.Dataset}, {"fm", fm, c.Dataset}, {"fm-int8", fm.Quantize(), c.Dataset}, {"mf", mf, ui}}
}

func TestExplainSumsToLogit(t *testing.T) {
	for _, tc := range trainAll(t) {
		p := make([]float64, tc.data.Rows())
		if err := tc.model.Predict(tc.data.Batch(), p); err != nil {
			t.Fatal(err)
		}
		for _, row := range []int{0, 17, 999} {
			e, err := tc.model.Explain(tc.data.Batch(), row)
			if err != nil {
				t.Fatal(err)
			}
			sum := e.Bias
			for _, c := range e.Contributions {
				sum += c.Value
			}
			z := math.Log(p[row] / (1 - p[row]))
			if !near(sum, z, 1e-9) || !near(e.Logit, z, 1e-9) {
				t.Errorf("%s Explain(row %d): bias+Σ = %v, logit %v, want %v", tc.name, row, sum, e.Logit, z)
			}
		}
	}
}

func TestArtifactRoundTrip(t *testing.T) {
	for _, tc := range trainAll(t) {
		a, err := tc.model.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ml.Unmarshal(a)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", tc.name, err)
		}
		b, _ := m2.MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: re-encoded artifact differs", tc.name)
		}
		p1, p2 := make([]float64, tc.data.Rows()), make([]float64, tc.data.Rows())
		_ = tc.model.Predict(tc.data.Batch(), p1)
		_ = m2.Predict(tc.data.Batch(), p2)
		for i := range p1 {
			if p1[i] != p2[i] {
				t.Fatalf("%s: decoded Predict row %d = %v, want %v", tc.name, i, p2[i], p1[i])
			}
		}
	}
}

// Invariant 4: the same data, config and seed give byte-identical artifacts, whatever the
// number of workers.
func TestDeterministicArtifacts(t *testing.T) {
	d := mltest.Fraudish(30_000, 8, 10).Dataset
	enc := func(m ml.Model, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g1, g4 := smallGBDT(), smallGBDT()
	g1.Workers, g4.Workers = 1, 4
	if !bytes.Equal(enc(ml.TrainGBDT(ctx, d, g1)), enc(ml.TrainGBDT(ctx, d, g4))) {
		t.Error("gbdt artifacts differ between 1 and 4 workers")
	}
	l1, l4 := ml.DefaultLogRegConfig(), ml.DefaultLogRegConfig()
	l1.Workers, l4.Workers = 1, 4
	if !bytes.Equal(enc(ml.TrainLogReg(ctx, d, l1)), enc(ml.TrainLogReg(ctx, d, l4))) {
		t.Error("logreg artifacts differ between 1 and 4 workers")
	}
	g2 := smallGBDT()
	g2.Seed = 2
	if bytes.Equal(enc(ml.TrainGBDT(ctx, d, g1)), enc(ml.TrainGBDT(ctx, d, g2))) {
		t.Error("gbdt artifacts equal under different seeds; the seed is not used")
	}
}

func TestBadInput(t *testing.T) {
	models := trainAll(t)
	lr := models[0]
	other := ml.FloatSchema("a", "b", "c", "d", "e", "f")
	var sm *ml.SchemaMismatchError
	err := lr.model.Predict(ml.Batch{Schema: other, X: make([]float64, 6)}, make([]float64, 1))
	if !errors.As(err, &sm) || !errors.Is(err, ml.ErrSchemaMismatch) {
		t.Errorf("Predict(other schema) = %v, want a SchemaMismatchError", err)
	}
	x := append([]float64(nil), lr.data.X[:6]...)
	x[3] = math.NaN()
	var nf *ml.NonFiniteError
	if err := lr.model.Predict(ml.Batch{Schema: lr.data.Schema, X: x}, make([]float64, 1)); !errors.As(err, &nf) || nf.Feature != "f03" {
		t.Errorf("Predict(NaN in f03) = %v, want NonFiniteError for f03", err)
	}
	one := ml.Dataset{Schema: ml.FloatSchema("a"), X: []float64{1, 2, 3}, Y: []float64{1, 1, 1}}
	if _, err := ml.TrainGBDT(ctx, one, smallGBDT()); !errors.Is(err, ml.ErrOneClass) {
		t.Errorf("TrainGBDT(one class) = %v, want ErrOneClass", err)
	}
	if _, err := ml.TrainLogReg(ctx, one, ml.DefaultLogRegConfig()); !errors.Is(err, ml.ErrOneClass) {
		t.Errorf("TrainLogReg(one class) = %v, want ErrOneClass", err)
	}
	nan := ml.Dataset{Schema: ml.FloatSchema("a"), X: []float64{1, math.NaN()}, Y: []float64{0, 1}}
	if _, err := ml.TrainFM(ctx, nan, ml.DefaultFMConfig()); !errors.Is(err, ml.ErrNonFinite) {
		t.Errorf("TrainFM(NaN) = %v, want ErrNonFinite", err)
	}
	for _, a := range [][]byte{[]byte("{"), []byte(`{"format":"casebook.ml.model/v1","family":"svm","schema":{"features":[{"name":"a","type":"float"}]}}`)} {
		if _, err := ml.Unmarshal(a); !errors.Is(err, ml.ErrBadArtifact) && !errors.Is(err, ml.ErrUnknownFamily) {
			t.Errorf("Unmarshal(%q) = %v, want ErrBadArtifact or ErrUnknownFamily", a, err)
		}
	}
	if _, err := ml.TrainGBDT(ctx, lr.data, ml.GBDTConfig{}); !errors.Is(err, ml.ErrInvalidConfig) {
		t.Errorf("TrainGBDT(zero config) = %v, want ErrInvalidConfig", err)
	}
}

func TestSchemaHash(t *testing.T) {
	a := ml.FloatSchema("x", "y")
	tests := []struct {
		s    ml.Schema
		same bool
	}{
		{ml.FloatSchema("x", "y"), true},
		{ml.FloatSchema("y", "x"), false},
		{ml.Schema{Features: []ml.Feature{{Name: "x", Type: ml.Float}, {Name: "y", Type: ml.Int}}}, false},
		{ml.FloatSchema("x", "y", "z"), false},
		{ml.FloatSchema("xy"), false},
	}
	for _, tt := range tests {
		if got := a.Hash() == tt.s.Hash(); got != tt.same {
			t.Errorf("Hash(%v) == Hash(%v) is %v, want %v", tt.s.Names(), a.Names(), got, tt.same)
		}
	}
}

func TestDistillAndPrune(t *testing.T) {
	train := mltest.Fraudish(30_000, 10, 11)
	test := mltest.Fraudish(10_000, 10, 12)
	teacher, err := ml.TrainGBDT(ctx, train.Dataset, ml.DefaultGBDTConfig())
	if err != nil {
		t.Fatal(err)
	}
	small := ml.DefaultGBDTConfig()
	small.Trees, small.MaxDepth, small.MaxLeaves, small.LearningRate = 30, 4, 16, 0.3
	student, err := ml.Distill(ctx, teacher, train.Dataset, func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainGBDT(ctx, d, small)
	})
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := ml.Evaluate(teacher, test.Dataset)
	ms, _ := ml.Evaluate(student, test.Dataset)
	t.Logf("AUC teacher %.4f, distilled student (30×depth 4) %.4f", mt[ml.MetricAUC], ms[ml.MetricAUC])
	if ms[ml.MetricAUC] < mt[ml.MetricAUC]-0.03 {
		t.Errorf("student AUC %.4f, want within 0.03 of teacher %.4f", ms[ml.MetricAUC], mt[ml.MetricAUC])
	}
	pruned, err := ml.PruneFeatures(train.Dataset, teacher.Importance(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if pruned.Schema.Len() != 6 || pruned.Schema.Index("f00") < 0 || pruned.Schema.Index("f09") >= 0 {
		t.Errorf("PruneFeatures(keep 6) schema = %v, want the 6 signal features f00..f05", pruned.Schema.Names())
	}
}

func TestMFLearnsAffinityAndExportsVectors(t *testing.T) {
	cols := []string{"user_id", "ad_id"}
	train, _ := mltest.Clicks(150_000, 13).SelectFeatures(cols)
	test, _ := mltest.Clicks(30_000, 14).SelectFeatures(cols)
	mf, err := ml.TrainMF(ctx, train, ml.DefaultMFConfig())
	if err != nil {
		t.Fatal(err)
	}
	lr, err := ml.TrainLogReg(ctx, train, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	mm, _ := ml.Evaluate(mf, test)
	ml1, _ := ml.Evaluate(lr, test)
	t.Logf("AUC mf %.4f, logreg-on-ids %.4f", mm[ml.MetricAUC], ml1[ml.MetricAUC])
	if mm[ml.MetricAUC] < ml1[ml.MetricAUC]+0.1 {
		t.Errorf("mf AUC %.4f, want ≥ logreg AUC %.4f + 0.1", mm[ml.MetricAUC], ml1[ml.MetricAUC])
	}
	// Ranking items by the exported vectors must agree with Predict for the same user.
	ids, vecs, biases := mf.ItemVectors()
	u, ok := mf.UserVector(7)
	if !ok {
		t.Fatal("UserVector(7) missing")
	}
	x := make([]float64, 0, 2*len(ids))
	for _, id := range ids {
		x = append(x, 7, float64(id))
	}
	p := make([]float64, len(ids))
	if err := mf.Predict(ml.Batch{Schema: train.Schema, X: x}, p); err != nil {
		t.Fatal(err)
	}
	best, bestScore := 0, math.Inf(-1)
	for i, v := range vecs {
		s := biases[i]
		for f := range v {
			s += u[f] * v[f]
		}
		if s > bestScore {
			best, bestScore = i, s
		}
	}
	for i := range p {
		if p[i] > p[best]+1e-12 {
			t.Fatalf("item %d scores %v by Predict, above the vector ranking's best %d (%v)", ids[i], p[i], ids[best], p[best])
		}
	}
	if _, ok := mf.UserVector(1 << 40); ok {
		t.Error("UserVector(unseen id) found, want false")
	}
	a, _ := mf.MarshalBinary()
	again, _ := ml.TrainMF(ctx, train, ml.DefaultMFConfig())
	b, _ := again.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Error("mf artifacts differ between two identical trainings")
	}
}

func TestTrainingStopsOnCancel(t *testing.T) {
	d := mltest.Fraudish(50_000, 8, 20).Dataset
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ml.TrainLogReg(cctx, d, ml.DefaultLogRegConfig()); !errors.Is(err, context.Canceled) {
		t.Errorf("TrainLogReg(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := ml.TrainGBDT(cctx, d, smallGBDT()); !errors.Is(err, context.Canceled) {
		t.Errorf("TrainGBDT(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := ml.TrainFM(cctx, d, ml.DefaultFMConfig()); !errors.Is(err, context.Canceled) {
		t.Errorf("TrainFM(cancelled) = %v, want context.Canceled", err)
	}
}

// TestGBDTBatchPredictEqualsRowByRow checks that the tree-major batch kernel gives every
// row exactly the probability the one-row path gives, including a last partial block.
func TestGBDTBatchPredictEqualsRowByRow(t *testing.T) {
	data := mltest.Fraudish(5_000, 8, 6)
	gb, err := ml.TrainGBDT(ctx, data.Dataset, smallGBDT())
	if err != nil {
		t.Fatal(err)
	}
	k := data.Schema.Len()
	for _, rows := range []int{2, 16, 37, 1000} {
		batch := make([]float64, rows)
		if err := gb.Predict(ml.Batch{Schema: data.Schema, X: data.X[:rows*k]}, batch); err != nil {
			t.Fatal(err)
		}
		one := make([]float64, 1)
		for i := range rows {
			if err := gb.Predict(ml.Batch{Schema: data.Schema, X: data.X[i*k : (i+1)*k]}, one); err != nil {
				t.Fatal(err)
			}
			if batch[i] != one[0] {
				t.Fatalf("Predict(batch of %d)[%d] = %v, want %v (row by row)", rows, i, batch[i], one[0])
			}
		}
	}
}
