package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
)

func newWorld(t testing.TB, cfg sim.Config) *sim.World {
	t.Helper()
	w, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return w
}

// tinyConfig is the smallest world Validate admits: one of everything.
func tinyConfig() sim.Config {
	return sim.Config{Users: 1, Advertisers: 1, Campaigns: 1, AdsPerCampaign: 1, Placements: 1,
		Factors: 1, BaseCTR: 0.01, Position: []float64{1}, Seed: 9}
}

func TestNewDeterministic(t *testing.T) {
	cfg := sim.SmallConfig()
	a, b := newWorld(t, cfg), newWorld(t, cfg)
	for _, c := range []struct {
		name string
		x, y any
	}{
		{"Users", a.Users, b.Users},
		{"Placements", a.Placements, b.Placements},
		{"Campaigns", a.Campaigns, b.Campaigns},
		{"Ads", a.Ads, b.Ads},
		{"Truth().Position()", a.Truth().Position(), b.Truth().Position()},
		{"Requests(500, 3)", a.Requests(500, 3), b.Requests(500, 3)},
	} {
		if !reflect.DeepEqual(c.x, c.y) {
			t.Errorf("two worlds from seed %d differ in %s", cfg.Seed, c.name)
		}
	}
	// The truth's parameters are private; its answers must agree too.
	for _, r := range a.Requests(50, 4) {
		ca := a.Truth().NewContext(a.User(r.User), r.Placement, r.Hour)
		cb := b.Truth().NewContext(b.User(r.User), r.Placement, r.Hour)
		for id := int64(1); id <= int64(len(a.Ads)); id += 7 {
			if pa, pb := a.Truth().CTR(ca, id), b.Truth().CTR(cb, id); pa != pb {
				t.Fatalf("CTR(request %d, ad %d) = %v and %v in two worlds from one seed", r.ID, id, pa, pb)
			}
		}
	}

	cfg.Seed++
	c := newWorld(t, cfg)
	for _, d := range []struct {
		name string
		x, y any
	}{
		{"Users", a.Users, c.Users},
		{"Placements", a.Placements, c.Placements},
		{"Campaigns", a.Campaigns, c.Campaigns},
		{"Ads", a.Ads, c.Ads},
	} {
		if reflect.DeepEqual(d.x, d.y) {
			t.Errorf("worlds from seeds %d and %d have the same %s", cfg.Seed-1, cfg.Seed, d.name)
		}
	}
	if ra, rb := a.Requests(500, 3), a.Requests(500, 4); reflect.DeepEqual(ra, rb) {
		t.Errorf("Requests(500, 3) = Requests(500, 4)")
	}
}

func TestNewRespectsConfig(t *testing.T) {
	one := sim.SmallConfig()
	one.AdsPerCampaign = 1
	two := sim.SmallConfig()
	two.Position = []float64{1, 0.5}
	most := sim.SmallConfig()
	most.AdsPerCampaign, most.Placements, most.Factors = 5, 2, 32
	tests := []struct {
		name string
		cfg  sim.Config
	}{
		{"small", sim.SmallConfig()},
		{"default", sim.DefaultConfig()},
		{"tiny", tinyConfig()},
		{"one ad per campaign", one},
		{"two slots", two},
		{"five ads, two placements, 32 factors", most},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			w := newWorld(t, cfg)
			if got := w.Config(); !reflect.DeepEqual(got, cfg) {
				t.Errorf("Config() = %+v, want %+v", got, cfg)
			}
			if len(w.Users) != cfg.Users || len(w.Placements) != cfg.Placements || len(w.Campaigns) != cfg.Campaigns {
				t.Fatalf("New: %d users, %d placements, %d campaigns; want %d, %d, %d",
					len(w.Users), len(w.Placements), len(w.Campaigns), cfg.Users, cfg.Placements, cfg.Campaigns)
			}
			for id := int64(1); id <= int64(cfg.Users); id++ {
				u := w.User(id)
				if u.ID != id || u.Geo < 0 || u.Geo >= len(sim.Geos) || u.Device < 0 || u.Device >= len(sim.Devices) ||
					u.Age < 0 || u.Age >= sim.NumAges || u.Segments[0] == u.Segments[1] ||
					min(u.Segments[0], u.Segments[1]) < 0 || max(u.Segments[0], u.Segments[1]) >= sim.NumSegments {
					t.Fatalf("User(%d) = %+v: id or a field out of its vocabulary", id, *u)
				}
			}
			for i, p := range w.Placements {
				if p.ID != i || p.TagID != fmt.Sprintf("pl-%02d", i) || p.Slots < 1 || p.Slots > len(cfg.Position) ||
					p.ReserveCPM <= 0 || p.Share <= 0 || p.Category < 0 || p.Category >= sim.NumCategories ||
					len(p.Formats) == 0 || !slices.IsSorted(p.Formats) || len(slices.Compact(slices.Clone(p.Formats))) != len(p.Formats) ||
					p.Formats[0] < 0 || p.Formats[len(p.Formats)-1] >= len(sim.Formats) {
					t.Fatalf("Placements[%d] = %+v: inconsistent with the config", i, p)
				}
			}
			perCampaign := make([]int, cfg.Campaigns+1)
			for i, a := range w.Ads {
				if a.ID != int64(i+1) || w.Ad(a.ID) != &w.Ads[i] || a.Campaign < 1 || a.Campaign > int64(cfg.Campaigns) ||
					a.Format < 0 || a.Format >= len(sim.Formats) || a.Quality < 0 || a.Quality > 1 {
					t.Fatalf("Ads[%d] = %+v: id, campaign, format or quality out of range", i, a)
				}
				if i > 0 && a.Campaign < w.Ads[i-1].Campaign {
					t.Fatalf("Ads[%d] (campaign %d) after an ad of campaign %d: a campaign's ads are not together", i, a.Campaign, w.Ads[i-1].Campaign)
				}
				perCampaign[a.Campaign]++
			}
			for id := int64(1); id <= int64(cfg.Campaigns); id++ {
				c := w.Campaign(id)
				if c.ID != id || c.Advertiser < 1 || c.Advertiser > int64(cfg.Advertisers) || c.Category < 0 ||
					c.Category >= sim.NumCategories || c.Budget <= 0 || !(c.BidCPC() > 0) || c.Targeting.Hours == 0 ||
					c.Targeting.Hours&^sim.AllHours != 0 || c.Paused {
					t.Fatalf("Campaign(%d) = %+v: inconsistent with the config", id, *c)
				}
				for _, p := range c.Targeting.Placements {
					if p < 0 || p >= cfg.Placements {
						t.Fatalf("Campaign(%d) targets placement %d of %d", id, p, cfg.Placements)
					}
				}
				// Config.AdsPerCampaign: "each campaign has 1..5".
				if n := perCampaign[id]; n < 1 || n > 5 || (cfg.AdsPerCampaign == 1 && n != 1) {
					t.Fatalf("campaign %d has %d ads, want 1..5 (exactly 1 when AdsPerCampaign is 1)", id, n)
				}
			}
			card := w.Cardinalities()
			if len(card) != len(sim.FieldNames) || card[8] != len(w.Ads)+1 || card[9] != cfg.Campaigns+1 ||
				card[10] != cfg.Advertisers+1 || card[5] != cfg.Placements {
				t.Errorf("Cardinalities() = %v for %d fields, %d ads, %d campaigns, %d advertisers, %d placements",
					card, len(sim.FieldNames), len(w.Ads), cfg.Campaigns, cfg.Advertisers, cfg.Placements)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []sim.Config{sim.DefaultConfig(), sim.SmallConfig(), tinyConfig()} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v, want nil", cfg, err)
		}
	}
	with := func(f func(*sim.Config)) sim.Config {
		c := sim.SmallConfig()
		f(&c)
		return c
	}
	nan := math.NaN()
	tests := []struct {
		name string
		cfg  sim.Config
		msg  string // a substring of the error
	}{
		{"no users", with(func(c *sim.Config) { c.Users = 0 }), "users 0"},
		{"negative users", with(func(c *sim.Config) { c.Users = -5 }), "users -5"},
		{"no advertisers", with(func(c *sim.Config) { c.Advertisers = 0 }), "advertisers 0"},
		{"fewer campaigns than advertisers", with(func(c *sim.Config) { c.Campaigns = c.Advertisers - 1 }), "campaigns 39"},
		{"ads per campaign below 1", with(func(c *sim.Config) { c.AdsPerCampaign = 0.99 }), "AdsPerCampaign"},
		{"ads per campaign above 5", with(func(c *sim.Config) { c.AdsPerCampaign = 5.01 }), "AdsPerCampaign"},
		{"ads per campaign NaN", with(func(c *sim.Config) { c.AdsPerCampaign = nan }), "AdsPerCampaign"},
		{"no placements", with(func(c *sim.Config) { c.Placements = 0 }), "Placements 0"},
		{"too many placements", with(func(c *sim.Config) { c.Placements = 1001 }), "Placements 1001"},
		{"no factors", with(func(c *sim.Config) { c.Factors = 0 }), "Factors 0"},
		{"too many factors", with(func(c *sim.Config) { c.Factors = 33 }), "Factors 33"},
		{"base CTR 0", with(func(c *sim.Config) { c.BaseCTR = 0 }), "BaseCTR"},
		{"base CTR 0.5", with(func(c *sim.Config) { c.BaseCTR = 0.5 }), "BaseCTR"},
		{"base CTR NaN", with(func(c *sim.Config) { c.BaseCTR = nan }), "BaseCTR"},
		{"no positions", with(func(c *sim.Config) { c.Position = nil }), "Position"},
		{"four positions", with(func(c *sim.Config) { c.Position = []float64{1, 0.8, 0.6, 0.4} }), "Position"},
		{"top position not 1", with(func(c *sim.Config) { c.Position = []float64{0.9, 0.5} }), "Position"},
		{"increasing positions", with(func(c *sim.Config) { c.Position = []float64{1, 0.5, 0.6} }), "Position"},
		{"zero position", with(func(c *sim.Config) { c.Position = []float64{1, 0} }), "Position"},
		{"NaN position", with(func(c *sim.Config) { c.Position = []float64{1, nan} }), "Position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, sim.ErrConfig) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate() = %v, want ErrConfig mentioning %q", err, tt.msg)
			}
			w, err := sim.New(tt.cfg)
			if !errors.Is(err, sim.ErrConfig) || w != nil {
				t.Fatalf("New() = %v, %v, want nil and ErrConfig", w, err)
			}
		})
	}
}

func TestTruthClickProb(t *testing.T) {
	w := newWorld(t, sim.SmallConfig())
	tr := w.Truth()
	pos := tr.Position()
	if !reflect.DeepEqual(pos, w.Config().Position) || pos[0] != 1 {
		t.Fatalf("Position() = %v, want the config's %v starting at 1", pos, w.Config().Position)
	}
	pos[0] = 0 // Position returns a copy
	if got := tr.Position()[0]; got != 1 {
		t.Fatalf("Position()[0] = %v after writing to an earlier result, want 1", got)
	}
	pos = tr.Position()
	for _, r := range w.Requests(200, 21) {
		u := w.User(r.User)
		c := tr.NewContext(u, r.Placement, r.Hour)
		for i := range w.Ads {
			ad := &w.Ads[i]
			ctr := tr.CTR(c, ad.ID)
			if !(ctr > 0 && ctr < 1) {
				t.Fatalf("CTR(request %d, ad %d) = %v, want in (0, 1)", r.ID, ad.ID, ctr)
			}
			prev := math.Inf(1)
			for slot, theta := range pos {
				p := tr.ClickProb(c, ad.ID, slot)
				if !(p > 0 && p < 1) || p != theta*ctr || !(p < prev) {
					t.Fatalf("ClickProb(request %d, ad %d, slot %d) = %v, want θ %v × CTR %v in (0, 1), below slot %d's %v",
						r.ID, ad.ID, slot, p, theta, ctr, slot-1, prev)
				}
				prev = p
			}
			if uv := tr.UserValue(c, ad); uv != ctr*ad.Quality {
				t.Fatalf("UserValue(request %d, ad %d) = %v, want CTR %v × quality %v", r.ID, ad.ID, uv, ctr, ad.Quality)
			}
		}
	}
}

// TestTruthCalibrated checks the truth's documented calibration: over random users,
// placements, hours and ads, the mean top-slot click probability is the config's BaseCTR.
func TestTruthCalibrated(t *testing.T) {
	for _, base := range []float64{0.025, 0.1} {
		cfg := sim.SmallConfig()
		cfg.BaseCTR = base
		w := newWorld(t, cfg)
		rng := rand.New(rand.NewPCG(5, 6))
		const n = 40000
		sum := 0.0
		for range n {
			u := &w.Users[rng.IntN(len(w.Users))]
			c := w.Truth().NewContext(u, rng.IntN(len(w.Placements)), rng.IntN(sim.Hours))
			sum += w.Truth().ClickProb(c, 1+rng.Int64N(int64(len(w.Ads))), 0)
		}
		if mean := sum / n; math.Abs(mean-base) > 0.1*base {
			t.Errorf("mean top-slot click probability with BaseCTR %v = %.5f, want within 10%%", base, mean)
		}
	}
}

func TestRequests(t *testing.T) {
	w := newWorld(t, sim.SmallConfig())
	const n = 100_000
	reqs := w.Requests(n, 7)
	if len(reqs) != n {
		t.Fatalf("len(Requests(%d, 7)) = %d", n, len(reqs))
	}
	end := sim.Day.Add(24 * time.Hour)
	ids := make(map[uint64]bool, n)
	var hours [sim.Hours]float64
	places := make([]float64, len(w.Placements))
	for i, r := range reqs {
		if r.Time.Before(sim.Day) || !r.Time.Before(end) {
			t.Fatalf("request %d at %v, outside the simulated day %v", i, r.Time, sim.Day)
		}
		if i > 0 && r.Time.Before(reqs[i-1].Time) {
			t.Fatalf("request %d at %v, before request %d at %v", i, r.Time, i-1, reqs[i-1].Time)
		}
		if h := int(r.Time.Sub(sim.Day) / time.Hour); r.Hour != h {
			t.Fatalf("request %d at %v has Hour %d, want %d", i, r.Time, r.Hour, h)
		}
		if r.User < 1 || r.User > int64(len(w.Users)) || r.Placement < 0 || r.Placement >= len(w.Placements) {
			t.Fatalf("request %d = %+v: user or placement out of range", i, r)
		}
		if ids[r.ID] {
			t.Fatalf("request %d repeats id %d", i, r.ID)
		}
		ids[r.ID] = true
		if got, want := r.IDString(), fmt.Sprintf("r%d", r.ID); got != want {
			t.Fatalf("IDString() = %q, want %q", got, want)
		}
		hours[r.Hour]++
		places[r.Placement]++
	}

	// Diurnal shape: counts track HourlyTraffic closely, and the peak hour beats the trough.
	if corr := pearson(hours[:], sim.HourlyTraffic[:]); corr < 0.99 {
		t.Errorf("correlation of hourly counts %v with HourlyTraffic = %.4f, want ≥ 0.99", hours, corr)
	}
	peak, trough := argmax(sim.HourlyTraffic[:]), argmin(sim.HourlyTraffic[:])
	if hours[peak] <= 3*hours[trough] {
		t.Errorf("busiest hour %d got %v requests, quietest hour %d %v: want the peak well above the trough", peak, hours[peak], trough, hours[trough])
	}
	checkShares(t, "hour", hours[:], sim.HourlyTraffic[:], n)

	// Placements follow their Share (relative to the total).
	shares := make([]float64, len(w.Placements))
	for i, p := range w.Placements {
		shares[i] = p.Share
	}
	checkShares(t, "placement", places, shares, n)

	if got := w.Requests(0, 1); len(got) != 0 {
		t.Errorf("Requests(0, 1) = %d requests, want none", len(got))
	}
}

// checkShares checks that counts out of n are each within 5 standard deviations of the
// share that weights (normalized) gives them.
func checkShares(t *testing.T, what string, counts, weights []float64, n int) {
	t.Helper()
	total := 0.0
	for _, x := range weights {
		total += x
	}
	for i, c := range counts {
		p := weights[i] / total
		want, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
		if math.Abs(c-want) > 5*sd {
			t.Errorf("%s %d got %v of %d requests, want %.0f ± %.0f", what, i, c, n, want, 5*sd)
		}
	}
}

func TestRequestAt(t *testing.T) {
	w := newWorld(t, sim.SmallConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	for h := range sim.Hours {
		r := w.RequestAt(rng, uint64(100+h), h)
		if r.ID != uint64(100+h) || r.Hour != h || !r.Time.Equal(sim.Day.Add(time.Duration(h)*time.Hour)) ||
			r.User < 1 || r.User > int64(len(w.Users)) || r.Placement < 0 || r.Placement >= len(w.Placements) {
			t.Errorf("RequestAt(rng, %d, %d) = %+v", 100+h, h, r)
		}
	}
	for _, h := range []int{24, 25, -1, -25} { // out of range: taken modulo 24
		want := ((h % sim.Hours) + sim.Hours) % sim.Hours
		if r := w.RequestAt(rng, 1, h); r.Hour != want || !r.Time.Equal(sim.Day.Add(time.Duration(want)*time.Hour)) {
			t.Errorf("RequestAt(rng, 1, %d) = hour %d at %v, want hour %d within the day", h, r.Hour, r.Time, want)
		}
	}
	if got := w.Requests(-1, 1); len(got) != 0 {
		t.Errorf("Requests(-1) = %d requests, want none", len(got))
	}
}

func TestBidRequest(t *testing.T) {
	w := newWorld(t, sim.SmallConfig())
	seen := make([]bool, len(w.Placements))
	for _, r := range w.Requests(3000, 8) {
		req := w.BidRequest(r)
		if err := req.Validate(); err != nil {
			t.Fatalf("BidRequest(%+v).Validate() = %v", r, err)
		}
		seen[r.Placement] = true
		pl, u := w.Placements[r.Placement], w.User(r.User)
		if req.ID != r.IDString() || req.Tmax != 50 || req.User == nil || req.User.ID != sim.UserKey(r.User) ||
			req.Device == nil || req.Device.DeviceType != sim.Devices[u.Device] || req.Device.Geo.Country != sim.Geos[u.Geo] {
			t.Fatalf("BidRequest(%+v) = %+v: id, tmax, user or device wrong", r, req)
		}
		if pl.App != (req.App != nil) || (req.App == nil) == (req.Site == nil) {
			t.Fatalf("BidRequest on placement %d (app %v): site %v, app %v", r.Placement, pl.App, req.Site, req.App)
		}
		if len(req.Imp) != pl.Slots {
			t.Fatalf("BidRequest on placement %d: %d impressions, want its %d slots", r.Placement, len(req.Imp), pl.Slots)
		}
		for s, imp := range req.Imp {
			if imp.ID != fmt.Sprint(s+1) || imp.TagID != pl.TagID || imp.BidFloor != pl.ReserveCPM || len(imp.Banner.Format) != len(pl.Formats) {
				t.Fatalf("BidRequest on placement %+v: imp[%d] = %+v", pl, s, imp)
			}
			for k, f := range imp.Banner.Format {
				if sim.FormatIndex(f.W, f.H) != pl.Formats[k] {
					t.Fatalf("BidRequest on placement %d: imp[%d] format %v, want %v", r.Placement, s, f, sim.Formats[pl.Formats[k]])
				}
			}
		}
		// What the load generator sends is what the bidder decodes.
		body, err := openrtb.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal(BidRequest(%+v)) = %v", r, err)
		}
		back, err := openrtb.Decode(bytes.NewReader(body), 0)
		if err != nil || !reflect.DeepEqual(back, req) {
			t.Fatalf("Decode(Marshal(BidRequest)) = %+v, %v, want %+v", back, err, req)
		}
	}
	for p, ok := range seen {
		if !ok {
			t.Errorf("no request on placement %d among 3000", p)
		}
	}
}

func TestVocabulary(t *testing.T) {
	for i, f := range sim.Formats {
		if got := sim.FormatIndex(f.W, f.H); got != i {
			t.Errorf("FormatIndex(%d, %d) = %d, want %d", f.W, f.H, got, i)
		}
	}
	if got := sim.FormatIndex(250, 300); got != -1 {
		t.Errorf("FormatIndex(250, 300) = %d, want -1", got)
	}
	if got := sim.Formats[0].String(); got != "300x250" {
		t.Errorf("Formats[0].String() = %q, want 300x250", got)
	}
	if got := sim.UserKey(42); got != "u42" {
		t.Errorf("UserKey(42) = %q, want u42", got)
	}
	if len(sim.Devices) != len(sim.DeviceNames) || len(sim.FieldNames) != 13 || sim.NumContextFields != 8 {
		t.Errorf("vocabularies disagree: %d devices, %d names; %d fields, %d context", len(sim.Devices), len(sim.DeviceNames), len(sim.FieldNames), sim.NumContextFields)
	}
	for _, g := range sim.Geos {
		if len(g) != 3 || strings.ToUpper(g) != g {
			t.Errorf("geo %q is not an ISO-3166-1 alpha-3 code", g)
		}
	}
	for _, c := range []struct {
		c    sim.Campaign
		want float64
	}{
		{sim.Campaign{CPC: 0.8}, 0.8},
		{sim.Campaign{CPC: 0.8, TargetCPA: 20, CVR: 0.05}, 1}, // a target CPA wins over a CPC
	} {
		if got := c.c.BidCPC(); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v.BidCPC() = %v, want %v", c.c, got, c.want)
		}
	}
}

func TestEligible(t *testing.T) {
	u := &sim.User{ID: 1, Geo: 2, Device: 1, Segments: [2]int{5, 9}, Age: 3}
	tests := []struct {
		name      string
		t         sim.Targeting
		placement int
		hour      int
		want      bool
	}{
		{"anything, always", sim.Targeting{Hours: sim.AllHours}, 4, 23, true},
		{"no hours", sim.Targeting{}, 4, 12, false},
		{"geo in", sim.Targeting{Geos: []int{0, 2}, Hours: sim.AllHours}, 4, 0, true},
		{"geo out", sim.Targeting{Geos: []int{0, 1}, Hours: sim.AllHours}, 4, 0, false},
		{"device out", sim.Targeting{Devices: []int{0, 2}, Hours: sim.AllHours}, 4, 0, false},
		{"placement in", sim.Targeting{Placements: []int{4}, Hours: sim.AllHours}, 4, 0, true},
		{"placement out", sim.Targeting{Placements: []int{3, 5}, Hours: sim.AllHours}, 4, 0, false},
		{"second segment", sim.Targeting{Segments: []int{9}, Hours: sim.AllHours}, 4, 0, true},
		{"no segment", sim.Targeting{Segments: []int{1, 2}, Hours: sim.AllHours}, 4, 0, false},
		{"in hours", sim.Targeting{Hours: 1 << 22}, 4, 22, true},
		{"out of hours", sim.Targeting{Hours: 1 << 22}, 4, 21, false},
	}
	for _, tt := range tests {
		if got := tt.t.Eligible(u, tt.placement, tt.hour); got != tt.want {
			t.Errorf("%s: Eligible(%+v, %d, %d) = %v, want %v", tt.name, *u, tt.placement, tt.hour, got, tt.want)
		}
	}
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy float64
	for i := range x {
		sx, sy = sx+x[i], sy+y[i]
	}
	mx, my := sx/n, sy/n
	var cov, vx, vy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		cov, vx, vy = cov+dx*dy, vx+dx*dx, vy+dy*dy
	}
	return cov / math.Sqrt(vx*vy)
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func argmin(x []float64) int {
	best := 0
	for i, v := range x {
		if v < x[best] {
			best = i
		}
	}
	return best
}
