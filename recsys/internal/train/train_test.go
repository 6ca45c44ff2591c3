package train_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/ease"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

var ctx = context.Background()

// data is a small simulated log (80 users × 120 items, 2,400 ratings), shuffled so that
// FitBase's time sort has work to do.
var data = sync.OnceValues(func() ([]ratings.Rating, error) {
	c := sim.DefaultConfig()
	c.Users, c.Items, c.Interactions, c.MaxPerUser = 80, 120, 2400, 100
	s, err := sim.New(c)
	if err != nil {
		return nil, err
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		return nil, err
	}
	rs := sim.Ratings(xs)
	rng := rand.New(rand.NewPCG(1, 1))
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	return rs, nil
})

func load(t *testing.T) []ratings.Rating {
	t.Helper()
	rs, err := data()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func smallConfig() train.Config {
	c := train.DefaultConfig()
	c.Embeddings = "bpr"
	c.BPR.Factors, c.BPR.Epochs = 16, 10
	c.IALS.Factors, c.IALS.Iterations = 16, 3
	c.Candidates = 40
	c.Ranker.Trees = 10
	return c
}

func fitBase(t *testing.T, rs []ratings.Rating, cfg train.Config) *train.Base {
	t.Helper()
	b, err := train.FitBase(ctx, rs, cfg)
	if err != nil {
		t.Fatalf("FitBase = %v", err)
	}
	return b
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*train.Config)
		ok   bool
	}{
		{"default", func(*train.Config) {}, true},
		{"ials", func(c *train.Config) { c.Embeddings = "ials" }, true},
		{"bpr", func(c *train.Config) { c.Embeddings = "bpr" }, true},
		{"unknown embeddings", func(c *train.Config) { c.Embeddings = "als" }, false},
		{"no embeddings", func(c *train.Config) { c.Embeddings = "" }, false},
		{"9 candidates", func(c *train.Config) { c.Candidates = 9 }, false},
		{"10 candidates", func(c *train.Config) { c.Candidates = 10 }, true},
		{"inner ratio 0", func(c *train.Config) { c.InnerRatio = 0 }, false},
		{"inner ratio 1", func(c *train.Config) { c.InnerRatio = 1 }, false},
		{"inner ratio NaN", func(c *train.Config) { c.InnerRatio = math.NaN() }, false},
		{"EASE lambda 0", func(c *train.Config) { c.EASE.Lambda = 0 }, false},
		{"EASE max items 0", func(c *train.Config) { c.EASE.MaxItems = 0 }, false},
		{"ranker without trees", func(c *train.Config) { c.Ranker.Trees = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := train.DefaultConfig()
			tt.edit(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%s) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
	// EASE's own sentinel survives the wrapping.
	c := train.DefaultConfig()
	c.EASE.Lambda = -1
	if err := c.Validate(); !errors.Is(err, ease.ErrInvalidConfig) {
		t.Errorf("Validate(EASE lambda -1) = %v, want it to wrap ease.ErrInvalidConfig", err)
	}
}

func TestFitBaseRefuses(t *testing.T) {
	bad := smallConfig()
	bad.Candidates = 1
	tests := []struct {
		name string
		rs   []ratings.Rating
		cfg  train.Config
	}{
		{"no ratings", nil, smallConfig()},
		{"invalid config", load(t), bad},
	}
	for _, tt := range tests {
		if b, err := train.FitBase(ctx, tt.rs, tt.cfg); err == nil || b != nil {
			t.Errorf("FitBase(%s) = %v, %v; want nil, an error", tt.name, b, err)
		}
	}
}

func TestFitBase(t *testing.T) {
	rs := load(t)
	b := fitBase(t, rs, smallConfig())
	count := ratings.Set(rs).CountByItem()
	when := map[[2]int64]int64{}
	for _, r := range rs {
		when[[2]int64{r.User, r.Item}] = r.Time
	}

	// Popular: every item once, by count descending, ties by id.
	if got, want := slices.Sorted(slices.Values(b.Popular)), ratings.Set(rs).Items(); !slices.Equal(got, want) {
		t.Errorf("Popular holds %d items, want each of the %d once", len(got), len(want))
	}
	for i := 1; i < len(b.Popular); i++ {
		x, y := b.Popular[i-1], b.Popular[i]
		if count[x] < count[y] || (count[x] == count[y] && x > y) {
			t.Errorf("Popular[%d:%d] = %d (%d ratings), %d (%d ratings); want count descending, then id", i-1, i+1, x, count[x], y, count[y])
		}
	}

	// History: each user's items, in time order.
	byUser := ratings.Set(rs).ItemsByUser()
	if len(b.History) != len(byUser) {
		t.Errorf("History has %d users, want %d", len(b.History), len(byUser))
	}
	for u, items := range byUser {
		h := b.History[u]
		if !slices.Equal(slices.Sorted(slices.Values(h)), slices.Sorted(slices.Values(items))) {
			t.Errorf("History[%d] = %v, want the items %v", u, h, items)
			continue
		}
		for i := 1; i < len(h); i++ {
			if when[[2]int64{u, h[i-1]}] > when[[2]int64{u, h[i]}] {
				t.Errorf("History[%d]: %d (t %d) before %d (t %d), want time order", u, h[i-1], when[[2]int64{u, h[i-1]}], h[i], when[[2]int64{u, h[i]}])
				break
			}
		}
	}
	if len(b.Interactions) != len(rs) {
		t.Errorf("%d interactions, want %d", len(b.Interactions), len(rs))
	}
	for i, in := range b.Interactions {
		if in.Time.Unix() != when[[2]int64{in.User, in.Item}] || (i > 0 && in.Time.Before(b.Interactions[i-1].Time)) {
			t.Fatalf("Interactions[%d] = %+v, want the rating's time, in time order", i, in)
		}
	}

	// The factorization knows every user and item.
	if got, want := b.MF.ItemIDs(), ratings.Set(rs).Items(); !slices.Equal(got, want) {
		t.Errorf("MF.ItemIDs() = %d items, want %d", len(got), len(want))
	}
	if got, want := b.MF.UserIDs(), ratings.Set(rs).Users(); !slices.Equal(got, want) {
		t.Errorf("MF.UserIDs() = %d users, want %d", len(got), len(want))
	}

	// The catalogue is small: the item-item model is EASE's weights, every one of them.
	if b.ItemItem.Source != "ease" || b.ItemItem.Len() != len(count) {
		t.Errorf("ItemItem: Source %q, Len %d; want ease, %d", b.ItemItem.Source, b.ItemItem.Len(), len(count))
	}
	users, items := make([]int64, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		users[i], items[i] = r.User, r.Item
	}
	em, err := ease.Train(ctx, users, items, smallConfig().EASE)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []int{0, 7, len(count) / 2, len(count) - 1} {
		row := em.Scores([]int{j}, nil)
		var want []rank.Neighbor
		for i, w := range row {
			if i != j && float32(w) != 0 {
				want = append(want, rank.Neighbor{Item: em.ItemID(i), Weight: float32(w)})
			}
		}
		got := b.ItemItem.Links(em.ItemID(j))
		slices.SortFunc(want, func(a, b rank.Neighbor) int { return int(a.Item - b.Item) })
		got = slices.Clone(got)
		slices.SortFunc(got, func(a, b rank.Neighbor) int { return int(a.Item - b.Item) })
		if len(got) != len(want) {
			t.Errorf("ItemItem.Links(%d) has %d links, want EASE's %d", em.ItemID(j), len(got), len(want))
			continue
		}
		for k := range got {
			if got[k].Item != want[k].Item || !(math.Abs(float64(got[k].Weight-want[k].Weight)) <= 1e-6) {
				t.Errorf("ItemItem.Links(%d)[%d] = %v, want EASE's %v", em.ItemID(j), k, got[k], want[k])
				break
			}
		}
	}

	// The feature table counts every rating (the log spans less than the 365-day window).
	u := rs[0].User
	var stats recfeatures.Stats
	b.Table.Lookup(u, []int64{b.Popular[0]}, &stats)
	if got, want := stats.User[len(stats.User)-1], float64(len(byUser[u])); got != want {
		t.Errorf("Table: user %d's 365-day count = %v, want %v", u, got, want)
	}
	if got, want := stats.Items[0][len(stats.Items[0])-1], float64(count[b.Popular[0]]); got != want {
		t.Errorf("Table: item %d's 365-day count = %v, want %v", b.Popular[0], got, want)
	}
	for _, k := range []string{"bpr", "ease", "features"} {
		if _, ok := b.Took[k]; !ok {
			t.Errorf("Took has no %q: %v", k, b.Took)
		}
	}
}

// EASE.MaxItems is inclusive: a catalogue of exactly that many items still gets EASE.
func TestFitBaseEASEBoundary(t *testing.T) {
	rs := load(t)
	cfg := smallConfig()
	cfg.EASE.MaxItems = len(ratings.Set(rs).Items())
	if b := fitBase(t, rs, cfg); b.ItemItem.Source != "ease" {
		t.Errorf("FitBase(MaxItems = %d items): ItemItem.Source %q, want ease", cfg.EASE.MaxItems, b.ItemItem.Source)
	}
}

// Over EASE.MaxItems items, the item-item model is co-occurrence.
func TestFitBaseCooccurrence(t *testing.T) {
	rs := load(t)
	cfg := smallConfig()
	n := len(ratings.Set(rs).Items())
	cfg.EASE.MaxItems = n - 1
	cfg.CooccurrenceTopN = 20
	b := fitBase(t, rs, cfg)
	if b.ItemItem.Source != "cooccurrence" || b.ItemItem.Len() != n {
		t.Fatalf("ItemItem with MaxItems %d < %d items: Source %q, Len %d; want cooccurrence, %d", cfg.EASE.MaxItems, n, b.ItemItem.Source, b.ItemItem.Len(), n)
	}
	if _, ok := b.Took["cooccurrence"]; !ok {
		t.Errorf("Took has no cooccurrence: %v", b.Took)
	}
	hs := make([][]int64, 0, len(b.History))
	for _, h := range b.History {
		hs = append(hs, h)
	}
	want, err := rank.Cooccurrence(ctx, hs, cfg.CooccurrenceTopN, 10, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range b.Popular[:20] {
		if got, w := b.ItemItem.Links(it), want.Links(it); !slices.Equal(got, w) || len(got) == 0 || len(got) > cfg.CooccurrenceTopN {
			t.Errorf("Links(%d) = %v, want %v (at most %d)", it, got, w, cfg.CooccurrenceTopN)
		}
	}
}

func TestFitBaseIALS(t *testing.T) {
	rs := load(t)
	cfg := smallConfig()
	cfg.Embeddings = "ials"
	b := fitBase(t, rs, cfg)
	if got := b.MF.Config().Trainer; got != "ials" {
		t.Errorf("FitBase(ials): MF trainer %q, want ials", got)
	}
	if _, ok := b.Took["ials"]; !ok {
		t.Errorf("Took has no ials: %v", b.Took)
	}
}

func TestCandidates(t *testing.T) {
	rs := load(t)
	b := fitBase(t, rs, smallConfig())
	ids := b.MF.ItemIDs()
	for _, u := range b.MF.UserIDs()[:10] {
		seen := slices.Sorted(slices.Values(b.History[u]))
		scores := b.MF.ScoreAll(u, nil)
		for _, n := range []int{1, 25, len(ids)} {
			cands := b.Candidates(u, n, seen, nil)
			if want := min(n, len(ids)-len(seen)); len(cands) != want {
				t.Errorf("Candidates(user %d, %d) = %d items, want %d", u, n, len(cands), want)
			}
			in := map[int64]bool{}
			for i, c := range cands {
				if _, ok := slices.BinarySearch(seen, c.Item); ok {
					t.Errorf("Candidates(user %d, %d) proposes %d, which the user has", u, n, c.Item)
				}
				if s := scores[b.MF.ItemIndex(c.Item)]; c.MF != s {
					t.Errorf("Candidates(user %d): item %d MF = %v, want ScoreAll's %v", u, c.Item, c.MF, s)
				}
				if i > 0 && c.MF > cands[i-1].MF {
					t.Errorf("Candidates(user %d, %d) not by score descending at %d: %v > %v", u, n, i, c.MF, cands[i-1].MF)
				}
				if in[c.Item] {
					t.Errorf("Candidates(user %d, %d) repeats %d", u, n, c.Item)
				}
				in[c.Item] = true
			}
			// Nothing left out scores above the last one kept.
			last := cands[len(cands)-1].MF
			for i, id := range ids {
				if _, ok := slices.BinarySearch(seen, id); !ok && !in[id] && scores[i] > last {
					t.Errorf("Candidates(user %d, %d) leaves out %d (score %v > the last kept %v)", u, n, id, scores[i], last)
				}
			}
		}
	}
	// Without a seen list, every item competes.
	u := b.MF.UserIDs()[0]
	if got := b.Candidates(u, len(ids)+5, nil, nil); len(got) != len(ids) {
		t.Errorf("Candidates(user %d, no seen) = %d items, want all %d", u, len(got), len(ids))
	}
}

func TestRankerSet(t *testing.T) {
	rs := load(t)
	cfg := smallConfig()
	fit, held := ratings.StratifiedSplit(rs, cfg.InnerRatio, cfg.InnerSeed, ratings.ByItem)
	b := fitBase(t, fit, cfg)
	const n = 30
	d, groups, pos, err := train.RankerSet(ctx, b, fit, held, n)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Schema.Equal(rank.Schema) || len(groups) != d.Rows() || len(d.X) != d.Rows()*rank.Width || d.Rows() == 0 {
		t.Fatalf("RankerSet: %d rows, %d groups, %d values; want equal counts over rank.Schema", d.Rows(), len(groups), len(d.X))
	}
	heldBy := ratings.Set(held).ItemsByUser()
	seenBy := ratings.Set(fit).ItemsByUser()
	users := make([]int64, 0, len(heldBy))
	for u := range heldBy {
		users = append(users, u)
	}
	slices.Sort(users)

	var s rank.Scratch
	ones, lists := 0, 0
	done := map[int32]bool{}
	for lo := 0; lo < len(groups); {
		g := groups[lo]
		hi := lo
		for hi < len(groups) && groups[hi] == g {
			hi++
		}
		if done[g] || int(g) >= len(users) {
			t.Fatalf("group %d is not one contiguous run (or names no user)", g)
		}
		done[g] = true
		lists++
		u := users[g]
		cands := b.Candidates(u, n, slices.Sorted(slices.Values(seenBy[u])), nil)
		if hi-lo != len(cands) {
			t.Fatalf("group %d (user %d) has %d rows, want its %d candidates", g, u, hi-lo, len(cands))
		}
		want := b.Rows(u, cands, &s, nil)
		if !slices.Equal(d.X[lo*rank.Width:hi*rank.Width], want) {
			t.Errorf("group %d (user %d): rows differ from Base.Rows of its candidates", g, u)
		}
		for k, c := range cands {
			y := 0.0
			if slices.Contains(heldBy[u], c.Item) {
				y = 1
			}
			if d.Y[lo+k] != y {
				t.Errorf("user %d candidate %d: label %v, want %v", u, c.Item, d.Y[lo+k], y)
			}
			if y == 1 {
				ones++
			}
		}
		lo = hi
	}
	if pos != ones || pos == 0 {
		t.Errorf("RankerSet positives = %d, want the %d labels of 1 (> 0)", pos, ones)
	}
	known := 0
	for _, u := range users {
		if _, ok := b.MF.UserVector(u); ok {
			known++
		}
	}
	if lists != known {
		t.Errorf("RankerSet has %d lists, want one per held-out user the factorization knows (%d)", lists, known)
	}

	// Held items the user already has are never candidates: no positive, an error.
	if _, _, _, err := train.RankerSet(ctx, b, fit, fit, n); err == nil {
		t.Error("RankerSet(held = seen) = nil error, want one: no held-out item can be a candidate")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, _, err := train.RankerSet(cancelled, b, fit, held, n); !errors.Is(err, context.Canceled) {
		t.Errorf("RankerSet(cancelled) = %v, want context.Canceled", err)
	}
}

func TestFit(t *testing.T) {
	rs := load(t)
	start := time.Now()
	m, err := train.Fit(ctx, rs, smallConfig())
	if err != nil {
		t.Fatalf("Fit = %v", err)
	}
	if !m.Ranker.Schema().Equal(rank.Schema) {
		t.Errorf("Fit: ranker schema %v, want rank.Schema %v", m.Ranker.Schema().Names(), rank.Schema.Names())
	}
	if m.RankerRows <= 0 || m.RankerPositives <= 0 {
		t.Errorf("Fit: RankerRows %d, RankerPositives %d; want both > 0", m.RankerRows, m.RankerPositives)
	}
	// The base models are refitted on all of train.
	total := 0
	for _, h := range m.History {
		total += len(h)
	}
	if total != len(rs) || len(m.Interactions) != len(rs) {
		t.Errorf("Fit: base history holds %d ratings, interactions %d; want all %d of train", total, len(m.Interactions), len(rs))
	}
	if _, ok := m.Took["ranker"]; !ok {
		t.Errorf("Took has no ranker: %v", m.Took)
	}
	// The ranker scores a batch of Fill's rows.
	u := m.MF.UserIDs()[0]
	cands := m.Candidates(u, 20, slices.Sorted(slices.Values(m.History[u])), nil)
	var s rank.Scratch
	x := m.Rows(u, cands, &s, nil)
	p := make([]float64, len(cands))
	if err := m.Ranker.Predict(ml.Batch{Schema: rank.Schema, X: x}, p); err != nil {
		t.Errorf("Ranker.Predict(Rows) = %v", err)
	}
	if h := m.Holdout; h.Users <= 0 || !(h.MFNDCG >= 0 && h.MFNDCG <= 1) || !(h.RankerNDCG >= 0 && h.RankerNDCG <= 1) {
		t.Errorf("Fit: Holdout %+v, want users > 0 and NDCGs in [0, 1]", h)
	}
	t.Logf("Fit took %v", time.Since(start))

	// The ranker trained on the inner lists of all but every HoldoutEvery-th user, and was
	// checked on the users left out that have a held-out item among their candidates. The
	// inner split reads the ratings in time order (the factorization pipeline's row order).
	cfg := smallConfig()
	inTime := slices.Clone(rs)
	slices.SortStableFunc(inTime, func(x, y ratings.Rating) int { return int(x.Time - y.Time) })
	fit, held := ratings.StratifiedSplit(inTime, cfg.InnerRatio, cfg.InnerSeed, ratings.ByItem)
	d, groups, _, err := train.RankerSet(ctx, fitBase(t, fit, cfg), fit, held, cfg.Candidates)
	if err != nil {
		t.Fatal(err)
	}
	rows, checked := 0, map[int32]bool{}
	for i, g := range groups {
		switch {
		case g%train.HoldoutEvery != train.HoldoutEvery-1:
			rows++
		case d.Y[i] > 0:
			checked[g] = true
		}
	}
	if m.RankerRows != rows || m.Holdout.Users != len(checked) {
		t.Errorf("Fit: RankerRows %d, Holdout.Users %d; want %d rows outside the holdout, %d held-out users with a positive", m.RankerRows, m.Holdout.Users, rows, len(checked))
	}
	bad := smallConfig()
	bad.InnerRatio = 1
	if m, err := train.Fit(ctx, rs, bad); err == nil || m != nil {
		t.Errorf("Fit(inner ratio 1) = %v, %v; want nil, an error", m, err)
	}
}

func TestColdStart(t *testing.T) {
	b := fitBase(t, load(t), smallConfig())
	ids, vecs, biases := b.MF.ItemVectors()
	// Items ≡ 0 mod 3 have genre 0, items ≡ 1 mod 3 genres 0 and 4, the rest none; no item
	// has genre 7.
	genres := map[int64]uint32{}
	for _, id := range ids {
		switch id % 3 {
		case 0:
			genres[id] = 1
		case 1:
			genres[id] = 1 | 1<<4
		}
	}
	centroid := func(keep func(id int64) bool) ([]float64, float64) {
		v := make([]float64, len(vecs[0]))
		var bias, n float64
		for i, id := range ids {
			if keep(id) {
				for f, x := range vecs[i] {
					v[f] += x
				}
				bias += biases[i]
				n++
			}
		}
		for f := range v {
			v[f] /= n
		}
		return v, bias / n
	}
	g0, b0 := centroid(func(id int64) bool { return id%3 != 2 })
	g4, b4 := centroid(func(id int64) bool { return id%3 == 1 })
	all, ball := centroid(func(int64) bool { return true })
	both := make([]float64, len(g0))
	for f := range both {
		both[f] = (g0[f] + g4[f]) / 2
	}
	cs := train.NewColdStart(b.MF, genres)
	tests := []struct {
		name   string
		genres uint32
		want   []float64
		bias   float64
	}{
		{"genre 0", 1, g0, b0},
		{"genre 4", 1 << 4, g4, b4},
		{"genres 0 and 4: the mean of their centroids", 1 | 1<<4, both, (b0 + b4) / 2},
		{"a genre no item has counts for nothing", 1<<4 | 1<<7, g4, b4},
		{"no genre: every item's mean", 0, all, ball},
		{"only unknown genres: every item's mean", 1 << 7, all, ball},
	}
	for _, tt := range tests {
		v, bias := cs.Vector(tt.genres)
		if len(v) != len(tt.want) || !(math.Abs(bias-tt.bias) <= 1e-9) {
			t.Errorf("Vector(%s) = %d components, bias %v; want %d, %v", tt.name, len(v), bias, len(tt.want), tt.bias)
			continue
		}
		for f := range v {
			if !(math.Abs(v[f]-tt.want[f]) <= 1e-9) {
				t.Errorf("Vector(%s)[%d] = %v, want %v", tt.name, f, v[f], tt.want[f])
				break
			}
		}
	}
}
