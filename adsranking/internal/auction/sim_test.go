package auction

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func smallSim() SimConfig {
	c := DefaultSimConfig()
	c.Auctions = 400
	return c
}

func TestSimConfigValidate(t *testing.T) {
	with := func(f func(*SimConfig)) SimConfig { c := DefaultSimConfig(); f(&c); return c }
	tests := []struct {
		name string
		cfg  SimConfig
		ok   bool
	}{
		{"default", DefaultSimConfig(), true},
		{"bad auction", with(func(c *SimConfig) { c.Auction.Slots = nil }), false},
		{"no auctions", with(func(c *SimConfig) { c.Auctions = 0 }), false},
		{"no bidders", with(func(c *SimConfig) { c.Bidders = 0 }), false},
		{"zero median value", with(func(c *SimConfig) { c.ValueMedian = 0 }), false},
		{"NaN value sigma", with(func(c *SimConfig) { c.ValueSigma = math.NaN() }), false},
		{"CTR median 1", with(func(c *SimConfig) { c.CTRMedian = 1 }), false},
		{"negative CTR sigma", with(func(c *SimConfig) { c.CTRSigma = -1 }), false},
		{"no rounds", with(func(c *SimConfig) { c.BestResponseRounds = 0 }), false},
		{"no grid", with(func(c *SimConfig) { c.BidGrid = 0 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate() = %v, want ok %v (errors wrapping %v)", err, tt.ok, ErrConfig)
			}
			if !tt.ok {
				if rows := Compare(tt.cfg); rows != nil {
					t.Fatalf("Compare(invalid) = %v, want nil", rows)
				}
				if pts := Frontier(tt.cfg, nil); pts != nil {
					t.Fatalf("Frontier(invalid) = %v, want nil", pts)
				}
			}
		})
	}
}

// checkRows holds Compare's rows to what follows from the definitions whatever the
// configuration.
func checkRows(t *testing.T, cfg SimConfig, rows []MechanismRow) {
	t.Helper()
	want := []struct {
		m Mechanism
		s string
	}{{VCG, "truthful"}, {GSP, "truthful"}, {GSP, "eos"}, {FirstPrice, "best-response"}}
	if len(rows) != len(want) {
		t.Fatalf("Compare(...) = %d rows, want %d", len(rows), len(want))
	}
	const eps = 1e-9
	for i, r := range rows {
		if r.Mechanism != want[i].m || r.Strategy != want[i].s || r.Bidding == "" {
			t.Fatalf("Compare(...)[%d] = %v/%q (%q), want %v/%q with its bidding stated", i, r.Mechanism, r.Strategy, r.Bidding, want[i].m, want[i].s)
		}
		if math.Abs(r.AdvertiserSurplus-(r.AdvertiserValue-r.Revenue)) > eps*r.AdvertiserValue {
			t.Fatalf("Compare(...)[%d] = %+v, want surplus = value − revenue", i, r)
		}
		if w := r.AdvertiserValue + cfg.Auction.UserWeight*r.UserValue; math.Abs(r.Welfare-w) > eps*w {
			t.Fatalf("Compare(...)[%d].Welfare = %v, want %v", i, r.Welfare, w)
		}
		// Every bidding model bids at most its value and every price is at most the bid.
		if r.PriceToValue > 1+eps || r.AdvertiserSurplus < -eps || r.Efficiency > 1+eps || r.Revenue < 0 {
			t.Fatalf("Compare(...)[%d] = %+v, want price ≤ value, surplus ≥ 0, efficiency ≤ 1, revenue ≥ 0", i, r)
		}
	}
	vcg, gsp, eos := rows[0], rows[1], rows[2]
	// Truthful bids rank by true score; the EOS bids keep that ranking by construction.
	for _, r := range rows[:3] {
		if math.Abs(r.Efficiency-1) > eps {
			t.Fatalf("Compare(...) %v/%s efficiency = %v, want 1", r.Mechanism, r.Strategy, r.Efficiency)
		}
	}
	if gsp.Revenue < vcg.Revenue*(1-eps) {
		t.Fatalf("Compare(...) GSP truthful revenue = %v, want ≥ VCG's %v", gsp.Revenue, vcg.Revenue)
	}
	if eos.Revenue < vcg.Revenue*(1-eps) {
		t.Fatalf("Compare(...) GSP EOS revenue = %v, want ≥ VCG's %v", eos.Revenue, vcg.Revenue)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		edit func(*SimConfig)
	}{
		{"default", func(*SimConfig) {}},
		{"user value", func(c *SimConfig) { c.Auction.UserWeight = 0.01 }},
		{"high reserve", func(c *SimConfig) { c.Auction.ReserveCPM = 15 }},
		{"high reserve and user value", func(c *SimConfig) { c.Auction.ReserveCPM = 20; c.Auction.UserWeight = 0.005 }},
		{"one slot, no increment", func(c *SimConfig) { c.Auction.Slots = []float64{1}; c.Auction.Increment = 0 }},
		{"few bidders", func(c *SimConfig) { c.Bidders = 3; c.Auction.Slots = []float64{1, 0.8, 0.6, 0.4} }},
		{"one bidder", func(c *SimConfig) { c.Bidders = 1; c.Auction.ReserveCPM = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallSim()
			tt.edit(&cfg)
			rows := Compare(cfg)
			checkRows(t, cfg, rows)
			// Whatever the dynamics do, a first-price auction's profiles weigh 1 in all;
			// a lone bidder with no reserve always fills its slot.
			if cfg.Bidders == 1 && math.Abs(rows[3].Filled-1) > 1e-12 {
				t.Fatalf("Compare(...) first price fills %v slots per auction, want 1", rows[3].Filled)
			}
			if again := Compare(cfg); !reflect.DeepEqual(rows, again) {
				t.Fatalf("Compare(...) = %+v, then %+v: want the same for the same seed", rows, again)
			}
		})
	}
}

// Without a reserve or an increment the EOS equilibrium is the classic one, whose revenue
// is VCG's; with an increment each winner pays at most one increment more.
func TestCompareEOSRevenueIsVCGs(t *testing.T) {
	cfg := smallSim()
	cfg.Auction.ReserveCPM, cfg.Auction.Increment = 0, 0
	rows := Compare(cfg)
	checkRows(t, cfg, rows)
	if vcg, eos := rows[0].Revenue, rows[2].Revenue; math.Abs(eos-vcg) > 1e-9*vcg {
		t.Fatalf("Compare(...) GSP EOS revenue = %v, want VCG's %v", eos, vcg)
	}
	if vcg, gsp := rows[0].Revenue, rows[1].Revenue; gsp <= vcg*(1+1e-6) {
		t.Fatalf("Compare(...) GSP truthful revenue = %v, want above VCG's %v", gsp, vcg)
	}
}

// Auction by auction: the EOS bids never exceed values, keep the efficient allocation, and
// make GSP charge every winner at least its VCG price, and at most one increment more when
// neither the reserve nor the user term can lift a bid.
func TestEOSBids(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 0))
	for trial := range 60 {
		cfg := smallSim()
		cfg.Auctions = 1
		cfg.Seed = uint64(trial)
		cfg.Auction = randomConfig(rng, GSP)
		plain := cfg.Auction.ReserveCPM == 0 && cfg.Auction.UserWeight == 0
		vcgRules, gspRules := cfg.Auction, cfg.Auction
		vcgRules.Mechanism = VCG
		g := newGenerator(&cfg)
		truthful := make([]Bid, cfg.Bidders)
		values := make([]float64, cfg.Bidders)
		eos := make([]Bid, cfg.Bidders)
		for range 20 {
			g.draw(truthful, values)
			vcg := Run(vcgRules, truthful, nil)
			eosBids(&cfg.Auction, truthful, values, rank(&vcgRules, truthful, nil), vcg, eos)
			for i := range eos {
				if !(eos[i].CPC > 0 && eos[i].CPC <= values[i]) {
					t.Fatalf("eosBids: bidder %d bids %v, want in (0, value %v]", i, eos[i].CPC, values[i])
				}
			}
			gsp := Run(gspRules, eos, nil)
			if len(gsp) != len(vcg) {
				t.Fatalf("Run(gsp, eos bids) = %+v, want the winners of %+v", gsp, vcg)
			}
			for k := range gsp {
				g, v := gsp[k], vcg[k]
				if g.Index != v.Index {
					t.Fatalf("Run(gsp, eos bids) = %+v, want the allocation %+v", gsp, vcg)
				}
				if g.CPC < v.CPC*(1-1e-9) {
					t.Fatalf("Run(gsp, eos bids)[%d].CPC = %v, want ≥ VCG's %v", k, g.CPC, v.CPC)
				}
				if plain && g.CPC > v.CPC+cfg.Auction.Increment+1e-9*v.CPC {
					t.Fatalf("Run(gsp, eos bids)[%d].CPC = %v, want ≤ VCG's %v + increment %v", k, g.CPC, v.CPC, cfg.Auction.Increment)
				}
			}
		}
	}
}

// The responder's utilities must be Run's: for random profiles, every grid bid of every
// bidder is scored both ways.
func TestResponderAgreesWithRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 0))
	for range 100 {
		cfg := randomConfig(rng, FirstPrice)
		bids := randomBids(rng, 1+rng.IntN(12), true)
		for i := range bids {
			if !bids[i].valid() { // the simulation only draws valid bids
				bids[i] = Bid{CPC: 0.4, PCTR: 0.02, Value: 0.5}
			}
		}
		// With ties the values are the bids, so the top grid bid reproduces other
		// bidders' scores exactly and the tie rule is exercised.
		ties := rng.IntN(2) == 0
		values := make([]float64, len(bids))
		for i := range bids {
			values[i] = bids[i].CPC
			if !ties {
				values[i] *= 1 + rng.Float64()
			}
		}
		r := newResponder(&cfg, len(bids))
		r.start(bids)
		trial := slices.Clone(bids)
		for i := range bids {
			r.others(i)
			for m := 1; m <= 10; m++ {
				x := values[i] * float64(m) / 10
				trial[i].CPC = x
				want := utility(cfg, Run(cfg, trial, nil), trial, i, values[i])
				if got := r.utility(i, &bids[i], x, values[i]); math.Abs(got-want) > 1e-15 {
					t.Fatalf("responder.utility(bidder %d, bid %v) = %v, want %v (from Run)", i, x, got, want)
				}
			}
			trial[i].CPC = bids[i].CPC
		}
	}
}

// Where the dynamics settle, the profile is an equilibrium on the grid: checked with Run,
// no bidder has a strictly better grid bid.
func TestBestResponseSettlesOnEquilibria(t *testing.T) {
	cfg := smallSim()
	cfg.Bidders = 4
	cfg.BidGrid = 20
	fp := cfg.Auction
	fp.Mechanism = FirstPrice
	g := newGenerator(&cfg)
	bids := make([]Bid, cfg.Bidders)
	values := make([]float64, cfg.Bidders)
	r := newResponder(&fp, cfg.Bidders)
	settled := 0
	for range 200 {
		g.draw(bids, values)
		r.start(bids)
		for range 30 {
			if !r.round(bids, values, cfg.BidGrid) {
				settled++
				for i := range bids {
					now := utility(fp, Run(fp, bids, nil), bids, i, values[i])
					trial := slices.Clone(bids)
					for m := 1; m <= cfg.BidGrid; m++ {
						trial[i].CPC = values[i] * float64(m) / float64(cfg.BidGrid)
						if u := utility(fp, Run(fp, trial, nil), trial, i, values[i]); u > now+1e-9*values[i]*bids[i].PCTR {
							t.Fatalf("settled profile %+v: bidder %d gains %v > %v by bidding %v", bids, i, u, now, trial[i].CPC)
						}
					}
				}
				break
			}
		}
	}
	if settled < 10 {
		t.Fatalf("the dynamics settled in %d of 200 auctions, too few to test", settled)
	}
}

// Raising λ ranks by user value more: per auction the allocation maximises advertiser
// value + λ·user value over a set that does not depend on λ, so user value can only rise
// and advertiser value only fall.
func TestFrontier(t *testing.T) {
	cfg := smallSim()
	weights := []float64{0, 0.002, 0.01, 0.05, 0.2}
	pts := Frontier(cfg, weights)
	if len(pts) != len(weights) {
		t.Fatalf("Frontier(...) = %d points, want %d", len(pts), len(weights))
	}
	for i, p := range pts {
		if p.UserWeight != weights[i] {
			t.Fatalf("Frontier(...)[%d].UserWeight = %v, want %v", i, p.UserWeight, weights[i])
		}
		if w := p.AdvertiserValue + p.UserWeight*p.UserValue; math.Abs(p.Welfare-w) > 1e-12 {
			t.Fatalf("Frontier(...)[%d].Welfare = %v, want %v", i, p.Welfare, w)
		}
		if i == 0 {
			continue
		}
		q := pts[i-1]
		if p.UserValue < q.UserValue || p.AdvertiserValue > q.AdvertiserValue {
			t.Fatalf("Frontier(...) λ %v → %v: user value %v → %v, advertiser value %v → %v; want user value up, advertiser value down",
				q.UserWeight, p.UserWeight, q.UserValue, p.UserValue, q.AdvertiserValue, p.AdvertiserValue)
		}
	}
	if pts[len(pts)-1].UserValue <= pts[0].UserValue {
		t.Fatalf("Frontier(...) = %+v, want user value to rise over the range", pts)
	}
	// λ = 0 is Compare's GSP truthful row on the same auctions.
	cfg.Auction.UserWeight = 0
	if gsp := Compare(cfg)[1]; math.Abs(gsp.Revenue-pts[0].Revenue) > 1e-12 {
		t.Fatalf("Frontier(...)[0].Revenue = %v, want Compare's GSP truthful %v", pts[0].Revenue, gsp.Revenue)
	}
	if got := Frontier(cfg, nil); len(got) != len(DefaultFrontierWeights()) {
		t.Fatalf("Frontier(cfg, nil) = %d points, want the %d default weights", len(got), len(DefaultFrontierWeights()))
	}
	for _, bad := range []float64{-0.1, math.NaN(), math.Inf(1)} {
		if got := Frontier(cfg, []float64{0, bad}); got != nil {
			t.Fatalf("Frontier(cfg, [0 %v]) = %v, want nil", bad, got)
		}
	}
}

func TestTables(t *testing.T) {
	rows := Compare(smallSim())
	text := Table(rows)
	for _, want := range []string{"mechanism", "efficiency", "first-price", "best-response", "eos", rows[3].Bidding} {
		if !strings.Contains(text, want) {
			t.Fatalf("Table(...) = %q, want it to contain %q", text, want)
		}
	}
	if text := FrontierTable(Frontier(smallSim(), []float64{0, 0.01})); !strings.Contains(text, "0.01") || !strings.Contains(text, "user value") {
		t.Fatalf("FrontierTable(...) = %q, want a row per weight", text)
	}
}

// TestCompareDefaultTable prints the default table (go test -run TestCompareDefaultTable -v).
func TestCompareDefaultTable(t *testing.T) {
	cfg := DefaultSimConfig()
	rows := Compare(cfg)
	checkRows(t, cfg, rows)
	t.Log("\n" + Table(rows))
	t.Log("\n" + FrontierTable(Frontier(cfg, nil)))
}
