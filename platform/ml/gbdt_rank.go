package ml

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
)

// TrainGBDTRank fits gradient-boosted trees to rank rows within groups (the candidates of
// one request) with the LambdaRank objective (Burges 2010, "From RankNet to LambdaRank to
// LambdaMART"): for every pair of rows of a group with different labels, the gradient of
// the pairwise logistic loss weighted by how much swapping the two would change the
// group's NDCG@k. A pointwise log loss over many groups spends its trees on what differs
// between groups (which users have many positives); this one only learns the order inside
// each group, which is all a ranker is asked for.
//
// groups[i] is the group of row i; a group's rows must be contiguous. Labels are relevance
// grades ≥ 0 (0/1 for clicks). The model's Predict returns σ(score): monotone in the score,
// so the order is the ranking; it is not a calibrated probability.
func TrainGBDTRank(ctx context.Context, d Dataset, groups []int32, k int, cfg GBDTConfig) (*GBDT, error) {
	if err := d.Validate(false); err != nil {
		return nil, fmt.Errorf("train gbdt rank: %w", err)
	}
	n := d.Rows()
	if len(groups) != n {
		return nil, fmt.Errorf("train gbdt rank: %w: %d groups for %d rows", ErrShape, len(groups), n)
	}
	if k < 1 {
		return nil, configError("gbdt rank: k = %d, want ≥ 1", k)
	}
	var bounds []int // start of each group, then n
	for i := range n {
		if i == 0 || groups[i] != groups[i-1] {
			bounds = append(bounds, i)
		}
	}
	bounds = append(bounds, n)
	if seen := map[int32]bool{}; true {
		for g := 0; g+1 < len(bounds); g++ {
			id := groups[bounds[g]]
			if seen[id] {
				return nil, fmt.Errorf("train gbdt rank: %w: group %d is not contiguous", ErrShape, id)
			}
			seen[id] = true
		}
	}
	disc := make([]float64, 0, 64)
	discount := func(r int) float64 { // 1/log2(r+2) for 0-based rank r, 0 past k
		for len(disc) <= r {
			disc = append(disc, 1/math.Log2(float64(len(disc))+2))
		}
		if r >= k {
			return 0
		}
		return disc[r]
	}
	// Ideal DCG@k per group, from the labels.
	idcg := make([]float64, len(bounds)-1)
	for g := range idcg {
		ys := slices.Clone(d.Y[bounds[g]:bounds[g+1]])
		slices.SortFunc(ys, func(a, b float64) int { return cmp.Compare(b, a) })
		for r, y := range ys {
			idcg[g] += (math.Exp2(y) - 1) * discount(r)
		}
	}
	rankOf := make([]int, n)
	order := make([]int, 0, 512)
	byLabel := make([]int, 0, 512)
	gain := make([]float64, n)
	for i, y := range d.Y {
		gain[i] = math.Exp2(y) - 1
	}
	return trainGBDT(ctx, d, cfg, 0, func(scores []float64, gh []gradPair) {
		clear(gh)
		for g := 0; g+1 < len(bounds); g++ {
			lo, hi := bounds[g], bounds[g+1]
			if idcg[g] == 0 {
				continue // no relevant row: nothing to order
			}
			order = order[:0]
			for i := lo; i < hi; i++ {
				order = append(order, i)
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
			for r, i := range order {
				rankOf[i] = r
			}
			// Pairs (i, j) with y_i > y_j: rows grouped by label, each higher label
			// against every lower one.
			byLabel = byLabel[:0]
			for i := lo; i < hi; i++ {
				byLabel = append(byLabel, i)
			}
			slices.SortStableFunc(byLabel, func(a, b int) int { return cmp.Compare(d.Y[b], d.Y[a]) })
			for a, i := range byLabel {
				gi := gain[i]
				ri := rankOf[i]
				for _, j := range byLabel[a+1:] {
					if d.Y[j] == d.Y[i] {
						continue
					}
					rj := rankOf[j]
					if ri >= k && rj >= k {
						continue // swapping two rows below the cut changes nothing
					}
					delta := math.Abs((gi-gain[j])*(discount(ri)-discount(rj))) / idcg[g]
					rho := sigmoid(scores[j] - scores[i]) // 1 − σ(s_i − s_j)
					l := rho * delta
					h := math.Max(rho*(1-rho)*delta, 1e-16)
					gh[i].G -= l
					gh[i].H += h
					gh[j].G += l
					gh[j].H += h
				}
			}
		}
	})
}
