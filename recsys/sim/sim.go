// Package sim generates synthetic recommender interactions with a known ground truth,
// shaped like MovieLens-100K by default: users with latent tastes pick items without
// replacement with probability proportional to exp(utility), where an item's utility is
// its (Zipf-distributed) popularity plus the inner product of the user's taste with the
// item's latent vector, which is correlated with the item's genres. The truth stays
// available after generation: Affinity and OracleScores give the utility the generator
// used (after an optional taste shift at Config.ShiftAt), and ClickProb adds a position
// bias for impression simulation, so an evaluation can rank by the truth and a load
// generator can draw clicks.
//
// Generation is deterministic under Config.Seed; every user draws from their own random
// stream, so the output does not depend on the number of goroutines.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// NumGenres is the number of item genres, those of ML-100K's u.item.
const NumGenres = 19

// GenreNames are ML-100K's genres, in its order; bit g of Item.Genres is GenreNames[g].
var GenreNames = [NumGenres]string{
	"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
	"Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
	"Thriller", "War", "Western",
}

// genreCounts are ML-100K's number of movies per genre (u.item); items draw genres in
// proportion, so Drama and Comedy are common and Film-Noir rare.
var genreCounts = [NumGenres]float64{2, 251, 135, 42, 122, 505, 109, 50, 725, 22, 24, 92, 56, 61, 247, 101, 251, 71, 27}

// Item is an item's public attributes, what a content-based model may use.
type Item struct {
	ID     int64
	Genres uint32 // bit g set when the item has genre g (1 to 3 genres)
	Year   int    // release year
}

// HasGenre reports whether the item has genre g.
func (it Item) HasGenre(g int) bool { return it.Genres&(1<<g) != 0 }

// Interaction is one rating in the generated log.
type Interaction struct {
	User, Item int64
	Rating     float64 // 1 to 5 stars
	Time       int64   // Unix seconds
}

// Config sets the simulation's size and its generative parameters. User and item ids are
// dense: users 0..Users-1, items 0..Items-1.
type Config struct {
	Seed         uint64
	Users, Items int
	// Interactions is the exact total. Per-user counts follow a log-normal with
	// ActivitySigma truncated to [MinPerUser, MaxPerUser], whose location is solved so the
	// counts sum to Interactions; users take the distribution's quantiles in random order.
	Interactions           int
	MinPerUser, MaxPerUser int
	ActivitySigma          float64
	// Item popularity: the item of popularity rank r (from 1) has base utility
	// -PopularityExponent·ln(r + PopularityOffset) - r/(PopularityCutoff·Items), a
	// Zipf–Mandelbrot law with an exponential cutoff (none if PopularityCutoff is 0): the
	// cutoff gives the catalogue the dead tail of items nearly nobody rates. Ranks are random
	// but lean toward recent items (RecencyCorrelation in [0, 1]), so the release year
	// says something about popularity.
	PopularityExponent float64
	PopularityOffset   float64
	PopularityCutoff   float64
	RecencyCorrelation float64
	// Dim is the width of the taste and item vectors (all unit vectors). An item's vector
	// mixes the mean of its genres' vectors (weight GenreWeight in [0, 1]) with noise, and a
	// user's mixes one to three favourite genres the same way, so genres help cold start.
	Dim         int
	GenreWeight float64
	// TasteScale multiplies ⟨taste, item⟩ in the utility; 0 makes every user pick by
	// popularity alone.
	TasteScale float64
	// Ratings: round(RatingTop + RatingSlope·(Affinity - best) + RatingNoise·N(0,1)),
	// clamped to 1..5, where best is the average user's highest utility at Start: a user's
	// favourite item rates about RatingTop, and popular items rate higher than obscure ones.
	RatingTop, RatingSlope, RatingNoise float64
	// Time: users arrive uniformly over [Start, Start+Period) and rate over a span drawn
	// from an exponential of mean MeanSpan (cut at the period's end).
	Start    time.Time
	Period   time.Duration
	MeanSpan time.Duration
	// Taste shift: from ShiftAt on (never if ShiftAt or ShiftStrength is zero), each user's
	// taste moves toward a new random direction (drawn like a taste, from new favourite
	// genres): normalise((1-ShiftStrength)·old + ShiftStrength·new).
	ShiftAt       time.Time
	ShiftStrength float64
	// Clicks: ClickProb = (1+position)^-PositionExponent · sigmoid(ClickSlope·(utility -
	// b)), with b set so that an average user's best item at position 0 is clicked with
	// probability ClickTop.
	PositionExponent float64
	ClickTop         float64
	ClickSlope       float64
}

// DefaultConfig is sized like MovieLens-100K: 943 users, 1,682 items, 100,000 ratings from
// 1997-09-20 over seven months, at least 20 and at most 737 per user.
func DefaultConfig() Config {
	return Config{
		Seed: 1, Users: 943, Items: 1682, Interactions: 100000,
		MinPerUser: 20, MaxPerUser: 737, ActivitySigma: 1.1,
		PopularityExponent: 1, PopularityOffset: 40, PopularityCutoff: 0.25, RecencyCorrelation: 0.5,
		Dim: 16, GenreWeight: 0.6, TasteScale: 3,
		RatingTop: 4.8, RatingSlope: 0.4, RatingNoise: 0.95,
		Start:  time.Date(1997, 9, 20, 0, 0, 0, 0, time.UTC),
		Period: 214 * 24 * time.Hour, MeanSpan: 20 * 24 * time.Hour,
		ShiftStrength:    0.5,
		PositionExponent: 1, ClickTop: 0.25, ClickSlope: 1,
	}
}

// LargeConfig is for serving and load tests: 50,000 users, 100,000 items, 2 million
// interactions (20 to 1,000 per user). The popularity cutoff scales with the catalogue,
// so about a third of the items are never rated: a dead tail that retrieval still indexes.
// New and Generate take about 4 to 5 CPU-seconds, spread over the available cores.
func LargeConfig() Config {
	c := DefaultConfig()
	c.Users, c.Items, c.Interactions = 50000, 100000, 2000000
	c.MaxPerUser = 1000
	c.PopularityOffset = 200
	return c
}

// Validate names every invalid field.
func (c Config) Validate() error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(c.Users >= 1, "users %d < 1", c.Users)
	check(c.Items >= 1 && c.Items <= math.MaxInt32, "items %d not in [1, 2^31)", c.Items)
	check(c.MinPerUser >= 1, "min per user %d < 1", c.MinPerUser)
	check(c.MaxPerUser >= c.MinPerUser && c.MaxPerUser <= c.Items,
		"max per user %d not in [min per user %d, items %d]", c.MaxPerUser, c.MinPerUser, c.Items)
	check(c.Interactions >= c.Users*c.MinPerUser && c.Interactions <= c.Users*c.MaxPerUser,
		"interactions %d not in [users×min %d, users×max %d]", c.Interactions, c.Users*c.MinPerUser, c.Users*c.MaxPerUser)
	check(c.ActivitySigma > 0, "activity sigma %v <= 0", c.ActivitySigma)
	check(c.PopularityExponent >= 0, "popularity exponent %v < 0", c.PopularityExponent)
	check(c.PopularityOffset >= 0, "popularity offset %v < 0", c.PopularityOffset)
	check(c.PopularityCutoff >= 0, "popularity cutoff %v < 0", c.PopularityCutoff)
	check(c.RecencyCorrelation >= 0 && c.RecencyCorrelation <= 1, "recency correlation %v not in [0, 1]", c.RecencyCorrelation)
	check(c.Dim >= 1, "dim %d < 1", c.Dim)
	check(c.GenreWeight >= 0 && c.GenreWeight <= 1, "genre weight %v not in [0, 1]", c.GenreWeight)
	check(c.TasteScale >= 0, "taste scale %v < 0", c.TasteScale)
	check(c.RatingSlope >= 0, "rating slope %v < 0", c.RatingSlope)
	check(c.RatingNoise >= 0, "rating noise %v < 0", c.RatingNoise)
	check(!c.Start.IsZero(), "start is zero")
	check(c.Period >= time.Second, "period %v < 1s", c.Period)
	check(c.MeanSpan > 0, "mean span %v <= 0", c.MeanSpan)
	check(c.ShiftStrength >= 0 && c.ShiftStrength <= 1, "shift strength %v not in [0, 1]", c.ShiftStrength)
	check(c.PositionExponent >= 0, "position exponent %v < 0", c.PositionExponent)
	check(c.ClickTop > 0 && c.ClickTop < 1, "click top %v not in (0, 1)", c.ClickTop)
	check(c.ClickSlope > 0, "click slope %v <= 0", c.ClickSlope)
	if len(bad) > 0 {
		return fmt.Errorf("%w: %v", ErrConfig, bad)
	}
	return nil
}

// Sim is a generated world: items, user tastes and the rules that turn them into
// interactions and clicks. Its methods are safe for concurrent use.
type Sim struct {
	cfg       Config
	items     []Item
	itemVec   []float64 // Items×Dim, unit rows
	pop       []float64 // base utility per item
	taste     []float64 // Users×Dim, unit rows, before the shift
	shifted   []float64 // Users×Dim after the shift; nil without one
	shiftAt   int64     // Unix seconds; math.MaxInt64 without a shift
	activity  []int     // interactions per user
	popAlias  *alias    // items by exp(pop), for the rejection sampler
	best      float64   // the average user's highest utility at Start
	clickBias float64
}

// Stream identifiers keep the draws of each part independent of the others.
const (
	streamItems = 1 << 32
	streamUsers = 2 << 32
	streamShift = 3 << 32
	streamCount = 4 << 32
	streamLog   = 5 << 32
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
}

// New builds the world of cfg: item attributes, latent vectors, popularity, user tastes
// and activity. Generate draws the interactions.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, shiftAt: math.MaxInt64}
	genreVec := s.makeItems()
	s.makeUsers(genreVec)
	s.activity = activityCounts(cfg, newRand(cfg.Seed, streamCount))
	top := slices.Max(s.pop)
	w := make([]float64, cfg.Items)
	for i, p := range s.pop {
		w[i] = math.Exp(p - top)
	}
	s.popAlias = newAlias(w)
	s.best = s.averageBest()
	s.clickBias = s.best - math.Log(cfg.ClickTop/(1-cfg.ClickTop))/cfg.ClickSlope
	return s, nil
}

// Config returns the configuration the world was built from.
func (s *Sim) Config() Config { return s.cfg }

// Items returns the items' attributes, indexed by id. The slice is shared; do not modify.
func (s *Sim) Items() []Item { return s.items }

// Activity returns how many interactions Generate draws for user.
func (s *Sim) Activity(user int64) int { return s.activity[user] }

func (s *Sim) makeItems() (genreVec []float64) {
	cfg := s.cfg
	rng := newRand(cfg.Seed, streamItems)
	d := cfg.Dim
	genreVec = make([]float64, NumGenres*d)
	for g := range NumGenres {
		randomUnit(rng, genreVec[g*d:(g+1)*d])
	}
	startYear := cfg.Start.Year()
	s.items = make([]Item, cfg.Items)
	s.itemVec = make([]float64, cfg.Items*d)
	recency := make([]float64, cfg.Items)
	mean := make([]float64, d)
	noise := make([]float64, d)
	for i := range s.items {
		it := &s.items[i]
		it.ID = int64(i)
		// Ages are exponential with a mean of 6 years, as ML-100K's mostly-1990s catalogue.
		age := min(int(rng.ExpFloat64()*6), 75)
		it.Year = startYear - age
		recency[i] = -float64(age)
		it.Genres = drawGenres(rng)
		clear(mean)
		for g := range NumGenres {
			if it.HasGenre(g) {
				for k := range d {
					mean[k] += genreVec[g*d+k]
				}
			}
		}
		normalize(mean)
		randomUnit(rng, noise)
		mix(s.itemVec[i*d:(i+1)*d], mean, noise, cfg.GenreWeight)
	}
	// Popularity ranks: sort by a score mixing standardised recency with noise.
	mu, sd := meanStd(recency)
	key := make([]float64, cfg.Items)
	c := cfg.RecencyCorrelation
	for i := range key {
		z := 0.0
		if sd > 0 {
			z = (recency[i] - mu) / sd
		}
		key[i] = c*z + math.Sqrt(1-c*c)*rng.NormFloat64()
	}
	order := make([]int, cfg.Items)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDesc(key[a], key[b]) })
	s.pop = make([]float64, cfg.Items)
	for r, i := range order {
		s.pop[i] = -cfg.PopularityExponent * math.Log(float64(r+1)+cfg.PopularityOffset)
		if cfg.PopularityCutoff > 0 {
			s.pop[i] -= float64(r+1) / (cfg.PopularityCutoff * float64(cfg.Items))
		}
	}
	return genreVec
}

// drawGenres picks 1 to 3 distinct genres (half the items one, 35% two, 15% three) in
// proportion to ML-100K's genre counts.
func drawGenres(rng *rand.Rand) uint32 {
	n := 1
	switch u := rng.Float64(); {
	case u >= 0.85:
		n = 3
	case u >= 0.5:
		n = 2
	}
	var set uint32
	for range n {
		var total float64
		for g, w := range genreCounts {
			if set&(1<<g) == 0 {
				total += w
			}
		}
		x := rng.Float64() * total
		for g, w := range genreCounts {
			if set&(1<<g) != 0 {
				continue
			}
			if x -= w; x < 0 || g == NumGenres-1 {
				set |= 1 << g
				break
			}
		}
	}
	return set
}

func (s *Sim) makeUsers(genreVec []float64) {
	cfg := s.cfg
	d := cfg.Dim
	s.taste = make([]float64, cfg.Users*d)
	tastes := func(rng *rand.Rand, dst []float64) {
		fav := make([]float64, d)
		noise := make([]float64, d)
		for u := range cfg.Users {
			clear(fav)
			set := drawGenres(rng)
			for g := range NumGenres {
				if set&(1<<g) != 0 {
					for k := range d {
						fav[k] += genreVec[g*d+k]
					}
				}
			}
			normalize(fav)
			randomUnit(rng, noise)
			mix(dst[u*d:(u+1)*d], fav, noise, cfg.GenreWeight)
		}
	}
	tastes(newRand(cfg.Seed, streamUsers), s.taste)
	if cfg.ShiftAt.IsZero() || cfg.ShiftStrength == 0 {
		return
	}
	s.shiftAt = cfg.ShiftAt.Unix()
	s.shifted = make([]float64, cfg.Users*d)
	tastes(newRand(cfg.Seed, streamShift), s.shifted)
	for u := range cfg.Users {
		row := s.shifted[u*d : (u+1)*d]
		old := s.taste[u*d : (u+1)*d]
		for k := range row {
			row[k] = (1-cfg.ShiftStrength)*old[k] + cfg.ShiftStrength*row[k]
		}
		if !normalize(row) { // old and new exactly opposite at strength 0.5
			copy(row, old)
		}
	}
}

// tasteAt returns user's taste vector at Unix time t.
func (s *Sim) tasteAt(user int64, t int64) []float64 {
	d := s.cfg.Dim
	if s.shifted != nil && t >= s.shiftAt {
		return s.shifted[int(user)*d : (int(user)+1)*d]
	}
	return s.taste[int(user)*d : (int(user)+1)*d]
}

// Affinity is the generator's utility of item for user at Unix time t: the item's
// popularity plus TasteScale·⟨taste(t), item vector⟩. Users pick items with probability
// proportional to its exponential. Ids must be in range (it panics otherwise), here and in
// OracleScores and ClickProb.
func (s *Sim) Affinity(user, item, t int64) float64 {
	return s.utility(s.tasteAt(user, t), item)
}

func (s *Sim) utility(taste []float64, item int64) float64 {
	d := s.cfg.Dim
	return s.pop[item] + s.cfg.TasteScale*dot(taste, s.itemVec[int(item)*d:(int(item)+1)*d])
}

// OracleScores writes the utility of every item (indexed by id) for user at Unix time t
// into dst, growing it if needed, and returns it.
func (s *Sim) OracleScores(user, t int64, dst []float64) []float64 {
	dst = slices.Grow(dst[:0], s.cfg.Items)[:s.cfg.Items]
	taste := s.tasteAt(user, t)
	for i := range dst {
		dst[i] = s.utility(taste, int64(i))
	}
	return dst
}

// averageBest is the mean over up to 128 users (evenly spaced ids) of their highest
// utility at Start, the reference of clicks and ratings.
func (s *Sim) averageBest() float64 {
	n := min(s.cfg.Users, 128)
	t := s.cfg.Start.Unix()
	var sum float64
	for j := range n {
		u := int64(j * s.cfg.Users / n)
		taste := s.tasteAt(u, t)
		best := math.Inf(-1)
		for i := range s.cfg.Items {
			best = max(best, s.utility(taste, int64(i)))
		}
		sum += best
	}
	return sum / float64(n)
}

// ClickProb is the probability that user clicks item shown at position (0 for the top
// slot) at Unix time t: the examination probability (1+position)^-η times the relevance
// sigmoid(ClickSlope·(Affinity - b)).
func (s *Sim) ClickProb(user, item int64, position int, t int64) float64 {
	exam := math.Pow(1+float64(position), -s.cfg.PositionExponent)
	return exam * sigmoid(s.cfg.ClickSlope*(s.Affinity(user, item, t)-s.clickBias))
}

// Click draws a click with ClickProb from rng, which belongs to the caller.
func (s *Sim) Click(rng *rand.Rand, user, item int64, position int, t int64) bool {
	return rng.Float64() < s.ClickProb(user, item, position, t)
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// normalize scales v to unit length; it reports false (leaving v) for a zero vector.
func normalize(v []float64) bool {
	n := math.Sqrt(dot(v, v))
	if n == 0 {
		return false
	}
	for i := range v {
		v[i] /= n
	}
	return true
}

func randomUnit(rng *rand.Rand, v []float64) {
	for {
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		if normalize(v) {
			return
		}
	}
}

// mix writes normalise(√w·a + √(1-w)·b) into dst; a and b are unit vectors.
func mix(dst, a, b []float64, w float64) {
	wa, wb := math.Sqrt(w), math.Sqrt(1-w)
	for k := range dst {
		dst[k] = wa*a[k] + wb*b[k]
	}
	if !normalize(dst) {
		copy(dst, b)
	}
}

func meanStd(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)))
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
