package sim

import (
	"math"
	"math/rand/v2"
	"slices"
)

// activityCounts gives each user an interaction count: the quantiles (j+½)/Users of a
// log-normal with ActivitySigma truncated to [MinPerUser, MaxPerUser], its location solved
// by bisection so the quantiles sum to Interactions, rounded by largest remainder so the
// sum is exact, then dealt to users in random order. Quantiles rather than draws keep the
// shape (median, maximum) the same from seed to seed.
func activityCounts(cfg Config, rng *rand.Rand) []int {
	n := cfg.Users
	lo, hi := math.Log(float64(cfg.MinPerUser)), math.Log(float64(cfg.MaxPerUser))
	sigma := cfg.ActivitySigma
	quantiles := func(mu float64, dst []float64) float64 {
		pl := normCDF((lo - mu) / sigma)
		ph := normCDF((hi - mu) / sigma)
		var sum float64
		for j := range dst {
			p := pl + (float64(j)+0.5)/float64(n)*(ph-pl)
			x := math.Exp(mu + sigma*normQuantile(p))
			x = min(max(x, float64(cfg.MinPerUser)), float64(cfg.MaxPerUser))
			dst[j] = x
			sum += x
		}
		return sum
	}
	x := make([]float64, n)
	target := float64(cfg.Interactions)
	a, b := lo-10*sigma, hi+10*sigma
	for range 60 {
		mid := (a + b) / 2
		if quantiles(mid, x) < target {
			a = mid
		} else {
			b = mid
		}
	}
	quantiles((a+b)/2, x)
	counts := make([]int, n)
	rem := make([]float64, n)
	total := 0
	for j, v := range x {
		counts[j] = int(math.Floor(v))
		rem[j] = v - float64(counts[j])
		total += counts[j]
	}
	// The largest remainders take the missing units. (The second loop, taking units back
	// from the smallest, only guards against a bisection that overshot.)
	order := make([]int, n)
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDesc(rem[a], rem[b]) })
	for k := 0; total < cfg.Interactions; k = (k + 1) % n {
		if j := order[k]; counts[j] < cfg.MaxPerUser {
			counts[j]++
			total++
		}
	}
	for k := 0; total > cfg.Interactions; k = (k + 1) % n {
		if j := order[n-1-k]; counts[j] > cfg.MinPerUser {
			counts[j]--
			total--
		}
	}
	perm := rng.Perm(n)
	out := make([]int, n)
	for u, j := range perm {
		out[u] = counts[j]
	}
	return out
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
