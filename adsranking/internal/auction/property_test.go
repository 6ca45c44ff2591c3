package auction

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Property tests: random auctions from a fixed seed, each outcome checked against the
// definitions (a full sort, the Clarke pivot computed by rerunning the auction without
// the bidder, thresholds found by bisection on the bidder's own bid), not against the
// closed forms Run uses.

const instances = 300

// randomBids draws n candidates, a few of them invalid. With ties, bids, pCTRs and user
// values come from short lists so that equal scores are common.
func randomBids(rng *rand.Rand, n int, ties bool) []Bid {
	bids := make([]Bid, n)
	for i := range bids {
		b := Bid{Ad: int64(i), Campaign: int64(i / 3)}
		if ties {
			b.CPC = float64(1+rng.IntN(4)) * 0.25
			b.PCTR = []float64{0.01, 0.02, 0.04}[rng.IntN(3)]
			b.Value = float64(rng.IntN(3)) / 2
		} else {
			b.CPC = 0.5 * math.Exp(0.8*rng.NormFloat64())
			b.PCTR = 1 / (1 + math.Exp(3.9-0.6*rng.NormFloat64()))
			b.Value = rng.Float64()
		}
		switch rng.IntN(40) {
		case 0:
			b.CPC = math.NaN()
		case 1:
			b.PCTR = 1
		case 2:
			b.Value = -1
		}
		bids[i] = b
	}
	return bids
}

// randomConfig draws slots, a reserve that binds for some candidates (pCTR·CPC is about
// 0.01 per impression, so 0–15 CPM), an increment and a user-value weight.
func randomConfig(rng *rand.Rand, m Mechanism) Config {
	slots := make([]float64, 1+rng.IntN(5))
	slots[0] = 1
	for j := 1; j < len(slots); j++ {
		slots[j] = slots[j-1] * (0.4 + 0.6*rng.Float64())
		if rng.IntN(8) == 0 {
			slots[j] = slots[j-1] // equal effects: the zero-weight VCG terms
		}
	}
	c := Config{Mechanism: m, Slots: slots}
	if rng.IntN(3) > 0 {
		c.ReserveCPM = 15 * rng.Float64()
	}
	if rng.IntN(2) == 0 {
		c.Increment = 0.01
	}
	if rng.IntN(2) == 0 {
		c.UserWeight = 0.02 * rng.Float64()
	}
	return c
}

// eligible is the definition of who takes part, written out separately from Run's.
func eligible(c Config, b Bid) bool {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	return finite(b.CPC) && finite(b.PCTR) && finite(b.Value) &&
		b.CPC > 0 && b.PCTR > 0 && b.PCTR < 1 && b.Value >= 0 &&
		1000*b.CPC*b.PCTR >= c.ReserveCPM && finite(score(c, b))
}

func score(c Config, b Bid) float64 { return b.CPC*b.PCTR + c.UserWeight*b.Value }

// fullSort is the allocation by definition: every eligible candidate, sorted by score,
// ties to the lower index.
func fullSort(c Config, bids []Bid) []int {
	var idx []int
	for i, b := range bids {
		if eligible(c, b) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(score(c, bids[b]), score(c, bids[a])) })
	return idx
}

// slotOf is the slot bidder i wins, or -1.
func slotOf(out []Win, i int) (Win, bool) {
	for _, w := range out {
		if w.Index == i {
			return w, true
		}
	}
	return Win{}, false
}

// threshold is the least bid with which bidder i wins slot j or better, the others'
// bids fixed, found by bisection on Run itself. It returns +Inf if no bid does.
func threshold(c Config, bids []Bid, i, j int) float64 {
	trial := slices.Clone(bids)
	wins := func(x float64) bool {
		trial[i].CPC = x
		w, ok := slotOf(Run(c, trial, nil), i)
		return ok && w.Slot <= j
	}
	hi := bids[i].CPC
	for !wins(hi) {
		if hi *= 2; hi > 1e12 {
			return math.Inf(1)
		}
	}
	lo := 0.0 // a bid of 0 is invalid and never wins
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if wins(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func near(a, b, scale float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(scale, 1e-12) }

func TestAllocationIsTheTopSByScore(t *testing.T) {
	for _, m := range []Mechanism{GSP, VCG, FirstPrice} {
		for _, ties := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ties=%v", m, ties), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(m)))
				var out []Win
				for range instances {
					c := randomConfig(rng, m)
					bids := randomBids(rng, rng.IntN(60), ties)
					out = Run(c, bids, out)
					want := fullSort(c, bids)
					want = want[:min(len(want), len(c.Slots))]
					// rank's S+1 include the runner-up, whose identity the simulation uses.
					all := fullSort(c, bids)
					if got := rank(&c, bids, nil); len(got) != min(len(all), len(c.Slots)+1) {
						t.Fatalf("rank(%+v) = %+v, want the top %d of %v", c, got, len(c.Slots)+1, all)
					} else {
						for k := range got {
							if got[k].Index != all[k] {
								t.Fatalf("rank(%+v) = %+v, want the top %d of %v", c, got, len(c.Slots)+1, all)
							}
						}
					}
					if len(out) != len(want) {
						t.Fatalf("Run(%+v) = %d winners, want min(S, eligible) = %d", c, len(out), len(want))
					}
					for k, w := range out {
						if w.Index != want[k] || w.Slot != k {
							t.Fatalf("Run(...)[%d] = %+v, want index %d in slot %d", k, w, want[k], k)
						}
						if !eligible(c, bids[w.Index]) {
							t.Fatalf("Run(...)[%d] = %+v, want only eligible winners", k, w)
						}
						if w.Score != score(c, bids[w.Index]) {
							t.Fatalf("Run(...)[%d].Score = %v, want %v", k, w.Score, score(c, bids[w.Index]))
						}
					}
				}
			})
		}
	}
}

func TestPricesWithinBidAndReserve(t *testing.T) {
	for _, m := range []Mechanism{GSP, VCG, FirstPrice} {
		t.Run(m.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(m)))
			var out []Win
			won := 0
			for range instances {
				c := randomConfig(rng, m)
				bids := randomBids(rng, 1+rng.IntN(60), rng.IntN(2) == 0)
				out = Run(c, bids, out)
				for _, w := range out {
					b := bids[w.Index]
					if w.CPC > b.CPC {
						t.Fatalf("Run(...) = %+v, want CPC ≤ bid %v", w, b.CPC)
					}
					// Exactly, not within an epsilon: a reserve price must clear the reserve
					// as the eligibility test computes it.
					if cpm := 1000 * w.CPC * b.PCTR; cpm < c.ReserveCPM {
						t.Fatalf("Run(...) = %+v: %v CPM, want ≥ reserve %v", w, cpm, c.ReserveCPM)
					}
					if m == FirstPrice && w.CPC != b.CPC {
						t.Fatalf("Run(first-price) = %+v, want CPC = bid %v", w, b.CPC)
					}
					if want := w.CPC * b.PCTR * c.Slots[w.Slot]; w.CostPerImpression != want {
						t.Fatalf("Run(...).CostPerImpression = %v, want %v", w.CostPerImpression, want)
					}
					won++
				}
			}
			if won < instances {
				t.Fatalf("%d winners over %d auctions: the instances are too thin to test anything", won, instances)
			}
		})
	}
}

// welfareOf is Σ θ·score over the winners other than skip: the welfare the Clarke pivot
// counts for "the others".
func welfareOf(c Config, bids []Bid, out []Win, skip int) float64 {
	w := 0.0
	for _, x := range out {
		if x.Index != skip {
			w += c.Slots[x.Slot] * score(c, bids[x.Index])
		}
	}
	return w
}

// Without a reserve or a user term, VCG is the textbook Clarke pivot: what the others
// lose because the bidder is there, computed by running the auction again without it.
func TestVCGIsTheClarkePivot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	checked := 0
	for range instances {
		c := randomConfig(rng, VCG)
		c.ReserveCPM, c.UserWeight = 0, 0
		bids := randomBids(rng, 2+rng.IntN(30), false)
		out := Run(c, bids, nil)
		for _, w := range out {
			b := bids[w.Index]
			without := slices.Clone(bids)
			without[w.Index].CPC = math.NaN() // invalid: takes no part
			othersWithout := welfareOf(c, without, Run(c, without, nil), -1)
			othersWith := welfareOf(c, bids, out, w.Index)
			want := (othersWithout - othersWith) / (c.Slots[w.Slot] * b.PCTR)
			if !near(w.CPC, want, b.CPC) {
				t.Fatalf("Run(%+v) = %+v, want Clarke price %v", c, w, want)
			}
			checked++
		}
	}
	if checked < instances {
		t.Fatalf("checked %d winners, want ≥ %d", checked, instances)
	}
}

// clarkeWithPhantoms is the Clarke pivot of the affine maximizer Σ θ·score as bidder i
// (in slot k) sees it, straight from the definition: "the others" are the eligible other
// candidates plus S phantom competitors at i's reserve score ρ = ReserveCPM/1000 + λ·u_i;
// the others' welfare counts i's own user value λ·u_i wherever i sits; the payment is the
// others' best welfare without i minus their welfare with i in slot k.
func clarkeWithPhantoms(c Config, bids []Bid, i, k int) float64 {
	b := bids[i]
	rho := c.ReserveCPM/1000 + c.UserWeight*b.Value
	var others []float64
	for j, o := range bids {
		if j != i && eligible(c, o) {
			others = append(others, score(c, o))
		}
	}
	for range c.Slots {
		others = append(others, rho)
	}
	slices.SortFunc(others, func(x, y float64) int { return cmp.Compare(y, x) })
	without, with := 0.0, c.Slots[k]*c.UserWeight*b.Value
	for j, th := range c.Slots {
		without += th * others[j]
		switch {
		case j < k:
			with += th * others[j]
		case j > k:
			with += th * others[j-1]
		}
	}
	return (without - with) / (c.Slots[k] * b.PCTR)
}

// With the user term and the reserve, VCG is the Clarke pivot with the reserve as phantom
// competitors. Without them a bidder whose user value alone beats the scores below would
// be paid to win (the plain pivot goes negative); the phantoms make the floor the reserve.
func TestVCGIsTheClarkePivotWithPhantoms(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	checked, bound := 0, 0
	for range instances {
		c := randomConfig(rng, VCG)
		if rng.IntN(2) == 0 {
			c.UserWeight = 0.05 * rng.Float64() // large: the phantom often binds
		}
		bids := randomBids(rng, 2+rng.IntN(30), false)
		for _, w := range Run(c, bids, nil) {
			b := bids[w.Index]
			want := clarkeWithPhantoms(c, bids, w.Index, w.Slot)
			if !near(w.CPC, want, b.CPC) {
				t.Fatalf("Run(%+v) = %+v, want Clarke price with phantoms %v", c, w, want)
			}
			if rho := c.ReserveCPM / 1000 / b.PCTR; near(w.CPC, rho, b.CPC) {
				bound++
			}
			checked++
		}
	}
	if checked < instances || bound == 0 {
		t.Fatalf("checked %d winners, %d at their reserve, want ≥ %d and some", checked, bound, instances)
	}
}

// With a reserve too, VCG's price per click is Myerson's threshold payment: the slot
// drops weighted by θ_j − θ_{j+1}, each at the least bid that still wins slot j,
// found by bisection.
func TestVCGIsTheThresholdPayment(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 0))
	checked := 0
	for range instances / 3 {
		c := randomConfig(rng, VCG)
		c.ReserveCPM = 2 + 10*rng.Float64() // binding for many
		bids := randomBids(rng, 2+rng.IntN(20), false)
		for _, w := range Run(c, bids, nil) {
			want := 0.0
			for j := w.Slot; j < len(c.Slots); j++ {
				next := 0.0
				if j+1 < len(c.Slots) {
					next = c.Slots[j+1]
				}
				if c.Slots[j] > next {
					want += (c.Slots[j] - next) * threshold(c, bids, w.Index, j)
				}
			}
			want /= c.Slots[w.Slot]
			if !near(w.CPC, want, bids[w.Index].CPC) {
				t.Fatalf("Run(%+v) = %+v, want threshold price %v", c, w, want)
			}
			checked++
		}
	}
	if checked < instances/3 {
		t.Fatalf("checked %d winners, want ≥ %d", checked, instances/3)
	}
}

// GSP charges the least bid that keeps the slot, plus at most the increment (less when
// the bid caps it; the reserve floor applies before the increment in the spec's formula,
// so a winner at its reserve can pay up to an increment over its threshold).
func TestGSPIsTheLeastBidKeepingTheSlot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	for range instances / 3 {
		c := randomConfig(rng, GSP)
		bids := randomBids(rng, 2+rng.IntN(20), false)
		for _, w := range Run(c, bids, nil) {
			tau := threshold(c, bids, w.Index, w.Slot)
			b := bids[w.Index].CPC
			// The bisection's τ is a hair above a threshold of 0 (a bid must be > 0).
			if w.CPC < tau-1e-9*b || w.CPC > math.Min(b, tau+c.Increment)+1e-9*b {
				t.Fatalf("Run(%+v) = %+v, want CPC in [%v, min(bid %v, %v + increment)]", c, w, tau, b, tau)
			}
			if c.Increment == 0 && !near(w.CPC, tau, b) {
				t.Fatalf("Run(%+v) = %+v, want the threshold %v (no increment)", c, w, tau)
			}
		}
	}
}

// For the same bids GSP's price is at least VCG's for every winner: VCG's is a convex
// combination of thresholds that only fall below the winner's own slot threshold, which
// GSP charges (plus the increment, capped at a bid that is at least the threshold).
// Increments, the user term and reserves (the same for both) do not change that.
func TestGSPPricesAtLeastVCG(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	strict := 0
	for range instances {
		c := randomConfig(rng, GSP)
		bids := randomBids(rng, 1+rng.IntN(60), rng.IntN(2) == 0)
		gsp := Run(c, bids, nil)
		c.Mechanism = VCG
		vcg := Run(c, bids, nil)
		var revG, revV float64
		for k := range gsp {
			if gsp[k].Index != vcg[k].Index {
				t.Fatalf("GSP and VCG allocate differently: %+v vs %+v", gsp, vcg)
			}
			if gsp[k].CPC < vcg[k].CPC*(1-1e-12) {
				t.Fatalf("Run(gsp)[%d].CPC = %v, want ≥ Run(vcg)[%d].CPC = %v", k, gsp[k].CPC, k, vcg[k].CPC)
			}
			revG += gsp[k].CostPerImpression
			revV += vcg[k].CostPerImpression
		}
		if revG < revV*(1-1e-12) {
			t.Fatalf("GSP revenue %v, want ≥ VCG revenue %v", revG, revV)
		}
		if revG > revV*(1+1e-9) {
			strict++
		}
	}
	if strict == 0 {
		t.Fatal("GSP never earned more than VCG: the instances cannot tell the two apart")
	}
}

// utility is bidder i's gain at true value v per click: θ·pCTR·(v − price) if it wins.
func utility(c Config, out []Win, bids []Bid, i int, v float64) float64 {
	w, ok := slotOf(out, i)
	if !ok {
		return 0
	}
	return c.Slots[w.Slot] * bids[i].PCTR * (v - w.CPC)
}

// deviations are the bids worth trying against truthful value v for bidder i: a grid of
// multiples of v, and just above and below each score it could overtake or drop behind
// and its reserve, where a manipulation would pay off if anywhere.
func deviations(c Config, bids []Bid, i int) []float64 {
	v := bids[i].CPC
	var xs []float64
	for _, f := range []float64{0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01, 1.05, 1.1, 1.25, 1.5, 2, 3, 10} {
		xs = append(xs, f*v)
	}
	b := bids[i]
	edges := []float64{c.ReserveCPM / 1000 / b.PCTR}
	for j, o := range bids {
		if j != i && eligible(c, o) {
			edges = append(edges, (score(c, o)-c.UserWeight*b.Value)/b.PCTR)
		}
	}
	for _, e := range edges {
		if e > 0 {
			xs = append(xs, e*(1-1e-9), e*(1+1e-9))
		}
	}
	return xs
}

// profitableDeviation returns a bid that earns bidder i more than the truth, if any.
func profitableDeviation(c Config, bids []Bid, i int) (float64, float64, float64, bool) {
	v := bids[i].CPC
	truth := utility(c, Run(c, bids, nil), bids, i, v)
	trial := slices.Clone(bids)
	scale := bids[i].PCTR * v
	for _, x := range deviations(c, bids, i) {
		trial[i].CPC = x
		if u := utility(c, Run(c, trial, nil), trial, i, v); u > truth+1e-9*scale {
			return x, truth, u, true
		}
	}
	return 0, truth, 0, false
}

// Truthful bidding is a dominant strategy under VCG: no bidder, winner or loser, gains by
// changing its bid alone, with or without the user term and the reserve.
func TestVCGNoProfitableDeviation(t *testing.T) {
	tests := []struct {
		name            string
		lambda, reserve bool
	}{
		{"plain", false, false},
		{"user value", true, false},
		{"reserve", false, true},
		{"user value and reserve", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(tt.name))))
			for range instances / 2 {
				c := randomConfig(rng, VCG)
				c.UserWeight, c.ReserveCPM = 0, 0
				if tt.lambda {
					c.UserWeight = 0.002 + 0.02*rng.Float64()
				}
				if tt.reserve {
					c.ReserveCPM = 1 + 10*rng.Float64()
				}
				bids := randomBids(rng, 2+rng.IntN(10), false)
				for i := range bids {
					if !bids[i].valid() {
						continue
					}
					if truth := utility(c, Run(c, bids, nil), bids, i, bids[i].CPC); truth < -1e-12 {
						t.Fatalf("Run(%+v): bidder %d's truthful utility %v, want ≥ 0", c, i, truth)
					}
					if x, truth, u, ok := profitableDeviation(c, bids, i); ok {
						t.Fatalf("Run(%+v): bidder %d bidding %v instead of %v earns %v, want ≤ %v (truthful)", c, i, x, bids[i].CPC, u, truth)
					}
				}
			}
		})
	}
}

// The same check finds manipulations under GSP, which is not truthful: without this the
// VCG test could pass by checking nothing.
func TestDeviationCheckCatchesGSP(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 0))
	found := 0
	for range 50 {
		c := randomConfig(rng, GSP)
		bids := randomBids(rng, 2+rng.IntN(10), false)
		for i := range bids {
			if bids[i].valid() {
				if _, _, _, ok := profitableDeviation(c, bids, i); ok {
					found++
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("profitableDeviation found no manipulation of GSP in 50 auctions, want some")
	}
}

// FuzzRun checks the invariants on arbitrary bids: no panic, winners in score order among
// the eligible, prices within bid and reserve.
func FuzzRun(f *testing.F) {
	f.Add(1.0, 0.05, 0.5, 0.8, 0.02, 0.1, 0.5, 0.01, 0.01, uint8(0))
	f.Add(math.NaN(), 1.0, -1.0, math.Inf(1), 0.0, 2.0, 10.0, 0.0, 0.0, uint8(1))
	f.Add(2.0, 0.1, 0.0, 2.0, 0.1, 0.0, 0.0, 1.0, 0.0, uint8(2))
	f.Fuzz(func(t *testing.T, cpc1, p1, u1, cpc2, p2, u2, reserve, lambda, inc float64, mech uint8) {
		c := Config{Mechanism: Mechanism(mech % 3), Slots: []float64{1, 0.6}, ReserveCPM: reserve, UserWeight: lambda, Increment: inc}
		bids := []Bid{{CPC: cpc1, PCTR: p1, Value: u1}, {CPC: cpc2, PCTR: p2, Value: u2}, {CPC: 0.3, PCTR: 0.03, Value: 0.2}}
		out := Run(c, bids, nil)
		if !c.ok() {
			if len(out) != 0 {
				t.Fatalf("Run(%+v) = %+v, want no winners for an invalid config", c, out)
			}
			return
		}
		want := fullSort(c, bids)
		for k, w := range out {
			b := bids[w.Index]
			if k >= len(want) || w.Index != want[k] {
				t.Fatalf("Run(%+v) = %+v, want indexes %v", c, out, want)
			}
			if !(w.CPC <= b.CPC) || 1000*w.CPC*b.PCTR < c.ReserveCPM*(1-1e-12)-1e-300 {
				t.Fatalf("Run(%+v) = %+v, want CPC within [reserve, bid %v]", c, w, b.CPC)
			}
		}
	})
}
