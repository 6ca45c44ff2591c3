package ml_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
)

// Without subsampling, the Gaussian mechanism's RDP is α/(2σ²) exactly.
func TestRDPUnsampledGaussian(t *testing.T) {
	for _, sigma := range []float64{0.7, 1.1, 4} {
		for _, a := range []int{2, 5, 32} {
			want := float64(a) / (2 * sigma * sigma)
			if got := ml.RDPSampledGaussian(1, sigma, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("RDPSampledGaussian(1, %v, %d) = %v, want %v", sigma, a, got, want)
			}
			// q just below 1 goes through the binomial sum, which must agree.
			if got := ml.RDPSampledGaussian(1-1e-12, sigma, a); math.Abs(got-want) > 1e-6*want {
				t.Errorf("RDPSampledGaussian(1−1e-12, %v, %d) = %v, want %v", sigma, a, got, want)
			}
		}
	}
}

// The binomial sum equals its definition, the α-th moment of the likelihood ratio
// E_{z~N(0,σ²)}[((1−q) + q·exp((2z−1)/(2σ²)))^α], integrated numerically.
func TestRDPSampledGaussianMatchesIntegral(t *testing.T) {
	for _, c := range []struct {
		q, sigma float64
		alpha    int
	}{{0.01, 1.1, 8}, {0.1, 2, 4}, {0.3, 0.9, 3}, {0.05, 1, 20}} {
		s := c.sigma
		const steps = 200000
		lo, hi := -30*s, 30*s+float64(c.alpha)
		h := (hi - lo) / steps
		sum := 0.0
		for i := range steps {
			z := lo + (float64(i)+0.5)*h
			p0 := math.Exp(-z*z/(2*s*s)) / (s * math.Sqrt(2*math.Pi))
			ratio := (1 - c.q) + c.q*math.Exp((2*z-1)/(2*s*s))
			sum += p0 * math.Pow(ratio, float64(c.alpha)) * h
		}
		want := math.Log(sum) / float64(c.alpha-1)
		if got := ml.RDPSampledGaussian(c.q, c.sigma, c.alpha); math.Abs(got-want) > 1e-6*want+1e-12 {
			t.Errorf("RDPSampledGaussian(%v, %v, %d) = %v, integral %v", c.q, c.sigma, c.alpha, got, want)
		}
	}
}

// ε grows with the sampling rate and the number of steps, and subsampling never costs
// more than the unsampled mechanism over the same steps.
func TestDPSGDEpsilonMonotone(t *testing.T) {
	prev := 0.0
	for _, q := range []float64{0.001, 0.01, 0.05, 0.2, 1} {
		e, _ := ml.DPSGDEpsilon(q, 1.1, 1000, 1e-5)
		if e <= prev {
			t.Errorf("ε(q=%v) = %v, not above ε at the smaller rate %v", q, e, prev)
		}
		prev = e
	}
	e1, _ := ml.DPSGDEpsilon(0.01, 1.1, 1000, 1e-5)
	e2, _ := ml.DPSGDEpsilon(0.01, 1.1, 10000, 1e-5)
	full, _ := ml.DPSGDEpsilon(1, 1.1, 10000, 1e-5)
	if !(e1 < e2 && e2 < full) {
		t.Errorf("ε(1k steps) = %v, ε(10k) = %v, unsampled ε(10k) = %v: want increasing", e1, e2, full)
	}
	// q = 0.01, σ = 1.1, 10,000 steps (100 epochs), δ = 1e-5: the integer-order RDP bound
	// with this conversion is 6.28, at α = 5. (The ε≈3 often quoted for MNIST is 60 epochs
	// at q = 256/60000 = 0.0043; here that setting gives 3.01.)
	if math.Abs(e2-6.28) > 0.01 {
		t.Errorf("ε(q=0.01, σ=1.1, 10k steps, δ=1e-5) = %v, want 6.28", e2)
	}
	mnist, _ := ml.DPSGDEpsilon(256.0/60000, 1.1, 60*60000/256, 1e-5)
	if math.Abs(mnist-3.01) > 0.01 {
		t.Errorf("ε(MNIST, 60 epochs) = %v, want 3.01", mnist)
	}
}

func TestDPSGDNoiseMultiplierMeetsTarget(t *testing.T) {
	for _, eps := range []float64{0.5, 1, 8} {
		s, err := ml.DPSGDNoiseMultiplier(0.02, 500, eps, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := ml.DPSGDEpsilon(0.02, s, 500, 1e-5); e > eps {
			t.Errorf("σ=%v for ε=%v spends %v", s, eps, e)
		}
		if e, _ := ml.DPSGDEpsilon(0.02, 0.99*s, 500, 1e-5); e <= eps {
			t.Errorf("σ=%v for ε=%v is not minimal: 0.99σ spends %v", s, eps, e)
		}
	}
	if _, err := ml.DPSGDNoiseMultiplier(0.02, 500, 0, 1e-5); !errors.Is(err, ml.ErrInvalidConfig) {
		t.Errorf("ε = 0: %v, want ErrInvalidConfig", err)
	}
}

func dpData() (train, test mltest.Generated, cfg ml.DPLogRegConfig) {
	w := []float64{1.5, -1, 0.5, 0}
	train = mltest.Logistic(20_000, w, -1, 11)
	test = mltest.Logistic(20_000, w, -1, 12)
	cfg = ml.DefaultDPLogRegConfig()
	cfg.Bounds = []ml.Bound{{-4, 4}, {-4, 4}, {-4, 4}, {-4, 4}}
	cfg.Epochs, cfg.BatchSize, cfg.Seed = 5, 500, 7
	return train, test, cfg
}

func testAUC(t *testing.T, m ml.Model, d mltest.Generated) float64 {
	t.Helper()
	p := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), p); err != nil {
		t.Fatal(err)
	}
	return ml.AUC(d.Y, p)
}

// The reported ε is the accountant's for the σ used, within the target; a generous ε
// learns nearly what the generator knows; and the smaller ε, the further the weights land
// from those of the same run without noise (they would coincide if no noise were added).
func TestDPLogRegSpendsAndLearns(t *testing.T) {
	train, test, cfg := dpData()
	best := ml.AUC(test.Y, test.P)
	weights := func(m *ml.LogReg) []float64 { w, b := m.Coefficients(); return append(w, b) }
	cfg.Epsilon = math.Inf(1)
	plain, _, err := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dist := map[float64]float64{}
	for _, eps := range []float64{0.1, 4} {
		cfg.Epsilon = eps
		m, rep, err := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Epsilon > eps || rep.Epsilon < 0.95*eps || rep.Accountant != "rdp" || rep.Mechanism != "dp-sgd" {
			t.Errorf("ε target %v: report %+v", eps, rep)
		}
		if e, _ := ml.DPSGDEpsilon(rep.SampleRate, rep.NoiseMultiplier, rep.Steps, rep.Delta); e != rep.Epsilon {
			t.Errorf("report ε %v, accountant says %v", rep.Epsilon, e)
		}
		if rep.Delta != 1e-5 || rep.Steps != 200 {
			t.Errorf("δ = %v, steps = %d, want 1e-5 and 200", rep.Delta, rep.Steps)
		}
		a, b := weights(m), weights(plain)
		for j := range a {
			dist[eps] += (a[j] - b[j]) * (a[j] - b[j])
		}
		dist[eps] = math.Sqrt(dist[eps])
		if eps == 4 {
			if auc := testAUC(t, m, test); auc < best-0.01 {
				t.Errorf("ε=4: AUC %.4f, want within 0.01 of the generator's %.4f", auc, best)
			}
		}
	}
	if !(dist[0.1] > 0.05 && dist[0.1] > 1.5*dist[4]) {
		t.Errorf("distance to the noiseless weights: ε=0.1 %.4f, ε=4 %.4f; want > 0.05 and > 1.5×", dist[0.1], dist[4])
	}
}

// Clipping bounds each step: with no noise and no penalty, the parameters can move at most
// lr·C·(batch/expected batch) per step; unclipped logistic gradients on this data would
// move them much further.
func TestDPLogRegClips(t *testing.T) {
	train, _, cfg := dpData()
	cfg.Epsilon, cfg.L2, cfg.Clip, cfg.LearningRate = math.Inf(1), 0, 0.001, 1
	m, rep, err := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, b := m.Coefficients()
	norm := b * b
	for _, v := range w {
		norm += (4 * v) * (4 * v) // standardized weight = raw × half-width (4)
	}
	if limit := 1.2 * cfg.LearningRate * cfg.Clip * float64(rep.Steps); math.Sqrt(norm) > limit {
		t.Errorf("‖θ‖ = %v after %d steps at C=%v, want ≤ %v", math.Sqrt(norm), rep.Steps, cfg.Clip, limit)
	}
	if rep.ClippedShare < 0.9 {
		t.Errorf("ClippedShare = %v at C=0.001, want ≈ 1", rep.ClippedShare)
	}
}

func TestDPLogRegDeterministicWithSeedAndRefusesBadConfig(t *testing.T) {
	train, _, cfg := dpData()
	a, _, err := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
	wa, _ := a.Coefficients()
	wb, _ := b.Coefficients()
	for j := range wa {
		if wa[j] != wb[j] {
			t.Fatalf("same seed, weights %v and %v", wa, wb)
		}
	}
	bad := cfg
	bad.Bounds = bad.Bounds[:2]
	if _, _, err := ml.TrainDPLogReg(ctx, train.Dataset, bad); !errors.Is(err, ml.ErrInvalidConfig) {
		t.Errorf("2 bounds for 4 features: %v, want ErrInvalidConfig", err)
	}
	bad = cfg
	bad.Bounds = []ml.Bound{{1, 1}, {-4, 4}, {-4, 4}, {-4, 4}}
	if _, _, err := ml.TrainDPLogReg(ctx, train.Dataset, bad); !errors.Is(err, ml.ErrInvalidConfig) {
		t.Errorf("empty bound: %v, want ErrInvalidConfig", err)
	}
}

// The batches are Poisson samples at rate q, as the accountant assumes: over the steps of
// a run the mean batch is qN and its variance qN(1−q).
func TestDPLogRegBatchesArePoisson(t *testing.T) {
	train, _, cfg := dpData()
	cfg.Epsilon = math.Inf(1)
	_, rep, err := ml.TrainDPLogReg(ctx, train.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(train.Rows())
	wantMean, wantVar := rep.SampleRate*n, rep.SampleRate*n*(1-rep.SampleRate)
	if math.Abs(rep.MeanBatch-wantMean) > 0.02*wantMean {
		t.Errorf("mean batch %v over %d steps, want qN = %v ± 2%%", rep.MeanBatch, rep.Steps, wantMean)
	}
	if math.Abs(rep.BatchVariance-wantVar) > 0.3*wantVar {
		t.Errorf("batch variance %v, want qN(1−q) = %v ± 30%%", rep.BatchVariance, wantVar)
	}
}

func TestDPLogRegStopsOnCancel(t *testing.T) {
	train, _, cfg := dpData()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := ml.TrainDPLogReg(cctx, train.Dataset, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("TrainDPLogReg(cancelled) = %v, want context.Canceled", err)
	}
}
