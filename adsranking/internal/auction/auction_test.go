package auction

import (
	"errors"
	"math"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		c.Slots = append([]float64(nil), c.Slots...)
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", ok, true},
		{"one slot", with(func(c *Config) { c.Slots = []float64{1} }), true},
		{"equal effects", with(func(c *Config) { c.Slots = []float64{1, 1, 0.5} }), true},
		{"zero reserve, increment and weight", with(func(c *Config) { c.ReserveCPM, c.Increment, c.UserWeight = 0, 0, 0 }), true},
		{"unknown mechanism", with(func(c *Config) { c.Mechanism = 7 }), false},
		{"negative mechanism", with(func(c *Config) { c.Mechanism = -1 }), false},
		{"no slots", with(func(c *Config) { c.Slots = nil }), false},
		{"zero effect", with(func(c *Config) { c.Slots = []float64{1, 0} }), false},
		{"effect above one", with(func(c *Config) { c.Slots = []float64{1.2, 0.7} }), false},
		{"increasing effects", with(func(c *Config) { c.Slots = []float64{1, 0.5, 0.7} }), false},
		{"NaN effect", with(func(c *Config) { c.Slots = []float64{1, math.NaN()} }), false},
		{"negative reserve", with(func(c *Config) { c.ReserveCPM = -1 }), false},
		{"infinite reserve", with(func(c *Config) { c.ReserveCPM = math.Inf(1) }), false},
		{"NaN increment", with(func(c *Config) { c.Increment = math.NaN() }), false},
		{"negative increment", with(func(c *Config) { c.Increment = -0.01 }), false},
		{"negative weight", with(func(c *Config) { c.UserWeight = -0.1 }), false},
		{"infinite weight", with(func(c *Config) { c.UserWeight = math.Inf(1) }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate() = %v, want %v", err, ErrConfig)
			}
			if got := tt.cfg.ok(); got != tt.ok {
				t.Fatalf("ok() = %v, want %v (it must agree with Validate)", got, tt.ok)
			}
		})
	}
}

func TestParseMechanism(t *testing.T) {
	tests := []struct {
		in   string
		want Mechanism
		ok   bool
	}{
		{"gsp", GSP, true},
		{"vcg", VCG, true},
		{"first-price", FirstPrice, true},
		{" VCG ", VCG, true},
		{"first_price", FirstPrice, true},
		{"second-price", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMechanism(tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("ParseMechanism(%q) = %v, %v, want %v", tt.in, got, err, ErrConfig)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMechanism(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, m := range []Mechanism{GSP, VCG, FirstPrice} {
		text, err := m.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v) = %v", m, err)
		}
		var back Mechanism
		if err := back.UnmarshalText(text); err != nil || back != m {
			t.Fatalf("UnmarshalText(%q) = %v, %v, want %v", text, back, err, m)
		}
	}
	if _, err := Mechanism(9).MarshalText(); !errors.Is(err, ErrConfig) {
		t.Fatalf("MarshalText(9) = %v, want %v", err, ErrConfig)
	}
}

// Hand-worked auctions: the prices here were computed on paper from the definitions.
func TestRunWorkedExamples(t *testing.T) {
	// Scores at λ = 0: A 0.20, B 0.15, C 0.10, D 0.05.
	bids := []Bid{
		{Ad: 1, CPC: 2, PCTR: 0.1},
		{Ad: 2, CPC: 1, PCTR: 0.15, Value: 1},
		{Ad: 3, CPC: 1, PCTR: 0.1, Value: 0.5},
		{Ad: 4, CPC: 0.5, PCTR: 0.1},
	}
	two := []float64{1, 0.5}
	type want struct {
		index, slot int
		cpc         float64
	}
	tests := []struct {
		name string
		cfg  Config
		want []want
	}{
		// GSP: A pays B's score over its pCTR, 0.15/0.1; B pays C's, 0.10/0.15.
		{"gsp", Config{Mechanism: GSP, Slots: two}, []want{{0, 0, 1.5}, {1, 1, 0.1 / 0.15}}},
		// VCG: A pays ½·(0.15/0.1) + ½·(0.10/0.1) = 1.25; B pays (0.10/0.15).
		{"vcg", Config{Mechanism: VCG, Slots: two}, []want{{0, 0, 1.25}, {1, 1, 0.1 / 0.15}}},
		{"first price", Config{Mechanism: FirstPrice, Slots: two}, []want{{0, 0, 2}, {1, 1, 1}}},
		// A 120 CPM reserve (0.12 per impression) shuts out C and D: nobody is below B,
		// so B pays its reserve per click, 0.12/0.15 = 0.8, with no increment.
		{"gsp with reserve and increment", Config{Mechanism: GSP, Slots: two, ReserveCPM: 120, Increment: 0.01},
			[]want{{0, 0, 1.51}, {1, 1, 0.8}}},
		// VCG: A pays ½·max(1.2, 1.5) + ½·1.2 (the phantom at A's reserve) = 1.35.
		{"vcg with reserve", Config{Mechanism: VCG, Slots: two, ReserveCPM: 120},
			[]want{{0, 0, 1.35}, {1, 1, 0.8}}},
		// λ = 0.1 lifts B to 0.25 and C to 0.15: the order is B, A. GSP: B pays
		// (0.20 − 0.1)/0.15, A pays (0.15 − 0)/0.1.
		{"gsp with user value", Config{Mechanism: GSP, Slots: two, UserWeight: 0.1},
			[]want{{1, 0, 0.1 / 0.15}, {0, 1, 1.5}}},
		// VCG: B pays ½·(0.20 − 0.1)/0.15 + ½·(0.15 − 0.1)/0.15 = 0.5; A pays 0.15/0.1.
		{"vcg with user value", Config{Mechanism: VCG, Slots: two, UserWeight: 0.1},
			[]want{{1, 0, 0.5}, {0, 1, 1.5}}},
		// One slot: VCG is the second-price auction on score.
		{"vcg one slot", Config{Mechanism: VCG, Slots: []float64{1}}, []want{{0, 0, 1.5}}},
		// GSP's increment cannot take a price past the bid: 1.5 + 0.6 and 0.67 + 0.6 are
		// both above the winners' bids.
		{"gsp increment capped", Config{Mechanism: GSP, Slots: two, Increment: 0.6}, []want{{0, 0, 2}, {1, 1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Run(tt.cfg, bids, nil)
			if len(got) != len(tt.want) {
				t.Fatalf("Run(...) = %+v, want %d winners", got, len(tt.want))
			}
			for k, w := range tt.want {
				g := got[k]
				if g.Index != w.index || g.Slot != w.slot || math.Abs(g.CPC-w.cpc) > 1e-12 {
					t.Fatalf("Run(...)[%d] = %+v, want index %d slot %d CPC %v", k, g, w.index, w.slot, w.cpc)
				}
				b := bids[g.Index]
				if cpi := g.CPC * b.PCTR * tt.cfg.Slots[g.Slot]; math.Abs(g.CostPerImpression-cpi) > 1e-15 {
					t.Fatalf("Run(...)[%d].CostPerImpression = %v, want %v", k, g.CostPerImpression, cpi)
				}
			}
		})
	}
}

// Ties go to the lower index, and the selection must not depend on where the tied bids sit.
func TestRunTiesGoToLowerIndex(t *testing.T) {
	bids := make([]Bid, 50)
	for i := range bids {
		bids[i] = Bid{CPC: 1, PCTR: 0.05}
	}
	bids[30].CPC = 2 // the one clear winner
	got := Run(Config{Mechanism: GSP, Slots: []float64{1, 0.8, 0.6}}, bids, nil)
	want := []int{30, 0, 1}
	for k := range want {
		if k >= len(got) || got[k].Index != want[k] {
			t.Fatalf("Run(...) = %+v, want indexes %v", got, want)
		}
	}
	// The tied winners pay their own bid: the next score equals theirs.
	if got[1].CPC != 1 || got[2].CPC != 1 {
		t.Fatalf("Run(...) = %+v, want CPC 1 for the tied winners", got)
	}
}

func TestRunInvalidInputsNeverPanic(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	good := Bid{CPC: 1, PCTR: 0.05, Value: 0.5}
	bad := []Bid{
		{CPC: nan, PCTR: 0.05},
		{CPC: inf, PCTR: 0.05},
		{CPC: -1, PCTR: 0.05},
		{CPC: 0, PCTR: 0.05},
		{CPC: 1, PCTR: nan},
		{CPC: 1, PCTR: 0},
		{CPC: 1, PCTR: 1},
		{CPC: 1, PCTR: 1.5},
		{CPC: 1, PCTR: -0.1},
		{CPC: 1, PCTR: 0.05, Value: nan},
		{CPC: 1, PCTR: 0.05, Value: -1},
		{CPC: 1, PCTR: 0.05, Value: inf},
	}
	huge := []Bid{
		{CPC: math.MaxFloat64, PCTR: 0.5, Value: 1},
		{CPC: math.MaxFloat64, PCTR: 1e-300, Value: 1},
		{CPC: 1e-300, PCTR: 1e-300, Value: 1},
		{CPC: math.SmallestNonzeroFloat64, PCTR: 0.5},
		good,
	}
	configs := map[string]Config{
		"default":         DefaultConfig(),
		"zero slots":      {Mechanism: GSP},
		"NaN slot":        {Mechanism: VCG, Slots: []float64{math.NaN()}},
		"bad mechanism":   {Mechanism: 42, Slots: []float64{1}},
		"NaN reserve":     {Mechanism: GSP, Slots: []float64{1}, ReserveCPM: nan},
		"huge weight":     {Mechanism: VCG, Slots: []float64{1, 0.5}, UserWeight: math.MaxFloat64},
		"huge increment":  {Mechanism: GSP, Slots: []float64{1, 0.5}, Increment: math.MaxFloat64},
		"huge reserve":    {Mechanism: VCG, Slots: []float64{1, 0.5}, ReserveCPM: math.MaxFloat64},
		"equal slots vcg": {Mechanism: VCG, Slots: []float64{1, 1, 1}},
	}
	slices := map[string][]Bid{
		"nil":            nil,
		"empty":          {},
		"all invalid":    bad,
		"invalid + good": append(append([]Bid{}, bad...), good),
		"extremes":       huge,
	}
	for cname, cfg := range configs {
		for sname, bids := range slices {
			t.Run(cname+"/"+sname, func(t *testing.T) {
				for _, m := range []Mechanism{GSP, VCG, FirstPrice, cfg.Mechanism} {
					c := cfg
					c.Mechanism = m
					got := Run(c, bids, nil)
					if !c.ok() {
						if len(got) != 0 {
							t.Fatalf("Run(%s) with an invalid config = %+v, want no winners", m, got)
						}
						continue
					}
					for _, w := range got {
						b := bids[w.Index]
						if !b.valid() {
							t.Fatalf("Run(%s) = %+v, want invalid bid %+v to lose", m, got, b)
						}
						if !(w.CPC <= b.CPC) || !(w.CPC >= 0) || math.IsInf(w.CostPerImpression, 0) || math.IsNaN(w.CostPerImpression) {
							t.Fatalf("Run(%s) = %+v, want a finite price in [0, %v]", m, w, b.CPC)
						}
					}
				}
			})
		}
	}
}

func TestRunDoesNotAllocate(t *testing.T) {
	bids := benchBids(1000, 7)
	for _, m := range []Mechanism{GSP, VCG, FirstPrice} {
		t.Run(m.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Mechanism = m
			cfg.UserWeight = 0.005
			out := Run(cfg, bids, nil)
			if allocs := testing.AllocsPerRun(100, func() { out = Run(cfg, bids, out) }); allocs != 0 {
				t.Fatalf("Run(...) with a reused out = %v allocations, want 0", allocs)
			}
			if len(out) != len(cfg.Slots) {
				t.Fatalf("Run(...) = %d winners, want %d", len(out), len(cfg.Slots))
			}
		})
	}
}
