package auction

import "math"

// Run clears one auction and returns the winners in slot order, appended to out[:0].
//
// Run needs room for S+1 entries (S = len(cfg.Slots)), the last one for the runner-up
// whose score sets the prices, and it uses out's backing array for that: give it a slice
// with capacity S+1 (make([]Win, 0, S+1)), or pass back what earlier calls returned, and
// Run allocates nothing. An invalid cfg (see Validate)
// fills no slot; invalid bids (non-finite fields, CPC ≤ 0, PCTR outside (0,1), Value < 0)
// and bids below the reserve are skipped.
//
// Winners are the top S eligible candidates by score CPC·PCTR + λ·Value, ties going to
// the lower index. Prices per click, for the winner in 0-based slot k with bid b, PCTR p,
// user value u, reserve per click r = ReserveCPM/1000/p, and s_{k+1} the next score:
//
//	GSP:         min(b, max(r, (s_{k+1} − λu)/p + Increment)), or r if nobody is next
//	VCG:         Σ_{j≥k} (θ_j − θ_{j+1})/θ_k · max(r, (s_{j+1} − λu)/p)   (see vcgPrice)
//	first price: b
func Run(cfg Config, bids []Bid, out []Win) []Win {
	out = rank(&cfg, bids, out)
	slots := len(cfg.Slots)
	lambda := cfg.UserWeight
	ranked := len(out)
	winners := min(ranked, slots)
	for k := 0; k < winners; k++ {
		b := &bids[out[k].Index]
		reserve := leastEligibleBid(cfg.ReserveCPM, b.PCTR)
		var price float64
		switch cfg.Mechanism {
		case GSP:
			price = reserve
			if k+1 < ranked {
				if p := (out[k+1].Score-lambda*b.Value)/b.PCTR + cfg.Increment; p > price {
					price = p
				}
			}
		case VCG:
			price = vcgPrice(cfg.Slots, out[:ranked], k, b, lambda, reserve)
			// Mathematically a convex combination of thresholds ≥ reserve; the floor
			// only absorbs rounding.
			if price < reserve {
				price = reserve
			}
		case FirstPrice:
			price = b.CPC
		}
		// The bid caps every price; GSP's increment can reach past it and rounding could
		// push VCG's a hair over. !(price <= CPC) also catches a NaN.
		if !(price <= b.CPC) {
			price = b.CPC
		}
		out[k].Slot = k
		out[k].CPC = price
		out[k].CostPerImpression = price * b.PCTR * cfg.Slots[k]
	}
	return out[:winners]
}

// rank appends to out[:0] the top S+1 eligible candidates of bids in rank order, with Index
// and Score set: the winners and the runner-up whose score prices the last slot. An invalid
// cfg ranks nobody.
func rank(cfg *Config, bids []Bid, out []Win) []Win {
	out = out[:0]
	if !cfg.ok() {
		return out
	}
	keep := len(cfg.Slots) + 1
	lambda := cfg.UserWeight

	// Partial selection: out holds the best `keep` so far, in rank order. Most candidates
	// lose the comparison with the last kept score and cost one branch, so this is O(n)
	// for a few slots, against O(n log n) for sorting all thousand.
	for i := range bids {
		b := &bids[i]
		if !b.valid() || !(1000*b.CPC*b.PCTR >= cfg.ReserveCPM) {
			continue
		}
		s := scoreOf(b.CPC, b, lambda)
		if !(s <= math.MaxFloat64) {
			continue // overflowed: no price could be computed from it
		}
		n := len(out)
		if n == keep {
			// Equal scores keep the earlier (lower-index) candidate ahead.
			if s <= out[n-1].Score {
				continue
			}
			n--
			out = out[:n]
		}
		at := n
		for at > 0 && out[at-1].Score < s {
			at--
		}
		out = append(out, Win{})
		copy(out[at+1:], out[at:n])
		out[at] = Win{Index: i, Score: s}
	}
	return out
}

// vcgPrice is the VCG price per click of the winner in slot k.
//
// Derivation. Write s_1 ≥ s_2 ≥ … for the ranked eligible scores (1-based here), θ_j for
// the position effects, θ_j = 0 for j > S. The mechanism is the affine maximizer of
//
//	W = Σ_j θ_j·s_(j) = Σ_j θ_j·(p_(j)·b_(j) + λ·u_(j))
//
// over assignments of eligible candidates to slots; with θ nonincreasing, ranking by score
// maximizes it. λ·u is welfare (the user's) but not the bidder's utility, which is
// θ·p·(v − price); in the affine-maximizer view it is a constant attached to each
// assignment. The Clarke pivot charges bidder k (in slot k, 1-based) the others' welfare
// without it minus the others' welfare with it, where "the others' welfare" includes the
// λ·u terms of every assignment, its own included:
//
//	without k, everyone below moves up one slot:  Σ_{j<k} θ_j s_j + Σ_{j>k} θ_{j−1} s_j
//	with k:                                       Σ_{j<k} θ_j s_j + Σ_{j>k} θ_j s_j + θ_k λ u_k
//
// so the payment per impression is
//
//	T_k = Σ_{j≥k} (θ_j − θ_{j+1})·s_{j+1} − θ_k·λ·u_k
//	    = Σ_{j≥k} (θ_j − θ_{j+1})·(s_{j+1} − λ·u_k)            (the weights sum to θ_k)
//
// and k's utility θ_k p_k v_k − T_k = W(with k, at its true value) − W(without k): the
// second term does not depend on k's bid and the first is maximised by the allocation a
// truthful bid produces, hence truthfulness.
//
// Reserve. Bidder k takes part only if b ≥ r_k = ReserveCPM/1000/p_k, that is only if its
// score reaches ρ_k = p_k·r_k + λ·u_k. Treat that as an unlimited supply of phantom
// competitors of score ρ_k (as k sees it): the score k must beat for slot j becomes
// max(s_{j+1}, ρ_k), missing candidates count as −∞, and
//
//	T_k = Σ_{j=k}^{S} (θ_j − θ_{j+1})·(max(s_{j+1}, ρ_k) − λ·u_k)
//
// which is also Myerson's threshold payment Σ_j (θ_j − θ_{j+1})·p_k·τ_j, with τ_j the least
// bid that wins slot j or better, τ_j = max(r_k, (s_{j+1} − λ·u_k)/p_k). Per click (÷ θ_k·p_k):
//
//	price_k = Σ_{j=k}^{S} (θ_j − θ_{j+1})/θ_k · τ_j
//
// a convex combination of thresholds τ_k ≥ τ_{k+1} ≥ … ≥ r_k, so r_k ≤ price_k ≤ τ_k ≤ b_k:
// never below the reserve and never above the bid. Since GSP charges τ_k (+ increment,
// capped at b_k ≥ τ_k), GSP's price is at least VCG's for every winner, whatever the
// bids, the increment, λ or the reserve.
//
// Cost: the thresholds reach the reserve once the scores below drop under ρ_k (scores only
// fall) or run out; the rest of the sum then telescopes to θ_j·r_k. O(S) per winner.
func vcgPrice(theta []float64, ranked []Win, k int, b *Bid, lambda, reserve float64) float64 {
	slots := len(theta)
	u := lambda * b.Value
	sum := 0.0
	for j := k; j < slots; j++ {
		var tau float64
		if j+1 < len(ranked) {
			tau = (ranked[j+1].Score - u) / b.PCTR
		}
		if j+1 >= len(ranked) || !(tau > reserve) {
			sum += theta[j] * reserve // Σ_{i≥j} (θ_i − θ_{i+1}) = θ_j
			break
		}
		next := 0.0
		if j+1 < slots {
			next = theta[j+1]
		}
		// A zero weight must not meet an infinite threshold (0·Inf is NaN).
		if w := theta[j] - next; w > 0 {
			sum += w * tau
		}
	}
	return sum / theta[k]
}

// scoreOf is the ranking score of b bidding cpc. The conversions stop the compiler from
// fusing the multiply-add (the spec allows it on some architectures), so every caller
// computes the same score bit for bit and ties are ties everywhere.
func scoreOf(cpc float64, b *Bid, lambda float64) float64 {
	return float64(cpc*b.PCTR) + float64(lambda*b.Value)
}

// leastEligibleBid is the reserve per click, nudged up where rounding would leave
// 1000·bid·pCTR a hair under the reserve and the bid out of the auction.
func leastEligibleBid(reserveCPM, pctr float64) float64 {
	r := reserveCPM / 1000 / pctr
	for range 4 {
		if 1000*r*pctr >= reserveCPM {
			break
		}
		r = math.Nextafter(r, math.Inf(1))
	}
	return r
}
