package rank

import "math"

// MMR re-ranks a relevance-ordered list for diversity (Carbonell & Goldstein 1998): it
// picks k of the n items greedily, each step taking the one that maximises
//
//	(1 − λ) · rel(i) − λ · max_{s already picked} sim(i, s)
//
// with rel min-max normalised to [0, 1] over the list, so λ = 0 keeps the relevance order
// and λ = 1 picks the most dissimilar items. It returns the picked indexes in order.
func MMR(rel []float64, k int, lambda float64, sim func(a, b int) float64, dst []int) []int {
	n := len(rel)
	k = min(k, n)
	dst = dst[:0]
	if k == 0 {
		return dst
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rel {
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	maxSim := make([]float64, n)
	picked := make([]bool, n)
	for len(dst) < k {
		best, bestV := -1, math.Inf(-1)
		for i := range n {
			if picked[i] {
				continue
			}
			v := (1-lambda)*(rel[i]-lo)/span - lambda*maxSim[i]
			if len(dst) == 0 {
				v = rel[i]
			}
			if v > bestV {
				best, bestV = i, v
			}
		}
		picked[best] = true
		dst = append(dst, best)
		for i := range n {
			if !picked[i] {
				maxSim[i] = math.Max(maxSim[i], sim(i, best))
			}
		}
	}
	return dst
}

// Cosine is the cosine similarity of two vectors (0 if either is zero or missing, or
// their lengths differ).
func Cosine(a, b []float64) float64 {
	if len(a) != len(b) {
		return 0
	}
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
