package dp

import (
	"fmt"
	"math"
)

// LaplaceScale is b = Δ₁/ε: adding Laplace(b) noise to a query of L1 sensitivity Δ₁ is
// ε-DP. The expected absolute error is b and the standard deviation √2·b.
func LaplaceScale(epsilon, sensitivity float64) (float64, error) {
	if err := checkEps(epsilon); err != nil {
		return 0, err
	}
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v, want finite > 0", ErrInvalid, sensitivity)
	}
	return sensitivity / epsilon, nil
}

// GaussianSigma is the analytic Gaussian mechanism's σ (Balle & Wang 2018, Theorem 8):
// the smallest σ for which N(0, σ²) noise on a query of L2 sensitivity Δ₂ is (ε, δ)-DP,
// found by bisection on the exact condition
//
//	Φ(Δ/(2σ) − εσ/Δ) − e^ε · Φ(−Δ/(2σ) − εσ/Δ) ≤ δ.
//
// It is valid for every ε > 0, unlike ClassicGaussianSigma.
func GaussianSigma(epsilon, delta, sensitivity float64) (float64, error) {
	if err := checkEps(epsilon); err != nil {
		return 0, err
	}
	if !(delta > 0 && delta < 1) {
		return 0, fmt.Errorf("%w: δ = %v, want in (0, 1) for the Gaussian mechanism", ErrInvalid, delta)
	}
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v, want finite > 0", ErrInvalid, sensitivity)
	}
	lo, hi := 1e-6*sensitivity, sensitivity
	for GaussianDelta(epsilon, hi, sensitivity) > delta {
		lo, hi = hi, 2*hi
		if hi > 1e12*sensitivity {
			return 0, fmt.Errorf("%w: no σ reaches δ = %v at ε = %v", ErrInvalid, delta, epsilon)
		}
	}
	for range 200 {
		mid := (lo + hi) / 2
		if GaussianDelta(epsilon, mid, sensitivity) > delta {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-12*hi {
			break
		}
	}
	return hi, nil
}

// GaussianDelta is the smallest δ for which N(0, σ²) noise on a query of L2 sensitivity Δ
// is (ε, δ)-DP: the Gaussian mechanism's privacy profile (Balle & Wang 2018, Theorem 8).
func GaussianDelta(epsilon, sigma, sensitivity float64) float64 {
	a := sensitivity / (2 * sigma)
	b := epsilon * sigma / sensitivity
	// e^ε·Φ(−a−b) computed in log space so that a large ε does not overflow.
	second := math.Exp(epsilon + logPhi(-a-b))
	return math.Max(0, phi(a-b)-second)
}

// ClassicGaussianSigma is σ = Δ₂·√(2 ln(1.25/δ))/ε (Dwork & Roth 2014, Theorem A.1),
// shown for comparison only: its proof needs ε < 1, and it errs on the noisy side.
func ClassicGaussianSigma(epsilon, delta, sensitivity float64) float64 {
	return sensitivity * math.Sqrt(2*math.Log(1.25/delta)) / epsilon
}

func phi(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func logPhi(x float64) float64 {
	if x > -30 {
		return math.Log(phi(x))
	}
	// Mills ratio asymptotics: Φ(x) ≈ φ(x)/|x| · (1 − 1/x²).
	return -x*x/2 - math.Log(-x) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1/(x*x))
}

func checkEps(epsilon float64) error {
	if !(epsilon > 0) || math.IsInf(epsilon, 0) {
		return fmt.Errorf("%w: ε = %v, want finite > 0", ErrInvalid, epsilon)
	}
	return nil
}
