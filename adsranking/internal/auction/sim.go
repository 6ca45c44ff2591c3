package auction

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"text/tabwriter"
)

// SimConfig describes the random auctions Compare and Frontier run. Every mechanism and
// every λ sees the same auctions (the same seed), so their differences are the rules' and
// the bidding's, not the draw's.
type SimConfig struct {
	// Auction holds the rules (slots, reserve, increment, λ). Its Mechanism is ignored:
	// Compare runs all three, Frontier runs GSP.
	Auction  Config
	Seed     uint64
	Auctions int // auctions simulated
	Bidders  int // candidates per auction

	// A bidder's private value per click is lognormal: ValueMedian·exp(ValueSigma·Z).
	ValueMedian, ValueSigma float64
	// Its pCTR is logit-normal around CTRMedian: sigmoid(logit(CTRMedian) + CTRSigma·Z),
	// the usual shape of predicted CTRs (a skewed bump near a few percent). Its user
	// value is uniform on [0,1] and independent of the rest.
	CTRMedian, CTRSigma float64

	// First price is played by iterated best response: BestResponseRounds rounds, each
	// bidder choosing among BidGrid bids value·m/BidGrid, m = 1..BidGrid; the outcome is
	// averaged over the profiles after each of the last half of the rounds.
	BestResponseRounds, BidGrid int
}

// DefaultSimConfig is 2,000 auctions of 10 bidders under DefaultConfig's rules, values
// per click with a median of 0.50 and pCTRs with a median of 2%: it runs in well under a
// second.
func DefaultSimConfig() SimConfig {
	return SimConfig{
		Auction:            DefaultConfig(),
		Seed:               1,
		Auctions:           2000,
		Bidders:            10,
		ValueMedian:        0.5,
		ValueSigma:         0.6,
		CTRMedian:          0.02,
		CTRSigma:           0.5,
		BestResponseRounds: 20,
		BidGrid:            40,
	}
}

// Validate names the first problem with c; the error wraps ErrConfig.
func (c SimConfig) Validate() error {
	if err := c.Auction.Validate(); err != nil {
		return err
	}
	switch {
	case c.Auctions < 1 || c.Auctions > 10_000_000:
		return fmt.Errorf("%w: Auctions %d, want 1..10,000,000", ErrConfig, c.Auctions)
	case c.Bidders < 1 || c.Bidders > 100_000:
		return fmt.Errorf("%w: Bidders %d, want 1..100,000", ErrConfig, c.Bidders)
	case !(c.ValueMedian > 0 && c.ValueMedian <= 1e6):
		return fmt.Errorf("%w: ValueMedian %v, want in (0, 1e6]", ErrConfig, c.ValueMedian)
	case !(c.ValueSigma >= 0 && c.ValueSigma <= 5):
		return fmt.Errorf("%w: ValueSigma %v, want in [0, 5]", ErrConfig, c.ValueSigma)
	case !(c.CTRMedian > 0 && c.CTRMedian < 1):
		return fmt.Errorf("%w: CTRMedian %v, want in (0, 1)", ErrConfig, c.CTRMedian)
	case !(c.CTRSigma >= 0 && c.CTRSigma <= 5):
		return fmt.Errorf("%w: CTRSigma %v, want in [0, 5]", ErrConfig, c.CTRSigma)
	case c.BestResponseRounds < 1 || c.BestResponseRounds > 1000:
		return fmt.Errorf("%w: BestResponseRounds %d, want 1..1000", ErrConfig, c.BestResponseRounds)
	case c.BidGrid < 1 || c.BidGrid > 10_000:
		return fmt.Errorf("%w: BidGrid %d, want 1..10,000", ErrConfig, c.BidGrid)
	}
	return nil
}

// MechanismRow is one mechanism under one bidding model, averaged over the simulated
// auctions. Money is in currency per auction (one impression of each filled slot).
type MechanismRow struct {
	Mechanism Mechanism
	Strategy  string // the bidding model's short name: truthful, eos or best-response
	Bidding   string // the bidding model, stated in full so the row can be judged

	Revenue           float64 // Σ price·pCTR·θ over winners
	AdvertiserValue   float64 // Σ value·pCTR·θ over winners: value created for advertisers
	AdvertiserSurplus float64 // AdvertiserValue − Revenue
	UserValue         float64 // Σ Value·θ over winners (unweighted)
	Welfare           float64 // AdvertiserValue + λ·UserValue
	// Efficiency is Σ Welfare / Σ optimal welfare, the optimum being every candidate
	// whose true value meets the reserve ranked by its true score (the reserve is policy,
	// not a loss).
	Efficiency   float64
	PriceToValue float64 // mean over winners of price per click / value per click
	Filled       float64 // slots filled per auction
}

// FrontierPoint is GSP with truthful bids at one user-value weight λ, per auction.
type FrontierPoint struct {
	UserWeight      float64
	Revenue         float64
	UserValue       float64 // Σ Value·θ over winners
	AdvertiserValue float64 // Σ value·pCTR·θ over winners
	Welfare         float64 // AdvertiserValue + λ·UserValue
}

// DefaultFrontierWeights spans λ from 0 to several times a typical candidate's expected
// price per impression (about 0.01 under DefaultSimConfig), where the user term
// dominates the ranking.
func DefaultFrontierWeights() []float64 {
	return []float64{0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1}
}

// Bidding models, in Compare's row order.
const (
	biddingTruthfulVCG = "truthful: bid = value per click (a dominant strategy under VCG)"
	biddingTruthfulGSP = "truthful: bid = value per click (not an equilibrium of GSP: " +
		"winners gain by shading; the naive benchmark, whose prices are at least VCG's for the same bids)"
	biddingEOS = "lowest envy-free equilibrium (Edelman–Ostrovsky–Schwarz): each bidder below " +
		"the top, down to the runner-up, bids so the one above pays its VCG price before the " +
		"increment; the rest bid value; floored at own reserve, capped at value. Revenue is " +
		"at least VCG's, and VCG's plus at most one increment per click where no floor binds"
)

// Compare simulates cfg.Auctions random auctions and reports, for the same auctions,
// VCG with truthful bids, GSP with truthful bids, GSP with the EOS equilibrium bids and
// first price with bids from iterated best response, in that order. Each row's Bidding
// states its model. Welfare and surplus are measured at the true values, whatever was bid.
// It returns nil if cfg.Validate fails.
func Compare(cfg SimConfig) []MechanismRow {
	if cfg.Validate() != nil {
		return nil
	}
	rules := func(m Mechanism) Config { c := cfg.Auction; c.Mechanism = m; return c }
	vcg, gsp, fp := rules(VCG), rules(GSP), rules(FirstPrice)

	g := newGenerator(&cfg)
	n := cfg.Bidders
	truthful := make([]Bid, n)
	values := make([]float64, n)
	eos := make([]Bid, n)
	shaded := make([]Bid, n)
	br := newResponder(&fp, n)
	var ranked, vcgOut, out []Win
	var acc [4]tally
	settled := 0
	rounds := cfg.BestResponseRounds
	kept := max(rounds/2, 1)

	for range cfg.Auctions {
		g.draw(truthful, values)

		// Truthful bids rank by true score, so the VCG allocation is the optimum.
		vcgOut = Run(vcg, truthful, vcgOut)
		optimum := welfare(&cfg.Auction, truthful, values, vcgOut)
		acc[0].add(&cfg.Auction, truthful, values, vcgOut, optimum, 1)

		out = Run(gsp, truthful, out)
		acc[1].add(&cfg.Auction, truthful, values, out, optimum, 1)

		ranked = rank(&vcg, truthful, ranked)
		eosBids(&cfg.Auction, truthful, values, ranked, vcgOut, eos)
		out = Run(gsp, eos, out)
		acc[2].add(&cfg.Auction, truthful, values, out, optimum, 1)

		// First price: score the profile after each of the last `kept` rounds, each with
		// weight 1/kept; once no bid changes the profile stays, so it takes the weight of
		// every round left.
		copy(shaded, truthful)
		br.start(shaded)
		for r := 1; r <= rounds; r++ {
			changed := br.round(shaded, values, cfg.BidGrid)
			if !changed {
				settled++
			}
			// How many of the last `kept` rounds end on this profile.
			weight := 0
			switch {
			case !changed:
				weight = min(rounds-r+1, kept)
			case r > rounds-kept:
				weight = 1
			}
			if weight > 0 {
				w := float64(weight) / float64(kept)
				out = Run(fp, shaded, out)
				acc[3].add(&cfg.Auction, truthful, values, out, optimum, w)
			}
			if !changed {
				break
			}
		}
	}

	biddingFP := fmt.Sprintf("iterated best response with complete information: from truthful bids, "+
		"%d rounds in which each bidder in turn takes the best of the bids value·m/%d (m = 1..%d) "+
		"against the others' current bids, keeping its bid unless another is strictly better. "+
		"Such dynamics often cycle (the sawtooth Edelman and Ostrovsky found in Overture's "+
		"first-price auctions), so the row averages the profiles after each of the last %d "+
		"rounds; no bid changed in a full round in %.0f%% of auctions",
		rounds, cfg.BidGrid, cfg.BidGrid, kept, 100*float64(settled)/float64(cfg.Auctions))
	return []MechanismRow{
		acc[0].row(VCG, "truthful", biddingTruthfulVCG, &cfg),
		acc[1].row(GSP, "truthful", biddingTruthfulGSP, &cfg),
		acc[2].row(GSP, "eos", biddingEOS, &cfg),
		acc[3].row(FirstPrice, "best-response", biddingFP, &cfg),
	}
}

// Frontier runs GSP with truthful bids over the same auctions at each user-value weight
// (DefaultFrontierWeights if weights is empty) and reports revenue against user value:
// raising λ ranks by user value more, which buys user value with revenue and advertiser
// value. It returns nil if cfg.Validate fails or a weight is negative or not finite.
func Frontier(cfg SimConfig, weights []float64) []FrontierPoint {
	if cfg.Validate() != nil {
		return nil
	}
	if len(weights) == 0 {
		weights = DefaultFrontierWeights()
	}
	rules := make([]Config, len(weights))
	for i, w := range weights {
		if !finiteNonNeg(w) {
			return nil
		}
		rules[i] = cfg.Auction
		rules[i].Mechanism = GSP
		rules[i].UserWeight = w
	}

	g := newGenerator(&cfg)
	bids := make([]Bid, cfg.Bidders)
	values := make([]float64, cfg.Bidders)
	acc := make([]tally, len(weights))
	var out []Win
	for range cfg.Auctions {
		g.draw(bids, values)
		for i := range rules {
			out = Run(rules[i], bids, out)
			acc[i].add(&rules[i], bids, values, out, 0, 1)
		}
	}

	points := make([]FrontierPoint, len(weights))
	for i, w := range weights {
		a := float64(cfg.Auctions)
		points[i] = FrontierPoint{
			UserWeight:      w,
			Revenue:         acc[i].revenue / a,
			UserValue:       acc[i].user / a,
			AdvertiserValue: acc[i].value / a,
			Welfare:         (acc[i].value + w*acc[i].user) / a,
		}
	}
	return points
}

// Table lays rows out as text for a terminal or a docs page.
func Table(rows []MechanismRow) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mechanism\tbidding\trevenue\tadv. value\tadv. surplus\tuser value\twelfare\tefficiency\tprice/value\tfilled\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%.5f\t%.5f\t%.5f\t%.4f\t%.5f\t%.4f\t%.3f\t%.2f\t\n",
			r.Mechanism, r.Strategy, r.Revenue, r.AdvertiserValue, r.AdvertiserSurplus, r.UserValue, r.Welfare, r.Efficiency, r.PriceToValue, r.Filled)
	}
	tw.Flush()
	sb.WriteString("\nMoney is per auction (one impression of each filled slot).\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%s/%s: %s\n", r.Mechanism, r.Strategy, r.Bidding)
	}
	return sb.String()
}

// FrontierTable lays points out as text.
func FrontierTable(points []FrontierPoint) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "λ\trevenue\tuser value\tadv. value\twelfare\t")
	for _, p := range points {
		fmt.Fprintf(tw, "%g\t%.5f\t%.4f\t%.5f\t%.5f\t\n", p.UserWeight, p.Revenue, p.UserValue, p.AdvertiserValue, p.Welfare)
	}
	tw.Flush()
	return sb.String()
}

// generator draws auctions: truthful bids (CPC = value) and the values beside them.
type generator struct {
	rng      *rand.Rand
	cfg      *SimConfig
	ctrLogit float64
}

func newGenerator(cfg *SimConfig) *generator {
	return &generator{
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x61756374696f6e)), // "auction"
		cfg:      cfg,
		ctrLogit: math.Log(cfg.CTRMedian / (1 - cfg.CTRMedian)),
	}
}

func (g *generator) draw(bids []Bid, values []float64) {
	for i := range bids {
		v := g.cfg.ValueMedian * math.Exp(g.cfg.ValueSigma*g.rng.NormFloat64())
		p := 1 / (1 + math.Exp(-(g.ctrLogit + g.cfg.CTRSigma*g.rng.NormFloat64())))
		p = min(max(p, 1e-6), 1-1e-6) // a wide CTRSigma must not make an invalid bid
		bids[i] = Bid{Ad: int64(i), Campaign: int64(i), CPC: v, PCTR: p, Value: g.rng.Float64()}
		values[i] = v
	}
}

// welfare is Σ θ·(pCTR·value + λ·Value) over the winners in out, at the true values.
func welfare(c *Config, bids []Bid, values []float64, out []Win) float64 {
	w := 0.0
	for _, x := range out {
		b := &bids[x.Index]
		w += c.Slots[x.Slot] * (b.PCTR*values[x.Index] + c.UserWeight*b.Value)
	}
	return w
}

// tally sums one row's outcomes over the auctions. An auction's outcomes come with a
// weight (the share of it one first-price profile stands for); the weights of one auction
// sum to 1.
type tally struct {
	revenue, value, user, optimum, priceToValue, wins float64
}

func (t *tally) add(c *Config, bids []Bid, values []float64, out []Win, optimum, weight float64) {
	for _, x := range out {
		b := &bids[x.Index]
		th := c.Slots[x.Slot]
		t.revenue += weight * x.CostPerImpression
		t.value += weight * th * b.PCTR * values[x.Index]
		t.user += weight * th * b.Value
		t.priceToValue += weight * x.CPC / values[x.Index]
	}
	t.wins += weight * float64(len(out))
	t.optimum += weight * optimum
}

func (t *tally) row(m Mechanism, strategy, bidding string, cfg *SimConfig) MechanismRow {
	a := float64(cfg.Auctions)
	lambda := cfg.Auction.UserWeight
	w := t.value + lambda*t.user
	eff := 1.0
	if t.optimum > 0 {
		eff = w / t.optimum
	}
	ptv := 0.0
	if t.wins > 0 {
		ptv = t.priceToValue / t.wins
	}
	return MechanismRow{
		Mechanism:         m,
		Strategy:          strategy,
		Bidding:           bidding,
		Revenue:           t.revenue / a,
		AdvertiserValue:   t.value / a,
		AdvertiserSurplus: (t.value - t.revenue) / a,
		UserValue:         t.user / a,
		Welfare:           w / a,
		Efficiency:        eff,
		PriceToValue:      ptv,
		Filled:            t.wins / a,
	}
}

// eosBids fills bids with the lowest envy-free equilibrium of GSP (Edelman, Ostrovsky and
// Schwarz 2007; Varian's lower symmetric Nash equilibrium), built from the truthful
// profile: ranked is its top S+1 by true score, vcg its VCG outcome. The bidder ranked k
// (k = 1..S, the runner-up included) bids so that the bidder ranked k−1 pays exactly its
// VCG price before the increment: GSP charges (s'_k − λ·u_{k−1})/p_{k−1}, so k's score is
//
//	s'_k = p_{k−1}·VCG_{k−1} + λ·u_{k−1}
//
// and its bid (s'_k − λ·u_k)/p_k. The top bidder's bid sets nobody's price: it bids its
// value, as do those below the runner-up. With no reserve, s'_k is a θ-weighted mean of
// the true scores ranked k and below (the runner-up's comes out as its own), so the ranking
// is kept and, before the increment, each winner pays its VCG price.
//
// The increment is left out of the construction on purpose: it is a tick size, not part
// of the game the equilibrium describes. Taking it off each target instead would shade
// every bid by increment·p_{k−1}/p_k, which differs between bidders and reorders close
// ones (and drops the runner-up below the next truthful loser), so the "equilibrium" would
// no longer allocate efficiently. As built, GSP charges each winner its VCG price plus at
// most one increment (capped at its own bid, which is at least its VCG price).
//
// A bid is floored at the bidder's own reserve (below it the bidder would lose a slot it
// values) and capped at its value (no equilibrium bid exceeds it). The reserve is per
// bidder in score terms (ReserveCPM/1000 + λ·u), so with a user term a floor can lift a
// bidder's score over the one above it; the one above then raises its bid to stay ahead
// (it can: its true score is higher), as a bidder in equilibrium would. Floors and these
// raises only ever lift the score below a winner, so every winner pays at least its VCG
// price, and exactly that where none binds. The cap only binds where the bidder above pays
// its reserve anyway.
func eosBids(c *Config, truthful []Bid, values []float64, ranked, vcg []Win, bids []Bid) {
	copy(bids, truthful)
	lambda := c.UserWeight
	last := min(len(ranked)-1, len(vcg))
	for k := 1; k <= last; k++ {
		above := &truthful[ranked[k-1].Index]
		i := ranked[k].Index
		me := &bids[i]
		target := float64(above.PCTR*vcg[k-1].CPC) + float64(lambda*above.Value)
		bid := (target - lambda*me.Value) / me.PCTR
		floor := max(leastEligibleBid(c.ReserveCPM, me.PCTR), 1e-9*values[i]) // a bid must stay > 0
		me.CPC = min(max(bid, floor), values[i])
	}
	// Keep the true ranking, bottom up: each bidder's score must beat the one below it
	// (ties go to the lower index, as in Run).
	for k := last; k >= 2; k-- {
		hi, lo := ranked[k-1].Index, ranked[k].Index
		b := &bids[hi]
		below := scoreOf(bids[lo].CPC, &bids[lo], lambda)
		ahead := func() bool {
			s := scoreOf(b.CPC, b, lambda)
			return s > below || (s == below && hi < lo)
		}
		if ahead() {
			continue
		}
		b.CPC = min((below-lambda*b.Value)/b.PCTR, values[hi])
		for range 4 { // rounding: a few ulps at most
			if ahead() || b.CPC >= values[hi] {
				break
			}
			b.CPC = math.Nextafter(b.CPC, math.Inf(1))
		}
		if !ahead() {
			b.CPC = values[hi] // its true score ranks it ahead
		}
	}
}

// responder plays first-price best responses. Each bidder, in index order, looks at the
// others' current scores and takes the grid bid with the highest utility
// θ_slot·pCTR·(value − bid), keeping its current bid unless another is strictly better.
type responder struct {
	cfg    *Config
	scores []float64 // current score, or −1 for a bid under the reserve
	top    []Win     // the best S other bidders: Index and Score
}

func newResponder(c *Config, n int) *responder {
	return &responder{cfg: c, scores: make([]float64, n), top: make([]Win, 0, len(c.Slots))}
}

// start takes the bids (CPC = current bid) the rounds will start from.
func (r *responder) start(bids []Bid) {
	for i := range bids {
		r.scores[i] = r.score(&bids[i], bids[i].CPC)
	}
}

// round lets every bidder in turn best-respond on the grid, updating bids in place, and
// reports whether any bid changed.
func (r *responder) round(bids []Bid, values []float64, grid int) bool {
	c := r.cfg
	changed := false
	for i := range bids {
		r.others(i)
		b := &bids[i]
		v := values[i]
		best, bestU := b.CPC, r.utility(i, b, b.CPC, v)
		// Ties are broken towards the current bid, so a bidder indifferent between bids
		// does not wander and keep the dynamics from settling.
		tol := 1e-12 * c.Slots[0] * b.PCTR * v
		for m := 1; m <= grid; m++ {
			x := v * float64(m) / float64(grid)
			if u := r.utility(i, b, x, v); u > bestU+tol {
				best, bestU = x, u
			}
		}
		if best != b.CPC {
			b.CPC = best
			r.scores[i] = r.score(b, best)
			changed = true
		}
	}
	return changed
}

func (r *responder) score(b *Bid, cpc float64) float64 {
	if !(1000*cpc*b.PCTR >= r.cfg.ReserveCPM) {
		return -1
	}
	return scoreOf(cpc, b, r.cfg.UserWeight)
}

// others keeps the S best scores of the bidders other than i, in rank order: only they
// decide which slot a bid of i wins.
func (r *responder) others(i int) {
	keep := len(r.cfg.Slots)
	r.top = r.top[:0]
	for j, s := range r.scores {
		if j == i || s < 0 {
			continue
		}
		n := len(r.top)
		if n == keep {
			if s <= r.top[n-1].Score {
				continue
			}
			n--
			r.top = r.top[:n]
		}
		at := n
		for at > 0 && r.top[at-1].Score < s {
			at--
		}
		r.top = append(r.top, Win{})
		copy(r.top[at+1:], r.top[at:n])
		r.top[at] = Win{Index: j, Score: s}
	}
}

// utility is what bidder i gains by bidding cpc against r.top, with Run's tie rule (equal
// scores go to the lower index).
func (r *responder) utility(i int, b *Bid, cpc, value float64) float64 {
	s := r.score(b, cpc)
	if s < 0 {
		return 0
	}
	slot := 0
	for _, o := range r.top {
		if o.Score > s || (o.Score == s && o.Index < i) {
			slot++
		}
	}
	if slot >= len(r.cfg.Slots) {
		return 0
	}
	return r.cfg.Slots[slot] * b.PCTR * (value - cpc)
}
