package dp

import (
	"encoding/json"
	"errors"
	"math"
	"sync"
	"testing"
)

func variance(xs []float64) (mean, v float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, v / float64(len(xs)-1)
}

// 20k Laplace draws: variance within 5% of 2b² and mean |x| within 3% of b (the
// sampling error of each is about a third of that), so a wrong scale fails.
func TestLaplaceNoiseMoments(t *testing.T) {
	n := NewSeededNoise(1)
	for _, b := range []float64{0.5, 3} {
		xs := make([]float64, 20000)
		abs := 0.0
		for i := range xs {
			xs[i] = n.Laplace(b)
			abs += math.Abs(xs[i])
		}
		abs /= float64(len(xs))
		mean, v := variance(xs)
		if math.Abs(v-2*b*b) > 0.05*2*b*b {
			t.Errorf("Laplace(%v): variance %v, want 2b² = %v ± 5%%", b, v, 2*b*b)
		}
		if math.Abs(abs-b) > 0.03*b {
			t.Errorf("Laplace(%v): mean |x| %v, want b ± 3%%", b, abs)
		}
		if math.Abs(mean) > 0.05*b {
			t.Errorf("Laplace(%v): mean %v, want 0", b, mean)
		}
	}
}

func TestGaussianNoiseVariance(t *testing.T) {
	n := NewSeededNoise(2)
	xs := make([]float64, 20000)
	for i := range xs {
		xs[i] = n.Gaussian(4)
	}
	if _, v := variance(xs); math.Abs(v-16) > 0.04*16 {
		t.Errorf("Gaussian(4): variance %v, want 16 ± 4%%", v)
	}
}

func TestLaplaceScale(t *testing.T) {
	b, err := LaplaceScale(0.5, 10)
	if err != nil || b != 20 {
		t.Errorf("LaplaceScale(0.5, 10) = %v, %v, want 20", b, err)
	}
	for _, eps := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := LaplaceScale(eps, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("LaplaceScale(%v, 1) = %v, want ErrInvalid", eps, err)
		}
	}
}

// The analytic σ meets δ exactly (the profile at σ equals δ, and 1% less noise breaks
// it); for ε < 1 it is below the classic σ; and it scales linearly with sensitivity.
func TestAnalyticGaussianSigma(t *testing.T) {
	for _, c := range []struct{ eps, delta float64 }{{0.1, 1e-5}, {0.5, 1e-5}, {1, 1e-6}, {2, 1e-5}, {8, 1e-5}} {
		s, err := GaussianSigma(c.eps, c.delta, 1)
		if err != nil {
			t.Fatalf("GaussianSigma(%v, %v) = %v", c.eps, c.delta, err)
		}
		if got := GaussianDelta(c.eps, s, 1); math.Abs(got-c.delta) > 1e-3*c.delta {
			t.Errorf("GaussianDelta(%v, σ=%v) = %v, want δ = %v", c.eps, s, got, c.delta)
		}
		if got := GaussianDelta(c.eps, 0.99*s, 1); got <= c.delta {
			t.Errorf("GaussianDelta(%v, 0.99σ) = %v, want > δ = %v (σ not minimal)", c.eps, got, c.delta)
		}
		if c.eps < 1 {
			if cl := ClassicGaussianSigma(c.eps, c.delta, 1); s >= cl {
				t.Errorf("ε=%v: analytic σ %v ≥ classic %v", c.eps, s, cl)
			}
		}
		s5, _ := GaussianSigma(c.eps, c.delta, 5)
		if math.Abs(s5-5*s) > 1e-6*s5 {
			t.Errorf("GaussianSigma(Δ=5) = %v, want 5 × %v", s5, s)
		}
	}
	// The profile itself: at ε → 0 it is P(|N(0,1)| < Δ/(2σ))·…; check one point by hand:
	// ε = 0, σ = Δ gives Φ(1/2) − Φ(−1/2) = 0.382925.
	if got := GaussianDelta(0, 1, 1); math.Abs(got-0.3829249) > 1e-6 {
		t.Errorf("GaussianDelta(0, 1, 1) = %v, want 0.3829249", got)
	}
}

func TestLedgerRefusesPastBudget(t *testing.T) {
	l, err := NewLedger("tx", Budget{Epsilon: 1, Delta: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReleaser(l, NewSeededNoise(3))
	lap := Query{Mechanism: Laplace, Epsilon: 0.4}
	for i := range 2 {
		if _, err := r.Count("count", 100, lap); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	before := l.Record()
	_, err = r.Count("count", 100, lap)
	if !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("third ε=0.4 query on ε=1 = %v, want ErrBudgetExceeded", err)
	}
	if got := l.Spent(); math.Abs(got.Epsilon-0.8) > 1e-12 || len(l.Record().Entries) != len(before.Entries) {
		t.Errorf("after refusal spent %v with %d entries, want 0.8 and %d", got, len(l.Record().Entries), len(before.Entries))
	}
	// What remains can still be used, exactly.
	if _, err := r.Count("count", 100, Query{Mechanism: Laplace, Epsilon: 0.2}); err != nil {
		t.Errorf("spending the exact remainder = %v", err)
	}
	// δ is budgeted too.
	if _, err := r.Sum("sum", []float64{1}, 0, 1, Query{Mechanism: Gaussian, Epsilon: 1e-9, Delta: 2e-5}); !errors.Is(err, ErrBudgetExceeded) {
		t.Errorf("δ past budget = %v, want ErrBudgetExceeded", err)
	}
	if rec := l.Record(); rec.Refused != 2 {
		t.Errorf("Refused = %d, want 2", rec.Refused)
	}
}

func TestLedgerConcurrentSpendNeverOverspends(t *testing.T) {
	l, _ := NewLedger("tx", Budget{Epsilon: 10})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.Spend("q", "laplace", Budget{Epsilon: 0.1}) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if ok != 100 || math.Abs(l.Spent().Epsilon-10) > 1e-9 {
		t.Errorf("400 concurrent ε=0.1 spends on ε=10: %d admitted, spent %v; want 100 and 10", ok, l.Spent().Epsilon)
	}
}

func TestLedgerRecordRoundTrip(t *testing.T) {
	l, _ := NewLedger("tx", Budget{Epsilon: 2, Delta: 1e-5})
	_ = l.Spend("a", "laplace", Budget{Epsilon: 0.5})
	_ = l.Spend("b", "gaussian", Budget{Epsilon: 1, Delta: 5e-6})
	raw, err := json.Marshal(l.Record())
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Spent = Budget{} // a tampered total is recomputed from the entries
	l2, err := Restore(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Spent(); got != l.Spent() {
		t.Errorf("restored spent %v, want %v", got, l.Spent())
	}
	if err := l2.Spend("c", "laplace", Budget{Epsilon: 0.6}); !errors.Is(err, ErrBudgetExceeded) {
		t.Errorf("restored ledger admitted ε=0.6 with 0.5 left: %v", err)
	}
}

func TestSumClampsAndScalesBySensitivity(t *testing.T) {
	l, _ := NewLedger("tx", Budget{Epsilon: 100})
	r := NewReleaser(l, NewSeededNoise(4))
	xs := []float64{-5, 1, 2, 50, 3, math.NaN()}
	rel, err := r.Sum("amount", xs, 0, 10, Query{Mechanism: Laplace, Epsilon: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Clamped != 3 || rel.Sensitivity != 10 || rel.Scale != 10 {
		t.Errorf("Sum: clamped %d, sensitivity %v, scale %v; want 3, 10, 10", rel.Clamped, rel.Sensitivity, rel.Scale)
	}
	if sum, n := Clamp(xs, 0, 10); sum != 16 || n != 3 {
		t.Errorf("Clamp = %v, %d, want 16, 3", sum, n)
	}
	if _, err := r.Sum("amount", xs, 10, 0, Query{Mechanism: Laplace, Epsilon: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("reversed bounds = %v, want ErrInvalid", err)
	}
	if _, err := r.Count("n", -1, Query{Mechanism: Laplace, Epsilon: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative count = %v, want ErrInvalid", err)
	}
	if _, err := r.Count("n", 3, Query{Mechanism: Laplace, Epsilon: 1, Delta: 1e-5}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Laplace with δ = %v, want ErrInvalid", err)
	}
}

// The released sums' errors average to the noise scale: E|Laplace(b)| = b and, for the
// Gaussian, E|N(0,σ²)| = σ√(2/π). 4,000 releases of one sum.
func TestSumErrorMatchesTheory(t *testing.T) {
	xs := []float64{1, 2, 3, 4}
	for _, q := range []Query{{Mechanism: Laplace, Epsilon: 0.5}, {Mechanism: Gaussian, Epsilon: 0.5, Delta: 1e-5}} {
		l, _ := NewLedger("tx", Budget{Epsilon: 1e9, Delta: 0.5})
		r := NewReleaser(l, NewSeededNoise(5))
		var abs, scale float64
		const n = 4000
		for range n {
			rel, err := r.Sum("s", xs, 0, 4, q)
			if err != nil {
				t.Fatal(err)
			}
			abs += math.Abs(rel.Value - 10)
			scale = rel.Scale
		}
		abs /= n
		want := scale
		if q.Mechanism == Gaussian {
			want = scale * math.Sqrt(2/math.Pi)
		}
		if math.Abs(abs-want) > 0.05*want {
			t.Errorf("%s: mean |error| %v, want %v ± 5%%", q.Mechanism, abs, want)
		}
	}
}

func TestMeanIsChargedOnce(t *testing.T) {
	l, _ := NewLedger("tx", Budget{Epsilon: 1})
	r := NewReleaser(l, NewSeededNoise(6))
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(i % 10)
	}
	rel, err := r.Mean("mean", xs, 0, 9, Query{Mechanism: Laplace, Epsilon: 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rel.Value-4.5) > 0.5 || l.Spent().Epsilon != 1 || len(l.Record().Entries) != 1 {
		t.Errorf("Mean = %v (want ≈ 4.5), spent %v in %d entries (want 1 in 1)", rel.Value, l.Spent().Epsilon, len(l.Record().Entries))
	}
}

// The closed-form profile agrees with its definition, δ(ε) = ∫ max(0, p₁(x) − e^ε p₀(x)) dx
// for p₀ = N(0, σ²) and p₁ = N(Δ, σ²), integrated numerically: an independent check of
// the formula GaussianSigma solves.
func TestGaussianDeltaMatchesIntegral(t *testing.T) {
	for _, c := range []struct{ eps, sigma float64 }{{0.1, 20}, {0.5, 5}, {1, 3}, {2, 1.5}, {8, 0.6}} {
		pdf := func(x, m float64) float64 {
			z := (x - m) / c.sigma
			return math.Exp(-z*z/2) / (c.sigma * math.Sqrt(2*math.Pi))
		}
		lo, hi := -15*c.sigma, 1+15*c.sigma
		const steps = 400000
		h := (hi - lo) / steps
		sum := 0.0
		for i := range steps {
			x := lo + (float64(i)+0.5)*h
			sum += math.Max(0, pdf(x, 1)-math.Exp(c.eps)*pdf(x, 0)) * h
		}
		if got := GaussianDelta(c.eps, c.sigma, 1); math.Abs(got-sum) > 1e-6*math.Max(sum, 1e-3) {
			t.Errorf("GaussianDelta(%v, %v) = %v, integral %v", c.eps, c.sigma, got, sum)
		}
	}
}
