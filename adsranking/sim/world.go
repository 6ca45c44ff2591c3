// Package sim is the ad-auction case study's world with a known truth: users, placements,
// advertisers, campaigns and ads, a stream of ad requests with diurnal traffic, and the
// click probability of every (request, ad, slot), so the best achievable log loss of a
// click model is known and every quality number can be read against it.
//
// The truth is shaped like a factorization machine over the fields a bidder can observe
// (user profile, context, ad), times a position effect per slot (the examination model:
// a user first sees the slot, then clicks or not). Nothing hidden drives clicks beyond
// those fields and the coin flip, so a model that learns the fields well can approach the
// Bayes-optimal log loss; how close it gets is the quality measure.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The observable vocabularies. Countries are ISO-3166-1 alpha-3 as OpenRTB's geo.country is.
var (
	Geos = []string{"USA", "GBR", "DEU", "FRA", "ESP", "ITA", "CAN", "BRA", "IND", "JPN", "AUS", "MEX"}
	// Devices are OpenRTB device types: 2 personal computer, 4 phone, 5 tablet.
	Devices     = []int{2, 4, 5}
	DeviceNames = []string{"desktop", "phone", "tablet"}
	// Formats are the creative sizes in use.
	Formats = []Format{{300, 250}, {320, 50}, {728, 90}}
)

// Vocabulary sizes that are not named lists.
const (
	NumSegments   = 32 // interest segments a user profile carries (two per user)
	NumCategories = 16 // content categories: of a site or app, and of an ad
	NumAges       = 5  // age buckets
	Hours         = 24
)

// Format is a creative size.
type Format struct{ W, H int }

func (f Format) String() string { return fmt.Sprintf("%dx%d", f.W, f.H) }

// FormatIndex returns the index of f in Formats, or -1.
func FormatIndex(w, h int) int {
	for i, f := range Formats {
		if f.W == w && f.H == h {
			return i
		}
	}
	return -1
}

// User is a profile: where and on what the user browses, two interest segments, an age
// bucket. Geo and device also arrive in the request; the segments and age come from the
// online feature store (a bidder's profile store).
type User struct {
	ID       int64
	Geo      int
	Device   int
	Segments [2]int
	Age      int
}

// Placement is an ad slot group on a site or an app: its content category, the creative
// sizes it takes, how many ads it shows (slots, top first) and the publisher's reserve.
type Placement struct {
	ID         int
	TagID      string
	App        bool
	Category   int
	Formats    []int   // indexes into Formats
	Slots      int     // ads shown per request, 1..3
	ReserveCPM float64 // the publisher's floor per 1,000 impressions
	Share      float64 // relative weight in the request mix (requests follow Share / Σ Share)
}

// Targeting restricts where a campaign runs. A nil slice means any value.
type Targeting struct {
	Geos       []int
	Devices    []int
	Placements []int
	Segments   []int // any of them
	// Hours the campaign runs, as a bit set over 0..23 (all bits: always).
	Hours uint32
}

// AllHours is the schedule of a campaign that always runs.
const AllHours = uint32(1<<Hours - 1)

// Campaign is an advertiser's budgeted line with a bid and targeting.
type Campaign struct {
	ID         int64
	Advertiser int64
	Category   int     // what it advertises
	Budget     float64 // daily budget, USD
	// The bid: a price per click (CPC), or a target cost per acquisition with the
	// conversion rate per click the advertiser expects (bid per click = TargetCPA × CVR).
	CPC       float64
	TargetCPA float64
	CVR       float64
	Targeting Targeting
	Paused    bool
}

// BidCPC is the campaign's bid per click.
func (c Campaign) BidCPC() float64 {
	if c.TargetCPA > 0 {
		return c.TargetCPA * c.CVR
	}
	return c.CPC
}

// Ad is one creative of a campaign.
type Ad struct {
	ID       int64
	Campaign int64
	Format   int     // index into Formats
	Quality  float64 // landing-page and creative quality in [0, 1]: the user-value side
}

// Config sizes the world.
type Config struct {
	Users, Advertisers, Campaigns int
	AdsPerCampaign                float64 // shape of the ads-per-campaign draw (1..5 ads; 2.5 gives a mean of about 2.35)
	Placements                    int
	Factors                       int // rank of the truth's interactions
	BaseCTR                       float64
	// Position is the examination probability of each slot, top first (θ_1 = 1).
	Position []float64
	Seed     uint64
}

// DefaultConfig is a world of 50,000 users, 6,000 campaigns of 600 advertisers, about
// 14,000 ads and 24 placements, with about 1,000 ads eligible for a typical request.
func DefaultConfig() Config {
	return Config{Users: 50_000, Advertisers: 600, Campaigns: 6000, AdsPerCampaign: 2.5, Placements: 24,
		Factors: 4, BaseCTR: 0.025, Position: []float64{1, 0.65, 0.45}, Seed: 1}
}

// SmallConfig is a world for unit tests: the same shape with a tenth of the users and a
// fifteenth of the advertisers and campaigns.
func SmallConfig() Config {
	c := DefaultConfig()
	c.Users, c.Advertisers, c.Campaigns = 5000, 40, 400
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Users < 1 || c.Advertisers < 1 || c.Campaigns < c.Advertisers:
		return fmt.Errorf("%w: users %d, advertisers %d, campaigns %d (want ≥ 1 and campaigns ≥ advertisers)", ErrConfig, c.Users, c.Advertisers, c.Campaigns)
	case !(c.AdsPerCampaign >= 1 && c.AdsPerCampaign <= 5):
		return fmt.Errorf("%w: AdsPerCampaign %v, want 1..5", ErrConfig, c.AdsPerCampaign)
	case c.Placements < 1 || c.Placements > 1000:
		return fmt.Errorf("%w: Placements %d, want 1..1000", ErrConfig, c.Placements)
	case c.Factors < 1 || c.Factors > 32:
		return fmt.Errorf("%w: Factors %d, want 1..32", ErrConfig, c.Factors)
	case !(c.BaseCTR > 0 && c.BaseCTR < 0.5):
		return fmt.Errorf("%w: BaseCTR %v, want (0, 0.5)", ErrConfig, c.BaseCTR)
	case len(c.Position) < 1 || len(c.Position) > 3 || c.Position[0] != 1:
		return fmt.Errorf("%w: Position %v, want 1..3 slots starting at 1", ErrConfig, c.Position)
	}
	for i := 1; i < len(c.Position); i++ {
		if !(c.Position[i] > 0 && c.Position[i] <= c.Position[i-1]) {
			return fmt.Errorf("%w: Position %v, want non-increasing and > 0", ErrConfig, c.Position)
		}
	}
	return nil
}

// World is the generated inventory, population and truth.
type World struct {
	cfg        Config
	Users      []User
	Placements []Placement
	Campaigns  []Campaign
	Ads        []Ad
	truth      *Truth
	userCDF    []float64 // request share per user, cumulative
	placeCDF   []float64
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// New generates a world.
func New(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &World{cfg: cfg}
	w.makeUsers(newRand(cfg.Seed, 1))
	w.makePlacements(newRand(cfg.Seed, 2))
	w.makeCampaigns(newRand(cfg.Seed, 3))
	w.truth = newTruth(w, newRand(cfg.Seed, 4))
	return w, nil
}

// Config returns the world's configuration.
func (w *World) Config() Config { return w.cfg }

// Truth returns the click model that generates every click.
func (w *World) Truth() *Truth { return w.truth }

// Campaign returns the campaign with id (ids are 1..Campaigns).
func (w *World) Campaign(id int64) *Campaign { return &w.Campaigns[id-1] }

// Ad returns the ad with id (ids are 1..len(Ads)).
func (w *World) Ad(id int64) *Ad { return &w.Ads[id-1] }

// User returns the user with id (ids are 1..Users).
func (w *World) User(id int64) *User { return &w.Users[id-1] }

func (w *World) makeUsers(rng *rand.Rand) {
	geoW := zipfWeights(len(Geos), 0.8)
	w.Users = make([]User, w.cfg.Users)
	act := make([]float64, w.cfg.Users)
	segW := zipfWeights(NumSegments, 0.6)
	for i := range w.Users {
		u := User{ID: int64(i + 1), Geo: pick(rng, geoW), Device: pick(rng, []float64{0.35, 0.55, 0.10}), Age: rng.IntN(NumAges)}
		u.Segments[0] = pick(rng, segW)
		for {
			u.Segments[1] = pick(rng, segW)
			if u.Segments[1] != u.Segments[0] {
				break
			}
		}
		w.Users[i] = u
		act[i] = math.Exp(rng.NormFloat64() * 1.0) // heavy users and light ones
	}
	w.userCDF = cumulative(act)
}

func (w *World) makePlacements(rng *rand.Rand) {
	w.Placements = make([]Placement, w.cfg.Placements)
	share := zipfWeights(w.cfg.Placements, 0.9)
	for i := range w.Placements {
		p := Placement{ID: i, TagID: fmt.Sprintf("pl-%02d", i), App: i%3 == 2, Category: rng.IntN(NumCategories),
			Slots: 1 + rng.IntN(len(w.cfg.Position)), ReserveCPM: math.Round((0.2+rng.Float64()*1.3)*100) / 100, Share: share[i]}
		p.Formats = []int{rng.IntN(len(Formats))}
		if rng.Float64() < 0.5 {
			f := rng.IntN(len(Formats))
			if f != p.Formats[0] {
				p.Formats = append(p.Formats, f)
				slices.Sort(p.Formats)
			}
		}
		w.Placements[i] = p
	}
	w.placeCDF = cumulative(share)
}

func (w *World) makeCampaigns(rng *rand.Rand) {
	n := w.cfg.Campaigns
	w.Campaigns = make([]Campaign, n)
	catW := zipfWeights(NumCategories, 0.5)
	advCat := make([]int, w.cfg.Advertisers)
	for a := range advCat {
		advCat[a] = pick(rng, catW)
	}
	for i := range w.Campaigns {
		adv := int64(rng.IntN(w.cfg.Advertisers))
		c := Campaign{ID: int64(i + 1), Advertiser: adv + 1, Category: advCat[adv]}
		if rng.Float64() < 0.2 {
			c.Category = rng.IntN(NumCategories) // a line outside the advertiser's usual business
		}
		c.Budget = math.Round(math.Exp(math.Log(60)+rng.NormFloat64()*0.8)*100) / 100
		cpc := math.Exp(math.Log(0.6) + rng.NormFloat64()*0.5)
		if rng.Float64() < 0.3 {
			c.CVR = 0.02 + rng.Float64()*0.08
			c.TargetCPA = math.Round(cpc/c.CVR*100) / 100
		} else {
			c.CPC = math.Round(cpc*100) / 100
		}
		c.Targeting = w.randomTargeting(rng)
		w.Campaigns[i] = c
		ads := 1 + int(rng.ExpFloat64()*(w.cfg.AdsPerCampaign-1)+0.5)
		ads = min(ads, 5)
		for range ads {
			w.Ads = append(w.Ads, Ad{ID: int64(len(w.Ads) + 1), Campaign: c.ID, Format: rng.IntN(len(Formats)),
				Quality: betaish(rng, 4, 3)})
		}
	}
}

func (w *World) randomTargeting(rng *rand.Rand) Targeting {
	var t Targeting
	if rng.Float64() < 0.6 {
		t.Geos = subset(rng, len(Geos), 1, 4)
	}
	if rng.Float64() < 0.4 {
		t.Devices = subset(rng, len(Devices), 1, 2)
	}
	if rng.Float64() < 0.3 {
		t.Placements = subset(rng, w.cfg.Placements, 3, max(3, min(10, w.cfg.Placements)))
	}
	if rng.Float64() < 0.5 {
		t.Segments = subset(rng, NumSegments, 2, 6)
	}
	t.Hours = AllHours
	if rng.Float64() < 0.3 {
		start, span := rng.IntN(Hours), 8+rng.IntN(9)
		t.Hours = 0
		for h := range span {
			t.Hours |= 1 << ((start + h) % Hours)
		}
	}
	return t
}

// Eligible reports whether the campaign's targeting admits a request from u on placement
// p at hour h. The inventory's index answers the same question for every campaign at once;
// this is the definition it is tested against.
func (t Targeting) Eligible(u *User, placement, hour int) bool {
	in := func(xs []int, v int) bool { return xs == nil || slices.Contains(xs, v) }
	if !in(t.Geos, u.Geo) || !in(t.Devices, u.Device) || !in(t.Placements, placement) {
		return false
	}
	if t.Segments != nil && !slices.Contains(t.Segments, u.Segments[0]) && !slices.Contains(t.Segments, u.Segments[1]) {
		return false
	}
	return t.Hours&(1<<hour) != 0
}

func subset(rng *rand.Rand, n, lo, hi int) []int {
	k := lo + rng.IntN(hi-lo+1)
	k = min(k, n)
	out := rng.Perm(n)[:k]
	slices.Sort(out)
	return out
}

func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

func pick(rng *rand.Rand, w []float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	r := rng.Float64() * sum
	for i, x := range w {
		r -= x
		if r < 0 {
			return i
		}
	}
	return len(w) - 1
}

func draw(rng *rand.Rand, cdf []float64) int {
	i, _ := slices.BinarySearch(cdf, rng.Float64())
	return min(i, len(cdf)-1)
}

// betaish draws from Beta(a, b) via two gamma draws (integer shapes: sums of exponentials).
func betaish(rng *rand.Rand, a, b int) float64 {
	g := func(k int) float64 {
		s := 0.0
		for range k {
			s += rng.ExpFloat64()
		}
		return s
	}
	x, y := g(a), g(b)
	return x / (x + y)
}
