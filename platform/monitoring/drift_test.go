package monitoring

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

func normals(rng *rand.Rand, n int, mu float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.NormFloat64() + mu
	}
	return out
}

func windowOf(t *testing.T, ref *Reference, vals []float64) *Window {
	t.Helper()
	w, err := NewWindow(ref, WindowConfig{Size: len(vals)})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	for i, v := range vals {
		w.Add(t0.Add(time.Duration(i)), v)
	}
	return w
}

func TestIdenticalSamplesGiveZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := normals(rng, 20_000, 0)
	ref, err := NewNumericReference(x, DefaultBins)
	if err != nil {
		t.Fatal(err)
	}
	w := windowOf(t, ref, x)
	for _, m := range []Method{PSI, KL, JS, KS} {
		v, p, err := Compare(ref, w, m, DefaultEpsilon)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-9
		if m == KS {
			tol = 1.0 / maxSketch // the reference is kept as a sketch of maxSketch order statistics
		}
		if v > tol {
			t.Errorf("Compare(same, same, %s) = %v, want ≤ %v", m, v, tol)
		}
		if m == KS && p < 0.99 {
			t.Errorf("KS p-value on identical samples = %v, want ~1", p)
		}
	}
}

// binnedNormal is the exact binned PSI and KL(live‖ref) between N(0,1) and N(mu,1) over
// the reference's edges: what the estimator converges to with infinite samples.
func binnedNormal(edges []float64, mu float64) (psi, kl float64) {
	n := distuv.UnitNormal
	lo := math.Inf(-1)
	for i := 0; i <= len(edges); i++ {
		hi := math.Inf(1)
		if i < len(edges) {
			hi = edges[i]
		}
		p := n.CDF(hi) - n.CDF(lo)
		q := n.CDF(hi-mu) - n.CDF(lo-mu)
		psi += (q - p) * math.Log(q/p)
		kl += q * math.Log(q/p)
		lo = hi
	}
	return psi, kl
}

// TestMeanShiftMatchesAnalytic checks PSI and KL against the closed forms for
// N(0,1) → N(μ,1): KL = μ²/2 and the symmetrised KL (PSI with infinitely fine bins) = μ².
// Binning can only lose information, so the binned values sit below the closed forms; we
// accept that bias, measure it exactly (binnedNormal), and require (a) the estimate to be
// within 3% of the exact binned value (sampling error), and (b) the binned value to be
// within 15% of the closed form with the default 10 bins and within 2% with 100 bins.
func TestMeanShiftMatchesAnalytic(t *testing.T) {
	for _, tc := range []struct {
		mu       float64
		bins     int
		maxBias  float64
		estimate float64 // tolerance of the estimate against the exact binned value
	}{
		{0.5, DefaultBins, 0.15, 0.03},
		{0.5, 100, 0.02, 0.03},
		{0.3, 100, 0.02, 0.05},
		{1.0, DefaultBins, 0.15, 0.03},
	} {
		rng := rand.New(rand.NewPCG(7, uint64(tc.bins)))
		ref, err := NewNumericReference(normals(rng, 200_000, 0), tc.bins)
		if err != nil {
			t.Fatal(err)
		}
		w := windowOf(t, ref, normals(rng, 200_000, tc.mu))
		psi, _, _ := Compare(ref, w, PSI, DefaultEpsilon)
		kl, _, _ := Compare(ref, w, KL, DefaultEpsilon)
		bPSI, bKL := binnedNormal(ref.Edges, tc.mu)
		wantPSI, wantKL := tc.mu*tc.mu, tc.mu*tc.mu/2
		t.Logf("μ=%.1f bins=%d: PSI %.4f (binned exact %.4f, closed form %.4f); KL %.4f (binned %.4f, closed %.4f)",
			tc.mu, tc.bins, psi, bPSI, wantPSI, kl, bKL, wantKL)
		if math.Abs(psi-bPSI) > tc.estimate*bPSI {
			t.Errorf("PSI(N(0,1), N(%v,1), %d bins) = %v, want %v ± %v%%", tc.mu, tc.bins, psi, bPSI, 100*tc.estimate)
		}
		if math.Abs(kl-bKL) > tc.estimate*bKL {
			t.Errorf("KL(N(%v,1) ‖ N(0,1), %d bins) = %v, want %v ± %v%%", tc.mu, tc.bins, kl, bKL, 100*tc.estimate)
		}
		if bPSI > wantPSI || bPSI < (1-tc.maxBias)*wantPSI {
			t.Errorf("binned PSI with %d bins = %v, want in [%v, %v]", tc.bins, bPSI, (1-tc.maxBias)*wantPSI, wantPSI)
		}
		if bKL > wantKL || bKL < (1-tc.maxBias)*wantKL {
			t.Errorf("binned KL with %d bins = %v, want in [%v, %v]", tc.bins, bKL, (1-tc.maxBias)*wantKL, wantKL)
		}
	}
}

func TestCategoricalShiftIsCaught(t *testing.T) {
	draw := func(rng *rand.Rand, n int, probs []float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			u, c := rng.Float64(), 0
			for c < len(probs)-1 && u > probs[c] {
				u -= probs[c]
				c++
			}
			out[i] = float64(c)
		}
		return out
	}
	rng := rand.New(rand.NewPCG(3, 3))
	ref, err := NewCategoricalReference(draw(rng, 10_000, []float64{0.4, 0.3, 0.2, 0.1}))
	if err != nil {
		t.Fatal(err)
	}
	th := DefaultThresholds()
	for _, tc := range []struct {
		name  string
		probs []float64
		drift bool
	}{
		{"same mix", []float64{0.4, 0.3, 0.2, 0.1}, false},
		{"flattened", []float64{0.25, 0.25, 0.25, 0.25}, true},
		{"a new category", []float64{0.35, 0.25, 0.15, 0.05, 0.2}, true},
	} {
		w := windowOf(t, ref, draw(rng, 2000, tc.probs))
		stat, p, err := Compare(ref, w, ChiSquared, DefaultEpsilon)
		if err != nil {
			t.Fatal(err)
		}
		psi, _, _ := Compare(ref, w, PSI, DefaultEpsilon)
		got := p < th[ChiSquared].Alert && psi >= th[PSI].Alert
		if got != tc.drift {
			t.Errorf("%s: chi2 = %.1f (p = %.3g), PSI = %.3f: drift = %v, want %v", tc.name, stat, p, psi, got, tc.drift)
		}
	}
	if _, _, err := Compare(ref, windowOf(t, ref, []float64{1}), KS, DefaultEpsilon); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("KS on a categorical feature: err = %v, want ErrKindMismatch", err)
	}
}

// TestFalseAlarmRate draws many small live windows from the reference's own distribution
// and counts how often each method cries drift. The tests' rates must match their
// significance level; PSI's must match the rate its null distribution predicts,
// PSI ≈ (1/n + 1/m)·χ²(bins−1), which is how the docs state it. "Match" means inside a
// 3.5-sigma binomial interval around the stated rate (deterministic under the fixed seed).
func TestFalseAlarmRate(t *testing.T) {
	const trials, n, m = 600, 200, 5000
	rng := rand.New(rand.NewPCG(11, 5))
	ref, err := NewNumericReference(normals(rng, m, 0), DefaultBins)
	if err != nil {
		t.Fatal(err)
	}
	th := DefaultThresholds()
	chi := distuv.ChiSquared{K: float64(ref.Bins() - 1)}
	scale := 1.0/n + 1.0/m
	cases := []struct {
		name string
		rate float64
		hit  func(w *Window) bool
	}{
		{"ks warn (p < 0.05)", th[KS].Warn, func(w *Window) bool { _, p, _ := Compare(ref, w, KS, 0); return p < th[KS].Warn }},
		{"ks alert (p < 0.01)", th[KS].Alert, func(w *Window) bool { _, p, _ := Compare(ref, w, KS, 0); return p < th[KS].Alert }},
		{"psi warn (≥ 0.1)", chi.Survival(th[PSI].Warn / scale), func(w *Window) bool {
			v, _, _ := Compare(ref, w, PSI, DefaultEpsilon)
			return v >= th[PSI].Warn
		}},
		{"psi alert (≥ 0.2)", chi.Survival(th[PSI].Alert / scale), func(w *Window) bool {
			v, _, _ := Compare(ref, w, PSI, DefaultEpsilon)
			return v >= th[PSI].Alert
		}},
	}
	hits := make([]int, len(cases))
	for range trials {
		w := windowOf(t, ref, normals(rng, n, 0))
		for i, c := range cases {
			if c.hit(w) {
				hits[i]++
			}
		}
	}
	for i, c := range cases {
		mean := c.rate * trials
		sd := math.Sqrt(trials * c.rate * (1 - c.rate))
		lo, hi := mean-3.5*sd, mean+3.5*sd+1
		t.Logf("%s: %d of %d windows of %d flagged; stated rate %.4f → expected %.1f, allowed [%.1f, %.1f]", c.name, hits[i], trials, n, c.rate, mean, max(lo, 0), hi)
		if float64(hits[i]) < lo || float64(hits[i]) > hi {
			t.Errorf("%s: false alarms = %d of %d, want within [%.1f, %.1f] (rate %.4f)", c.name, hits[i], trials, lo, hi, c.rate)
		}
	}
}

func TestWindowSlides(t *testing.T) {
	ref, err := NewNumericReference([]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		cfg  WindowConfig
		add  int
		want int
	}{
		{WindowConfig{Size: 4}, 10, 4},
		{WindowConfig{Size: 100, Span: 5 * time.Second}, 10, 6}, // values at t+4s..t+9s
		{WindowConfig{Size: 3, Span: time.Hour}, 10, 3},
	} {
		w, err := NewWindow(ref, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.add {
			w.Add(t0.Add(time.Duration(i)*time.Second), float64(i))
		}
		var total float64
		for _, c := range w.Counts() {
			total += c
		}
		if w.Len() != tc.want || int(total) != tc.want {
			t.Errorf("window %+v after %d adds: Len = %d, counted %v, want %d", tc.cfg, tc.add, w.Len(), total, tc.want)
		}
		if s := w.Sorted(); s[len(s)-1] != 9 {
			t.Errorf("window %+v: newest value %v missing", tc.cfg, s)
		}
	}
	if _, err := NewWindow(ref, WindowConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewWindow(zero config) err = %v, want ErrInvalidConfig", err)
	}
}

// TestWindowAddDoesNotAllocate backs the O(1) claim from the other side: adding to a full
// window (evicting the oldest value) allocates nothing.
func TestWindowAddDoesNotAllocate(t *testing.T) {
	ref, _ := NewNumericReference([]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5)
	w, _ := NewWindow(ref, WindowConfig{Size: 100, Span: time.Second})
	ts := time.Unix(0, 0)
	i := 0
	if a := testing.AllocsPerRun(1000, func() { i++; w.Add(ts.Add(time.Duration(i)*time.Millisecond), float64(i%10)) }); a != 0 {
		t.Errorf("Window.Add allocates %v times per call, want 0", a)
	}
}

// TestChiSquaredFalseAlarmRate is the categorical half of TestFalseAlarmRate: small
// windows from the reference's own mix trip chi-squared at its significance level.
func TestChiSquaredFalseAlarmRate(t *testing.T) {
	const trials, n = 600, 200
	probs := []float64{0.5, 0.25, 0.15, 0.1}
	rng := rand.New(rand.NewPCG(12, 5))
	draw := func(k int) []float64 {
		out := make([]float64, k)
		for i := range out {
			u, c := rng.Float64(), 0
			for c < len(probs)-1 && u > probs[c] {
				u -= probs[c]
				c++
			}
			out[i] = float64(c)
		}
		return out
	}
	ref, err := NewCategoricalReference(draw(5000))
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []float64{0.05, 0.01} {
		hits := 0
		for range trials {
			_, p, err := Compare(ref, windowOf(t, ref, draw(n)), ChiSquared, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p < level {
				hits++
			}
		}
		mean, sd := level*trials, math.Sqrt(trials*level*(1-level))
		t.Logf("chi2 p < %v: %d of %d windows, expected %.1f", level, hits, trials, mean)
		if float64(hits) < mean-3.5*sd || float64(hits) > mean+3.5*sd+1 {
			t.Errorf("chi2 false alarms at p < %v = %d of %d, want within %.1f ± %.1f", level, hits, trials, mean, 3.5*sd)
		}
	}
}
