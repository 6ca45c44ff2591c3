package ml_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
)

func smallForest() ml.ForestConfig {
	c := ml.DefaultForestConfig()
	c.Trees, c.MaxDepth, c.MaxLeaves = 30, 8, 128
	return c
}

// A forest learns the non-linear target about as well as boosted trees, far better than
// a linear model, and predicts probabilities (means of leaf fractions) in [0, 1] whose
// mean is the base rate.
func TestForestLearnsNonLinearTarget(t *testing.T) {
	train := mltest.Fraudish(40_000, 8, 4)
	test := mltest.Fraudish(20_000, 8, 5)
	lr, err := ml.TrainLogReg(ctx, train.Dataset, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	rf, err := ml.TrainForest(ctx, train.Dataset, smallForest())
	if err != nil {
		t.Fatal(err)
	}
	if rf.Family() != ml.FamilyForest || rf.Trees() != 30 {
		t.Fatalf("forest family %q with %d trees, want %q and 30", rf.Family(), rf.Trees(), ml.FamilyForest)
	}
	m1, _ := ml.Evaluate(lr, test.Dataset)
	p := make([]float64, test.Rows())
	if err := rf.Predict(test.Batch(), p); err != nil {
		t.Fatal(err)
	}
	auc, best := ml.AUC(test.Y, p), ml.AUC(test.Y, test.P)
	t.Logf("AUC logreg %.4f, forest %.4f, generator %.4f", m1[ml.MetricAUC], auc, best)
	if auc < m1[ml.MetricAUC]+0.05 || auc < best-0.05 {
		t.Errorf("forest AUC %.4f, want ≥ logreg %.4f + 0.05 and within 0.05 of the generator's %.4f", auc, m1[ml.MetricAUC], best)
	}
	mean, rate := 0.0, 0.0
	for i, v := range p {
		if v < 0 || v > 1 {
			t.Fatalf("forest prediction %d = %v, want a probability", i, v)
		}
		mean += v / float64(len(p))
		rate += test.Y[i] / float64(len(p))
	}
	if math.Abs(mean-rate) > 0.02 {
		t.Errorf("mean forest prediction %.4f, want the positive rate %.4f ± 0.02", mean, rate)
	}
}

// With one binary feature and stumps, every leaf holds one group, so the forest predicts
// each group's fraction of positives (up to bootstrap noise): the leaf value is a
// fraction, and the trees are averaged, not summed or passed through a link.
func TestForestLeafIsFraction(t *testing.T) {
	n := 20_000
	d := ml.Dataset{Schema: ml.FloatSchema("x"), X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		d.X[i] = float64(i % 2)
		// x = 0: 10% positives; x = 1: 60%.
		if (i%2 == 0 && i%20 < 2) || (i%2 == 1 && i%10 < 6) {
			d.Y[i] = 1
		}
	}
	c := ml.DefaultForestConfig()
	c.Trees, c.MaxDepth, c.MaxLeaves, c.MaxFeatures = 20, 1, 2, 1
	rf, err := ml.TrainForest(ctx, d, c)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float64, 2)
	if err := rf.Predict(ml.Batch{Schema: d.Schema, X: []float64{0, 1}}, p); err != nil {
		t.Fatal(err)
	}
	if !near(p[0], 0.1, 0.01) || !near(p[1], 0.6, 0.01) {
		t.Errorf("forest predicts %.4f and %.4f for the two groups, want 0.10 and 0.60 ± 0.01", p[0], p[1])
	}
	e, err := rf.Explain(ml.Batch{Schema: d.Schema, X: []float64{0, 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Bias
	for _, ct := range e.Contributions {
		sum += ct.Value
	}
	if !near(sum, p[1], 1e-9) || e.Probability != e.Logit {
		t.Errorf("Explain: bias+Σ = %v, probability %v, logit %v; want all %v", sum, e.Probability, e.Logit, p[1])
	}
}

// MaxFeatures < 1 draws the features anew at every split: where one feature dominates,
// trees that may use every feature split almost only on it, while trees choosing among a
// random eighth at each split must use the others too.
func TestForestFeatureSubsampling(t *testing.T) {
	d := mltest.Fraudish(20_000, 8, 6).Dataset
	used := func(frac float64) int {
		c := smallForest()
		c.Trees, c.MaxFeatures = 10, frac
		rf, err := ml.TrainForest(ctx, d, c)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, fi := range rf.Importance() {
			if fi.Splits > 0 {
				n++
			}
		}
		var top ml.FeatureImportance
		for _, fi := range rf.Importance() {
			if fi.Splits > top.Splits {
				top = fi
			}
		}
		t.Logf("MaxFeatures %.3f: %d features used, most splits on %s (%d)", frac, n, top.Feature, top.Splits)
		return top.Splits
	}
	all, sub := used(1), used(0.125)
	if sub >= all {
		t.Errorf("splits on the most used feature: %d with MaxFeatures 1/8, %d with 1: want fewer when each split draws its features", sub, all)
	}
}

func TestForestArtifactAndDeterminism(t *testing.T) {
	d := mltest.Fraudish(10_000, 6, 8).Dataset
	c1, c4 := smallForest(), smallForest()
	c1.Workers, c4.Workers = 1, 4
	f1, err := ml.TrainForest(ctx, d, c1)
	if err != nil {
		t.Fatal(err)
	}
	f4, err := ml.TrainForest(ctx, d, c4)
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := f1.MarshalBinary()
	a4, _ := f4.MarshalBinary()
	if !bytes.Equal(a1, a4) {
		t.Error("forest artifacts differ between 1 and 4 workers")
	}
	c2 := smallForest()
	c2.Seed = 2
	f2, _ := ml.TrainForest(ctx, d, c2)
	if a2, _ := f2.MarshalBinary(); bytes.Equal(a1, a2) {
		t.Error("forest artifacts equal under different seeds: the bootstrap does not use the seed")
	}
	m, err := ml.Unmarshal(a1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Family() != ml.FamilyForest {
		t.Fatalf("Unmarshal gave family %q, want %q", m.Family(), ml.FamilyForest)
	}
	if b, _ := m.MarshalBinary(); !bytes.Equal(a1, b) {
		t.Error("re-encoded forest artifact differs")
	}
	p1, p2 := make([]float64, d.Rows()), make([]float64, d.Rows())
	_ = f1.Predict(d.Batch(), p1)
	_ = m.Predict(d.Batch(), p2)
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("decoded forest Predict row %d = %v, want %v", i, p2[i], p1[i])
		}
	}
	// Row by row (the tree walk) equals the batch (the flat layout).
	one := make([]float64, 1)
	k := d.Schema.Len()
	for _, i := range []int{0, 1, 500, 9_999} {
		_ = f1.Predict(ml.Batch{Schema: d.Schema, X: d.X[i*k : (i+1)*k]}, one)
		if one[0] != p1[i] {
			t.Errorf("row %d alone = %v, in a batch %v", i, one[0], p1[i])
		}
	}
	bad := smallForest()
	bad.MaxFeatures = 0
	if _, err := ml.TrainForest(ctx, d, bad); err == nil {
		t.Error("MaxFeatures 0 accepted")
	}
}

// PosWeight > 1 counts positives more in the gradients: the trees move the scores of the
// training rows up, so the mean predicted probability exceeds the unweighted model's.
func TestGBDTPosWeight(t *testing.T) {
	d := mltest.Fraudish(20_000, 8, 7).Dataset
	mean := func(w float64) float64 {
		c := smallGBDT()
		c.PosWeight = w
		m, err := ml.TrainGBDT(ctx, d, c)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]float64, d.Rows())
		_ = m.Predict(d.Batch(), p)
		s := 0.0
		for _, v := range p {
			s += v / float64(len(p))
		}
		return s
	}
	m1, m10 := mean(0), mean(10)
	t.Logf("mean prediction: unweighted %.4f, PosWeight 10 %.4f", m1, m10)
	if m10 < m1*1.5 {
		t.Errorf("mean prediction with PosWeight 10 = %.4f, want ≥ 1.5 × the unweighted %.4f", m10, m1)
	}
}
