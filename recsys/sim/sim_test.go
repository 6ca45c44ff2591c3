package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/recsys/internal/rankmetrics"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Users, c.Items, c.Interactions, c.MaxPerUser = 200, 400, 10000, 200
	return c
}

func generate(t *testing.T, cfg Config) (*Sim, []Interaction) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	xs, err := s.Generate(context.Background())
	if err != nil {
		t.Fatalf("Generate = %v", err)
	}
	return s, xs
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig()
	_, a := generate(t, cfg)
	_, b := generate(t, cfg)
	if !slices.Equal(a, b) {
		t.Fatalf("two runs with seed %d differ", cfg.Seed)
	}
	cfg.Seed++
	_, c := generate(t, cfg)
	if slices.Equal(a, c) {
		t.Errorf("seeds %d and %d made the same log", cfg.Seed-1, cfg.Seed)
	}
}

// Every log holds each user's Activity of distinct items, in time order, inside the
// period, with whole-star ratings; also for a catalogue so concentrated that the rejection
// sampler falls back to Gumbel-top-k.
func TestLogInvariants(t *testing.T) {
	concentrated := smallConfig()
	concentrated.PopularityCutoff = 0.002
	for name, cfg := range map[string]Config{"small": smallConfig(), "concentrated": concentrated} {
		t.Run(name, func(t *testing.T) {
			s, xs := generate(t, cfg)
			if len(xs) != cfg.Interactions {
				t.Fatalf("%d interactions, want %d", len(xs), cfg.Interactions)
			}
			start, end := cfg.Start.Unix(), cfg.Start.Add(cfg.Period).Unix()
			perUser := map[int64]int{}
			seen := map[[2]int64]bool{}
			for i, x := range xs {
				if i > 0 && x.Time < xs[i-1].Time {
					t.Fatalf("interaction %d at %d precedes the one before (%d)", i, x.Time, xs[i-1].Time)
				}
				if x.Time < start || x.Time >= end || x.Rating < 1 || x.Rating > 5 || x.Rating != math.Round(x.Rating) {
					t.Fatalf("interaction %+v out of range", x)
				}
				if seen[[2]int64{x.User, x.Item}] {
					t.Fatalf("user %d rated item %d twice", x.User, x.Item)
				}
				seen[[2]int64{x.User, x.Item}] = true
				perUser[x.User]++
			}
			for u := range int64(cfg.Users) {
				if perUser[u] != s.Activity(u) || perUser[u] < cfg.MinPerUser || perUser[u] > cfg.MaxPerUser {
					t.Fatalf("user %d has %d interactions, Activity %d, bounds [%d, %d]",
						u, perUser[u], s.Activity(u), cfg.MinPerUser, cfg.MaxPerUser)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no users", func(c *Config) { c.Users = 0 }},
		{"max per user above items", func(c *Config) { c.MaxPerUser = c.Items + 1 }},
		{"too few interactions", func(c *Config) { c.Interactions = c.Users*c.MinPerUser - 1 }},
		{"too many interactions", func(c *Config) { c.Interactions = c.Users*c.MaxPerUser + 1 }},
		{"dim", func(c *Config) { c.Dim = 0 }},
		{"genre weight", func(c *Config) { c.GenreWeight = 1.5 }},
		{"shift strength", func(c *Config) { c.ShiftStrength = -0.1 }},
		{"click top", func(c *Config) { c.ClickTop = 1 }},
		{"no start", func(c *Config) { c.Start = time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smallConfig()
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Errorf("Validate() = %v, want %v", err, ErrConfig)
			}
		})
	}
	for _, c := range []Config{DefaultConfig(), LargeConfig(), smallConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
	}
}

// TestSimShapeMatchesMovieLens puts the default world's shape next to ML-100K's and checks
// it stays in a plausible range of it.
func TestSimShapeMatchesMovieLens(t *testing.T) {
	cfg := DefaultConfig()
	_, xs := generate(t, cfg)
	sh := Summarize(xs)
	t.Logf("sim:     %v", sh)
	t.Logf("ML-100K: %v", ML100K)
	unseen := cfg.Items - sh.Items
	atMostOne := float64(sh.ItemsWithOne+unseen) / float64(cfg.Items)
	t.Logf("items with at most one interaction: sim %d rated once + %d never = %.1f%%; ML-100K %d = %.1f%%",
		sh.ItemsWithOne, unseen, 100*atMostOne, ML100K.ItemsWithOne, 100*float64(ML100K.ItemsWithOne)/1682)
	for _, c := range []struct {
		what   string
		got    float64
		lo, hi float64
	}{
		{"users", float64(sh.Users), 943, 943},
		{"interactions", float64(sh.Interactions), 97000, 103000},
		{"items seen", float64(sh.Items), 1500, 1682},
		{"min per user", float64(sh.UserMin), 20, 20},
		{"median per user", float64(sh.UserMedian), 50, 85},
		{"max per user", float64(sh.UserMax), 500, 737},
		{"max per item", float64(sh.ItemMax), 400, 800},
		{"share of items with at most one", atMostOne, 0.02, 0.2},
		{"item Gini", sh.ItemGini, 0.55, 0.75},
		{"mean rating", sh.MeanRating, 3.3, 3.8},
		{"days", float64(sh.Last-sh.First) / 86400, 200, 215},
	} {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s = %v, want in [%v, %v]", c.what, c.got, c.lo, c.hi)
		}
	}
}

func TestItems(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := s.cfg.Dim
	var same, other, nsame, nother float64
	for i, it := range s.Items() {
		if n := bitsSet(it.Genres); n < 1 || n > 3 || it.Genres>>NumGenres != 0 {
			t.Fatalf("item %d has genres %b, want 1 to 3 of %d", i, it.Genres, NumGenres)
		}
		if it.Year > 1997 || it.Year < 1922 {
			t.Fatalf("item %d released in %d", i, it.Year)
		}
		// Items sharing a genre have closer latent vectors: what makes genres help cold start.
		if i == 0 {
			continue
		}
		c := dot(s.itemVec[i*d:(i+1)*d], s.itemVec[(i-1)*d:i*d])
		if it.Genres&s.items[i-1].Genres != 0 {
			same, nsame = same+c, nsame+1
		} else {
			other, nother = other+c, nother+1
		}
	}
	if same/nsame < other/nother+0.2 {
		t.Errorf("mean cosine of items sharing a genre %.3f, not sharing %.3f: want a clear gap", same/nsame, other/nother)
	}
}

func bitsSet(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// The oracle (true utility) ranks held-out interactions far better than chance, and better
// than popularity, on the same loader and split as MovieLens.
func TestOracleBeatsRandom(t *testing.T) {
	s, xs := generate(t, DefaultConfig())
	var buf bytes.Buffer
	if err := WriteUData(&buf, xs); err != nil {
		t.Fatal(err)
	}
	rs, err := ratings.Load(&buf, "sim u.data")
	if err != nil {
		t.Fatal(err)
	}
	train, test := ratings.StratifiedSplit(rs, 0.75, 42, ratings.ByItem)
	seen := ratings.Set(train).ItemsByUser()
	pop := make([]float64, s.cfg.Items)
	for _, r := range train {
		pop[r.Item]++
	}
	const k = 10
	oracle, popular, random := rankmetrics.NewAccumulator(k), rankmetrics.NewAccumulator(k), rankmetrics.NewAccumulator(k)
	rng := rand.New(rand.NewPCG(1, 1))
	noise := make([]float64, s.cfg.Items)
	var scores []float64
	end := xs[len(xs)-1].Time
	for u, items := range ratings.Set(test).ItemsByUser() {
		excl := map[int64]bool{}
		for _, it := range seen[u] {
			excl[int64(it)] = true
		}
		exclude := func(i int) bool { return excl[int64(i)] }
		ids := func(idx []int) []int64 {
			out := make([]int64, len(idx))
			for j, i := range idx {
				out[j] = int64(i)
			}
			return out
		}
		scores = s.OracleScores(u, end, scores)
		oracle.Add(ids(rankmetrics.TopK(scores, exclude, k)), items)
		popular.Add(ids(rankmetrics.TopK(pop, exclude, k)), items)
		for i := range noise {
			noise[i] = rng.Float64()
		}
		random.Add(ids(rankmetrics.TopK(noise, exclude, k)), items)
	}
	o, p, r := oracle.Metrics(), popular.Metrics(), random.Metrics()
	t.Logf("oracle     %v", o)
	t.Logf("popularity %v", p)
	t.Logf("random     %v", r)
	if o.NDCG < 5*r.NDCG || o.NDCG <= p.NDCG {
		t.Errorf("oracle NDCG@%d %.4f, popularity %.4f, random %.4f: want the oracle above popularity and 5× random",
			k, o.NDCG, p.NDCG, r.NDCG)
	}
}

// After the shift, the top items move away from the old ones, more so as the strength
// grows, and the interactions after the shift follow the new taste.
func TestTasteShift(t *testing.T) {
	base := smallConfig()
	base.ShiftAt = base.Start.Add(base.Period / 2)
	base.MeanSpan = base.Period // users active on both sides of the shift
	before, after := base.Start.Unix(), base.ShiftAt.Unix()
	const top = 20
	prev := 2.0
	for _, strength := range []float64{0, 0.25, 0.5, 0.75, 1} {
		cfg := base
		cfg.ShiftStrength = strength
		s, xs := generate(t, cfg)
		var overlap float64
		var pre, post []float64
		for u := range int64(cfg.Users) {
			pre = s.OracleScores(u, before, pre)
			post = s.OracleScores(u, after, post)
			a, b := rankmetrics.TopK(pre, nil, top), rankmetrics.TopK(post, nil, top)
			for _, i := range a {
				if slices.Contains(b, i) {
					overlap++
				}
			}
		}
		overlap /= float64(cfg.Users * top)
		// Post-shift interactions: mean utility under the new taste minus under the old one.
		var gain float64
		var n int
		for _, x := range xs {
			if x.Time >= after {
				gain += s.Affinity(x.User, x.Item, x.Time) - s.Affinity(x.User, x.Item, before)
				n++
			}
		}
		gain /= float64(n)
		t.Logf("strength %.2f: top-%d overlap before/after %.3f; post-shift picks gain %.3f utility under the new taste (%d picks)",
			strength, top, overlap, gain, n)
		switch {
		case strength == 0 && (overlap != 1 || gain != 0):
			t.Errorf("strength 0: overlap %v, gain %v, want 1 and 0", overlap, gain)
		case strength > 0 && (overlap >= prev || gain <= 0):
			t.Errorf("strength %v: overlap %.3f (previous %.3f), gain %.3f: want less overlap and a positive gain", strength, overlap, prev, gain)
		}
		prev = overlap
	}
}

func TestClickProb(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := s.cfg.Start.Unix()
	var scores []float64
	var topSum float64
	for u := range int64(100) {
		scores = s.OracleScores(u, now, scores)
		best := int64(rankmetrics.TopK(scores, nil, 1)[0])
		topSum += s.ClickProb(u, best, 0, now)
		prev := 1.0
		for pos := range 20 {
			p := s.ClickProb(u, best, pos, now)
			if p <= 0 || p >= prev {
				t.Fatalf("ClickProb(user %d, best item, position %d) = %v, want in (0, %v)", u, pos, p, prev)
			}
			prev = p
		}
	}
	if m := topSum / 100; m < 0.1 || m > 0.4 {
		t.Errorf("mean click probability of a user's best item at the top = %.3f, want 0.1 to 0.4", m)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 20000
	p := s.ClickProb(5, 7, 2, now)
	clicks := 0
	for range n {
		if s.Click(rng, 5, 7, 2, now) {
			clicks++
		}
	}
	if got, sd := float64(clicks)/n, math.Sqrt(p*(1-p)/n); math.Abs(got-p) > 5*sd {
		t.Errorf("Click rate %.4f, want ClickProb %.4f", got, p)
	}
}

func TestUserSampler(t *testing.T) {
	const users, n = 1000, 200000
	for _, tc := range []struct {
		s            float64
		topLo, topHi float64 // share of draws of the most drawn user
	}{
		{0, 0, 0.003},     // uniform: 1/1000
		{1, 0.125, 0.145}, // 1/H(1000) = 0.134
		{1.5, 0.36, 0.40}, // 1/ζ_1000(1.5) ≈ 0.38
	} {
		a, b := NewUserSampler(users, tc.s, 9), NewUserSampler(users, tc.s, 9)
		counts := make([]int, users)
		for range n {
			u := a.Next()
			if u < 0 || u >= users || u != b.Next() {
				t.Fatalf("s=%v: Next() = %d, out of range or not deterministic", tc.s, u)
			}
			counts[u]++
		}
		if top := float64(slices.Max(counts)) / n; top < tc.topLo || top > tc.topHi {
			t.Errorf("s=%v: top user share %.4f, want in [%v, %v]", tc.s, top, tc.topLo, tc.topHi)
		}
	}
}

func TestWriteUDataRoundTrip(t *testing.T) {
	_, xs := generate(t, smallConfig())
	var buf bytes.Buffer
	if err := WriteUData(&buf, xs); err != nil {
		t.Fatal(err)
	}
	rs, err := ratings.Load(&buf, "sim")
	if err != nil {
		t.Fatalf("ratings.Load(WriteUData) = %v", err)
	}
	if len(rs) != len(xs) {
		t.Fatalf("read %d ratings, wrote %d", len(rs), len(xs))
	}
	for i, r := range rs {
		x := xs[i]
		if r.User != x.User || r.Item != x.Item || r.Value != x.Rating || r.Time != x.Time || r.Line != i+1 {
			t.Fatalf("line %d: read %+v, wrote %+v", i+1, r, x)
		}
	}
}

func TestGenerateCanceled(t *testing.T) {
	s, err := New(smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Generate(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate(canceled) = %v, want %v", err, context.Canceled)
	}
}

// BenchmarkGenerateLarge times the Large preset (New and Generate), which serving tests
// build: it should stay well under 10 s on two cores.
func BenchmarkGenerateLarge(b *testing.B) {
	cfg := LargeConfig()
	for b.Loop() {
		s, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		xs, err := s.Generate(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(xs) != cfg.Interactions {
			b.Fatalf("Large made %d interactions, want %d", len(xs), cfg.Interactions)
		}
	}
}
