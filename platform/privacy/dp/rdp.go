package dp

import "math"

// rdpOrders are the Rényi orders the RDP ledger tracks.
var rdpOrders = func() []float64 {
	o := []float64{1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96, 128, 192, 256}
	return o
}()

// GaussianRDP is the Rényi-DP of order α of the Gaussian mechanism with noise multiplier
// z = σ/Δ₂: α/(2z²) (Mironov 2017, Proposition 7).
func GaussianRDP(alpha, z float64) float64 { return alpha / (2 * z * z) }

// LaplaceRDP is the Rényi-DP of order α > 1 of the Laplace mechanism with λ = b/Δ₁
// (Mironov 2017, Proposition 6):
//
//	1/(α−1) · log( α/(2α−1)·e^{(α−1)/λ} + (α−1)/(2α−1)·e^{−α/λ} ).
//
// It never exceeds the pure ε = 1/λ, and tends to it as α grows.
func LaplaceRDP(alpha, lambda float64) float64 {
	a := alpha
	t1 := math.Log(a/(2*a-1)) + (a-1)/lambda
	t2 := math.Log((a-1)/(2*a-1)) - a/lambda
	hi := math.Max(t1, t2)
	return (hi + math.Log(math.Exp(t1-hi)+math.Exp(t2-hi))) / (a - 1)
}

// rdpToDP converts an RDP curve (one value per rdpOrders) to ε at δ:
// ε = min_α RDP(α) + log(1/δ)/(α−1) (Mironov 2017, Proposition 3).
func rdpToDP(curve []float64, delta float64) float64 {
	best := math.Inf(1)
	for i, a := range rdpOrders {
		best = math.Min(best, curve[i]+math.Log(1/delta)/(a-1))
	}
	return best
}
