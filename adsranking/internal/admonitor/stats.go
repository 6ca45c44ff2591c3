package admonitor

import (
	"math"
	"time"
)

// acc accumulates impressions and their attributed clicks. Every field is a sum, so
// windows add buckets and the matured total subtracts the immature ones.
type acc struct {
	n, clicks  int64
	sumP       float64 // expected clicks
	sumP2      float64 // Σ p², for the variance Σ p(1−p) = sumP − sumP2
	bins       []binAcc
	first, end time.Time // impression event-time span, set by whoever builds the Stats
}

type binAcc struct {
	n, clicks int64
	sumP      float64
}

func newAcc(bins int) acc { return acc{bins: make([]binAcc, bins)} }

func (a *acc) impression(p float64, bin int) {
	a.n++
	a.sumP += p
	a.sumP2 += p * p
	a.bins[bin].n++
	a.bins[bin].sumP += p
}

func (a *acc) click(bin int) {
	a.clicks++
	a.bins[bin].clicks++
}

func (a *acc) add(b *acc, sign int64) {
	f := float64(sign)
	a.n += sign * b.n
	a.clicks += sign * b.clicks
	a.sumP += f * b.sumP
	a.sumP2 += f * b.sumP2
	for i := range a.bins {
		a.bins[i].n += sign * b.bins[i].n
		a.bins[i].clicks += sign * b.bins[i].clicks
		a.bins[i].sumP += f * b.bins[i].sumP
	}
}

func (a *acc) clone() acc {
	c := *a
	c.bins = append([]binAcc(nil), a.bins...)
	return c
}

// Stats are the CTR and calibration of a set of matured impressions of one model version.
// Rates and ratios are NaN when there is nothing to divide by.
type Stats struct {
	// From and To bound the impressions' event time: [From, To).
	From, To    time.Time
	Impressions int64
	Clicks      int64
	// ExpectedClicks is Σ pctr; Variance is Σ pctr(1−pctr), the variance of the click
	// count of a calibrated model (the clicks are independent Bernoulli draws with
	// different probabilities: a Poisson-binomial count, not a binomial or a Poisson one).
	ExpectedClicks float64
	Variance       float64
	CTR            float64 // observed: Clicks / Impressions
	ExpectedCTR    float64 // mean pctr
	// Ratio is Clicks / ExpectedClicks, 1 for a calibrated model; RatioLow and RatioHigh
	// are its confidence interval at Config.Z.
	Ratio     float64
	RatioLow  float64
	RatioHigh float64
	// Gap is max(RatioLow−1, 1−RatioHigh): the widest band [1−g, 1+g] the interval
	// excludes, negative when the interval holds 1. The alert rule reads it.
	Gap float64
	// ECE is the expected calibration error over the reliability bins, Σ |clicks −
	// expected| / impressions per bin. Binomial noise alone makes it positive, so it is a
	// diagnostic to read beside the table, not the alert.
	ECE         float64
	Reliability []Bin
}

// Bin is a row of the reliability table: the impressions whose pctr fell in (Low, High].
type Bin struct {
	Low, High   float64
	Impressions int64
	Clicks      int64
	MeanPCTR    float64
	CTR         float64
}

func (a *acc) stats(edges []float64, z float64) Stats {
	nan := math.NaN()
	s := Stats{From: a.first, To: a.end, Impressions: a.n, Clicks: a.clicks, ExpectedClicks: a.sumP, Variance: max(a.sumP-a.sumP2, 0),
		CTR: nan, ExpectedCTR: nan, Ratio: nan, RatioLow: nan, RatioHigh: nan, Gap: nan, ECE: nan}
	if a.n > 0 {
		n := float64(a.n)
		s.CTR, s.ExpectedCTR = float64(a.clicks)/n, a.sumP/n
		var abs float64
		for i, b := range a.bins {
			if b.n == 0 {
				continue
			}
			abs += math.Abs(float64(b.clicks) - b.sumP)
			low := 0.0
			if i > 0 {
				low = edges[i-1]
			}
			s.Reliability = append(s.Reliability, Bin{Low: low, High: edges[i], Impressions: b.n, Clicks: b.clicks,
				MeanPCTR: b.sumP / float64(b.n), CTR: float64(b.clicks) / float64(b.n)})
		}
		s.ECE = abs / n
	}
	if a.sumP > 0 {
		s.Ratio = float64(a.clicks) / a.sumP
		s.RatioLow, s.RatioHigh = ratioInterval(float64(a.clicks), a.sumP, a.sumP2, z)
		s.Gap = max(s.RatioLow-1, 1-s.RatioHigh)
	}
	return s
}

// ratioInterval is the confidence interval of r in E[clicks] = r·Σp, from c clicks on
// impressions with Σp = e and Σp² = q.
//
// It is the score (Wilson) interval rather than ratio ± z·√Var/e: the set of r whose own
// test does not reject, (c − r·e)² ≤ z²·Var_r, where Var_r = Σ rp(1−rp) = r·e − r²·q is
// the Poisson-binomial variance of the click count if every probability were scaled by r.
// At r = 1 that is Σ p(1−p), the calibrated model's variance, and for large counts the
// interval is ratio ± z·√(Σ p(1−p))/e; with few clicks it stays positive and skews upward
// as a count's interval should, where the symmetric one would reach below zero.
//
// Solving the quadratic r²(e² + z²q) − r(2ce + z²e) + c² ≤ 0. Its discriminant is written
// z²e²(4c + z² − 4qc²/e²) to avoid cancelling two large terms; it is negative only for
// counts no scaling of the probabilities could produce (more clicks than impressions
// with high pctr), where the interval collapses to its midpoint.
func ratioInterval(c, e, q, z float64) (lo, hi float64) {
	a := e*e + z*z*q
	b := 2*c*e + z*z*e
	s := z * e * math.Sqrt(max(4*c+z*z-4*q*c*c/(e*e), 0))
	return max((b-s)/(2*a), 0), (b + s) / (2 * a)
}
