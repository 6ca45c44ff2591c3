package dp

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// The closed form equals the Rényi divergence between Laplace(0, λ) and Laplace(1, λ),
// 1/(α−1)·log ∫ p^α q^{1−α}, integrated numerically; it stays below 1/λ and nears it at
// large α.
func TestLaplaceRDP(t *testing.T) {
	for _, lambda := range []float64{0.5, 2, 10} {
		for _, a := range []float64{1.5, 2, 8, 32} {
			lo, hi := -60*lambda, 1+60*lambda
			const steps = 400000
			h := (hi - lo) / steps
			sum := 0.0
			for i := range steps {
				x := lo + (float64(i)+0.5)*h
				lp := -math.Abs(x)/lambda - math.Log(2*lambda)
				lq := -math.Abs(x-1)/lambda - math.Log(2*lambda)
				sum += math.Exp(a*lp+(1-a)*lq) * h
			}
			want := math.Log(sum) / (a - 1)
			got := LaplaceRDP(a, lambda)
			if math.Abs(got-want) > 1e-4*want {
				t.Errorf("LaplaceRDP(%v, %v) = %v, integral %v", a, lambda, got, want)
			}
			if got > 1/lambda {
				t.Errorf("LaplaceRDP(%v, %v) = %v > ε = %v", a, lambda, got, 1/lambda)
			}
		}
		if got := LaplaceRDP(1e4, lambda); got < 0.99/lambda {
			t.Errorf("LaplaceRDP(1e4, %v) = %v, want ≈ %v", lambda, got, 1/lambda)
		}
	}
}

// k Gaussian releases with noise multiplier z are, exactly, one Gaussian release with
// sensitivity √k: the ε the RDP ledger reports must hold for that exact profile (sound),
// and it admits far more queries than basic composition.
func TestRDPLedgerSoundAndAdmitsMore(t *testing.T) {
	total := Budget{Epsilon: 1, Delta: 1e-5}
	q := Query{Mechanism: Gaussian, Epsilon: 0.1, Delta: 1e-7}
	admitted := map[Composition]int{}
	for _, comp := range []Composition{Basic, RDP} {
		l, err := NewLedgerWith("tx", total, comp)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReleaser(l, NewSeededNoise(8))
		var z float64
		for {
			rel, err := r.Count("n", 100, q)
			if errors.Is(err, ErrBudgetExceeded) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			z = rel.Scale
			admitted[comp]++
			if admitted[comp] > 10000 {
				t.Fatal("ledger never refuses")
			}
		}
		spent := l.Spent()
		if spent.Epsilon > total.Epsilon*(1+1e-9) || spent.Delta > total.Delta*(1+1e-9) {
			t.Errorf("%s: spent %+v past %+v", comp, spent, total)
		}
		k := float64(admitted[comp])
		if exact := GaussianDelta(spent.Epsilon, z, math.Sqrt(k)); exact > total.Delta*(1+1e-6) {
			t.Errorf("%s: %d queries at σ=%v claim ε=%v at δ=%v, but their exact δ there is %v", comp, admitted[comp], z, spent.Epsilon, total.Delta, exact)
		}
	}
	if admitted[Basic] != 10 || admitted[RDP] < 3*admitted[Basic] {
		t.Errorf("admitted: basic %d (want 10), rdp %d (want ≥ 3× basic)", admitted[Basic], admitted[RDP])
	}
}

func TestRDPLedgerNeedsNoiseAndRestores(t *testing.T) {
	l, err := NewLedgerWith("tx", Budget{Epsilon: 2, Delta: 1e-5}, RDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Spend("q", "gaussian", Budget{Epsilon: 0.5, Delta: 1e-6}); !errors.Is(err, ErrInvalid) {
		t.Errorf("RDP Spend without noise multiplier = %v, want ErrInvalid", err)
	}
	if _, err := NewLedgerWith("tx", Budget{Epsilon: 2}, RDP); !errors.Is(err, ErrInvalid) {
		t.Errorf("RDP ledger with δ = 0: %v, want ErrInvalid", err)
	}
	r := NewReleaser(l, NewSeededNoise(9))
	if _, err := r.Mean("m", []float64{1, 2, 3}, 0, 5, Query{Mechanism: Laplace, Epsilon: 0.5}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sum("s", []float64{1, 2, 3}, 0, 5, Query{Mechanism: Gaussian, Epsilon: 0.5, Delta: 1e-6}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(l.Record())
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	l2, err := Restore(rec)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := l.Spent(), l2.Spent(); math.Abs(a.Epsilon-b.Epsilon) > 1e-12 || rec.Composition != RDP {
		t.Errorf("restored %s ledger spent %v, want %v", rec.Composition, b, a)
	}
}
