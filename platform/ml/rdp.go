package ml

import (
	"fmt"
	"math"
)

// rdpOrders are the integer Rényi orders the accountant tries; the (ε, δ) it reports is
// the best over them.
var rdpOrders = func() []int {
	var o []int
	for a := 2; a <= 64; a++ {
		o = append(o, a)
	}
	return append(o, 80, 96, 128, 160, 192, 256, 384, 512)
}()

// RDPSampledGaussian is the Rényi-DP of order α (an integer ≥ 2) of one step of the
// Poisson-subsampled Gaussian mechanism: each record is in the batch with probability q,
// and the sum of the clipped gradients gets Gaussian noise of σ times the clipping norm.
// For integer α it is exact (Mironov, Talwar & Zhang 2019, section 3.3):
//
//	RDP(α) = 1/(α−1) · log Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k exp((k²−k)/(2σ²)).
//
// At q = 1 this is α/(2σ²), the Gaussian mechanism's RDP.
func RDPSampledGaussian(q, sigma float64, alpha int) float64 {
	if q <= 0 {
		return 0
	}
	if q >= 1 {
		return float64(alpha) / (2 * sigma * sigma)
	}
	a := float64(alpha)
	lga, _ := math.Lgamma(a + 1)
	terms := make([]float64, alpha+1)
	hi := math.Inf(-1)
	for k := 0; k <= alpha; k++ {
		fk := float64(k)
		lk, _ := math.Lgamma(fk + 1)
		lak, _ := math.Lgamma(a - fk + 1)
		t := lga - lk - lak + (a-fk)*math.Log1p(-q) + fk*math.Log(q) + (fk*fk-fk)/(2*sigma*sigma)
		terms[k] = t
		hi = math.Max(hi, t)
	}
	s := 0.0
	for _, t := range terms {
		s += math.Exp(t - hi)
	}
	return (hi + math.Log(s)) / (a - 1)
}

// DPSGDEpsilon is the ε at δ that steps of the subsampled Gaussian mechanism spend,
// composed in RDP (orders add) and converted with ε = min_α T·RDP(α) + log(1/δ)/(α−1)
// (Mironov 2017, Proposition 3). It also returns the α that attained the minimum.
func DPSGDEpsilon(q, sigma float64, steps int, delta float64) (eps float64, order int) {
	eps = math.Inf(1)
	for _, a := range rdpOrders {
		e := float64(steps)*RDPSampledGaussian(q, sigma, a) + math.Log(1/delta)/float64(a-1)
		if e < eps {
			eps, order = e, a
		}
	}
	return eps, order
}

// DPSGDNoiseMultiplier is the smallest σ (to 0.1%) for which steps of the subsampled
// Gaussian mechanism at rate q spend at most ε at δ.
func DPSGDNoiseMultiplier(q float64, steps int, epsilon, delta float64) (float64, error) {
	if !(epsilon > 0) || math.IsInf(epsilon, 0) || !(delta > 0 && delta < 1) || !(q > 0 && q <= 1) || steps < 1 {
		return 0, configError("dp-sgd: no noise for ε=%v δ=%v q=%v steps=%d", epsilon, delta, q, steps)
	}
	lo, hi := 0.05, 1.0
	for {
		if e, _ := DPSGDEpsilon(q, hi, steps, delta); e <= epsilon {
			break
		}
		lo, hi = hi, 2*hi
		if hi > 1e4 {
			return 0, fmt.Errorf("%w: dp-sgd: ε=%v at δ=%v is out of reach for %d steps at q=%v", ErrInvalidConfig, epsilon, delta, steps, q)
		}
	}
	for hi-lo > 1e-3*hi {
		mid := (lo + hi) / 2
		if e, _ := DPSGDEpsilon(q, mid, steps, delta); e <= epsilon {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}
