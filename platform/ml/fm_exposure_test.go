package ml_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
)

// positionLog is a click log under the examination model: two categorical fields set the
// click probability of a seen ad, and each row was seen with probability 1 or 0.4 (a top
// or a lower slot), chosen at random.
func positionLog(n int, seed uint64) (d ml.Dataset, exposure, truth []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	alpha, beta := make([]float64, 10), make([]float64, 10)
	for i := range alpha {
		alpha[i], beta[i] = rng.NormFloat64()*0.5, rng.NormFloat64()*0.5
	}
	d = ml.Dataset{Schema: ml.Schema{Features: []ml.Feature{{Name: "a", Type: ml.Categorical}, {Name: "b", Type: ml.Categorical}}}}
	for range n {
		a, b := rng.IntN(10), rng.IntN(10)
		p := 1 / (1 + math.Exp(-(-2 + alpha[a] + beta[b])))
		e := 1.0
		if rng.IntN(2) == 1 {
			e = 0.4
		}
		y := 0.0
		if rng.Float64() < e*p {
			y = 1
		}
		d.X = append(d.X, float64(a), float64(b))
		d.Y = append(d.Y, y)
		exposure, truth = append(exposure, e), append(truth, p)
	}
	return d, exposure, truth
}

// Trained with exposures, the model predicts the click probability of a seen ad; trained
// without, it learns the average over slots and underestimates the top slot.
func TestTrainFMExposedRemovesPositionBias(t *testing.T) {
	d, exposure, truth := positionLog(60_000, 1)
	cfg := ml.DefaultFMConfig()
	cfg.HashBits, cfg.Factors = 8, 2
	exposed, err := ml.TrainFMExposed(ctx, d, exposure, cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ml.TrainFM(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pe, pp := make([]float64, d.Rows()), make([]float64, d.Rows())
	if err := exposed.Predict(d.Batch(), pe); err != nil {
		t.Fatal(err)
	}
	if err := plain.Predict(d.Batch(), pp); err != nil {
		t.Fatal(err)
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	mt, me, mp := mean(truth), mean(pe), mean(pp)
	if math.Abs(me/mt-1) > 0.05 {
		t.Errorf("exposure-aware mean prediction %.4f, want the seen-ad truth %.4f ± 5%%", me, mt)
	}
	if mp/mt > 0.85 {
		t.Errorf("plain mean prediction %.4f against truth %.4f: want it ≥ 15%% low (the bias the exposures remove); the test would prove nothing", mp, mt)
	}
	for _, bad := range [][]float64{exposure[:10], append([]float64{0}, exposure[1:]...)} {
		if _, err := ml.TrainFMExposed(ctx, d, bad, cfg); !errors.Is(err, ml.ErrShape) {
			t.Errorf("TrainFMExposed(bad exposures) = %v, want ErrShape", err)
		}
	}
}

// The scorer's split of the logit into shared and own fields gives the full model's answer.
func TestFMScorerMatchesPredict(t *testing.T) {
	d, _, _ := positionLog(5000, 2)
	x := make([]float64, 0, d.Rows()*3)
	for i := range d.Rows() {
		x = append(x, d.Row(i)[0], d.Row(i)[1], float64(i%7)/7)
	}
	d.Schema.Features = append(d.Schema.Features, ml.Feature{Name: "x", Type: ml.Float})
	d.X = x
	cfg := ml.DefaultFMConfig()
	cfg.HashBits = 8
	m, err := ml.TrainFM(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), want); err != nil {
		t.Fatal(err)
	}
	s := m.Scorer()
	for i := range d.Rows() {
		row := d.Row(i)
		if err := s.SetContext(row[:1]); err != nil {
			t.Fatal(err)
		}
		if got := s.Prob(row[1:]); math.Abs(got-want[i]) > 1e-12 {
			t.Fatalf("row %d: Scorer.Prob = %v, Predict = %v", i, got, want[i])
		}
	}
	if err := s.SetContext(make([]float64, 4)); !errors.Is(err, ml.ErrShape) {
		t.Errorf("SetContext(4 values for 3 features) = %v, want ErrShape", err)
	}
}

// Platt scaling recovers a known miscalibration, with and without exposures.
func TestFitPlattRecoversTheMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	n := 50_000
	z, y, e := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range z {
		z[i] = rng.NormFloat64() - 2
		e[i] = []float64{1, 0.5}[i%2]
		if rng.Float64() < e[i]/(1+math.Exp(-(1.6*z[i]+0.4))) {
			y[i] = 1
		}
	}
	p, err := ml.FitPlatt(z, y, e)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.A-1.6) > 0.1 || math.Abs(p.B-0.4) > 0.2 {
		t.Errorf("FitPlatt = %+v, want A 1.6 ± 0.1, B 0.4 ± 0.2", p)
	}
	if _, err := ml.FitPlatt(z, y[:5], nil); !errors.Is(err, ml.ErrShape) {
		t.Errorf("FitPlatt(mismatched) = %v, want ErrShape", err)
	}
}

// A precomputed partial of the trailing fields gives the same logit as scoring them.
func TestFMPartialMatchesLogit(t *testing.T) {
	d, _, _ := positionLog(3000, 5)
	cfg := ml.DefaultFMConfig()
	cfg.HashBits = 8
	m, err := ml.TrainFM(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Scorer()
	for i := range d.Rows() {
		row := d.Row(i)
		if err := s.SetContext(row[:1]); err != nil {
			t.Fatal(err)
		}
		p, err := m.Partial(1, row[1:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.LogitPartial(p), s.Logit(row[1:]); math.Abs(got-want) > 1e-12 {
			t.Fatalf("row %d: LogitPartial = %v, Logit = %v", i, got, want)
		}
	}
	if _, err := m.Partial(0, []float64{1}, nil); !errors.Is(err, ml.ErrShape) {
		t.Errorf("Partial(1 value from field 0 of 2) = %v, want ErrShape", err)
	}
}

// The dequantized model predicts what the int8 model predicts.
func TestDequantizeMatchesInt8(t *testing.T) {
	d, _, _ := positionLog(2000, 6)
	cfg := ml.DefaultFMConfig()
	cfg.HashBits = 8
	m, err := ml.TrainFM(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := m.Quantize()
	a, b := make([]float64, d.Rows()), make([]float64, d.Rows())
	if err := q.Predict(d.Batch(), a); err != nil {
		t.Fatal(err)
	}
	if err := q.Dequantize().Predict(d.Batch(), b); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			t.Fatalf("row %d: int8 %v, dequantized %v", i, a[i], b[i])
		}
	}
}

// The dataset's own exposure column: TrainFM reads it (the same model as passing the
// exposures to TrainFMExposed), Subset and Split carry it, the fingerprint covers it,
// Validate refuses a bad one and Evaluate multiplies it back into the predictions.
func TestDatasetExposureColumn(t *testing.T) {
	d, exposure, _ := positionLog(20_000, 2)
	cfg := ml.DefaultFMConfig()
	cfg.HashBits, cfg.Factors = 8, 2
	de := d
	de.Exposure = exposure
	viaColumn, err := ml.TrainFM(ctx, de, cfg)
	if err != nil {
		t.Fatal(err)
	}
	viaArg, err := ml.TrainFMExposed(ctx, d, exposure, cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ml.TrainFM(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := viaColumn.MarshalBinary()
	b, _ := viaArg.MarshalBinary()
	c, _ := plain.MarshalBinary()
	if string(a) != string(b) {
		t.Error("TrainFM(dataset with exposures) differs from TrainFMExposed(the same exposures)")
	}
	if string(a) == string(c) {
		t.Error("TrainFM(dataset with exposures) = TrainFM(without): the column was ignored")
	}
	if de.Fingerprint() == d.Fingerprint() {
		t.Error("Fingerprint ignores the exposure column")
	}
	tr, ho := de.Split(0.7, 1)
	if len(tr.Exposure) != tr.Rows() || len(ho.Exposure) != ho.Rows() {
		t.Fatalf("Split: exposures %d+%d for rows %d+%d", len(tr.Exposure), len(ho.Exposure), tr.Rows(), ho.Rows())
	}
	ti, _ := ml.SplitIndex(de.Rows(), 0.7, 1)
	for i, r := range ti[:100] {
		if tr.Exposure[i] != exposure[r] {
			t.Fatalf("Split row %d: exposure %v, want row %d's %v", i, tr.Exposure[i], r, exposure[r])
		}
	}
	first, rest := de.SplitInOrder(0.75)
	if first.Rows() != 15_000 || rest.Exposure[0] != exposure[15_000] {
		t.Errorf("SplitInOrder(0.75): %d rows first, rest starts with exposure %v; want 15000 and row 15000's %v", first.Rows(), rest.Exposure[0], exposure[15_000])
	}
	bad := de
	bad.Exposure = append([]float64{1.5}, exposure[1:]...)
	if err := bad.Validate(true); !errors.Is(err, ml.ErrShape) {
		t.Errorf("Validate(exposure 1.5) = %v, want ErrShape", err)
	}
	bad.Exposure = exposure[:5]
	if err := bad.Validate(true); !errors.Is(err, ml.ErrShape) {
		t.Errorf("Validate(5 exposures) = %v, want ErrShape", err)
	}
	p, err := ml.PredictRows(viaColumn, de, ml.Platt{A: 1})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]float64, d.Rows())
	if err := viaColumn.Predict(d.Batch(), raw); err != nil {
		t.Fatal(err)
	}
	for i := range p {
		if math.Abs(p[i]-raw[i]*exposure[i]) > 1e-12 {
			t.Fatalf("PredictRows row %d = %v, want prediction %v × exposure %v", i, p[i], raw[i], exposure[i])
		}
	}
	// Judged with its exposures, the exposure-trained model beats the plain one on the
	// labels it was trained to explain.
	me, _ := ml.Evaluate(viaColumn, de)
	mp, _ := ml.Evaluate(plain, de)
	if me[ml.MetricLogLoss] >= mp[ml.MetricLogLoss] {
		t.Errorf("log loss with exposures %v, plain %v: want the exposure model lower", me[ml.MetricLogLoss], mp[ml.MetricLogLoss])
	}
}
