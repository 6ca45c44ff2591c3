package recommend_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
)

var ctx = context.Background()

const (
	nUsers, nItems, perUser = 200, 400, 15
	factors                 = 16
	unknownUser             = 1_000_000
)

// fixture is a tiny stack's parts: a BPR factorization of clustered interactions (user u
// prefers items ≡ u mod 10), its index, a co-occurrence item-item model.
type fixture struct {
	mf      *ml.MF
	ix      *retrieval.Index
	ii      *rank.ItemItem
	seen    map[int64][]int64 // each user's training items, in order
	popular []int64           // every item, most interacted first
}

var setup = sync.OnceValues(func() (*fixture, error) {
	rng := rand.New(rand.NewPCG(11, 12))
	f := &fixture{seen: map[int64][]int64{}}
	var users, items []int64
	count := map[int64]int{}
	add := func(u, it int64) {
		if slices.Contains(f.seen[u], it) {
			return
		}
		f.seen[u] = append(f.seen[u], it)
		users, items = append(users, u), append(items, it)
		count[it]++
	}
	for u := range int64(nUsers) {
		for range perUser {
			if rng.Float64() < 0.7 {
				add(u, int64(10*rng.IntN(nItems/10))+u%10)
			} else {
				r := rng.Float64()
				add(u, int64(float64(nItems)*r*r))
			}
		}
	}
	for it := range int64(nItems) {
		add(rng.Int64N(nUsers), it)
	}
	for it := range int64(nItems) {
		f.popular = append(f.popular, it)
	}
	slices.SortStableFunc(f.popular, func(a, b int64) int { return cmp.Compare(count[b], count[a]) })
	d, err := ml.InteractionDataset(users, items)
	if err != nil {
		return nil, err
	}
	cfg := ml.DefaultBPRConfig()
	cfg.Factors, cfg.Epochs, cfg.LearningRate = factors, 15, 0.05
	if f.mf, err = ml.TrainBPR(ctx, d, cfg); err != nil {
		return nil, err
	}
	if f.ix, err = buildIndex(f.mf); err != nil {
		return nil, err
	}
	hs := make([][]int64, 0, len(f.seen))
	for u := range int64(nUsers) {
		hs = append(hs, f.seen[u])
	}
	f.ii, err = rank.Cooccurrence(ctx, hs, 50, 1, 200)
	return f, err
})

func buildIndex(m *ml.MF) (*retrieval.Index, error) {
	bc := retrieval.DefaultBuildConfig()
	bc.GateQueries = 50
	ix, _, err := retrieval.Build(ctx, m, "mf/v1", bc)
	return ix, err
}

func fix(t *testing.T) *fixture {
	t.Helper()
	f, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) history() *recommend.History {
	h := recommend.NewHistory()
	for u, items := range f.seen {
		for _, it := range items {
			h.Add(u, it)
		}
	}
	return h
}

func (f *fixture) stack(ranker ml.Model, version string) *recommend.Stack {
	return &recommend.Stack{MF: f.mf, Index: f.ix, IndexVersion: "index/" + version, Ranker: ranker, RankerVersion: "ranker/" + version, ItemItem: f.ii}
}

// mfScore is the factorization's own score of item for user.
func (f *fixture) mfScore(user, item int64) float64 {
	return f.mf.ScoreAll(user, nil)[f.mf.ItemIndex(item)]
}

// ranker scores a row by sign × one feature column, and keeps the last batch it saw.
type ranker struct {
	column string
	sign   float64
	last   []float64
}

func (r *ranker) Family() ml.Family { return "test-ranker" }
func (r *ranker) Schema() ml.Schema { return rank.Schema }
func (r *ranker) Explain(ml.Batch, int) (ml.Explanation, error) {
	return ml.Explanation{}, errors.New("not implemented")
}
func (r *ranker) MarshalBinary() ([]byte, error) { return nil, errors.New("not implemented") }
func (r *ranker) Predict(b ml.Batch, out []float64) error {
	if !b.Schema.Equal(rank.Schema) {
		return fmt.Errorf("ranker: schema %v", b.Schema.Names())
	}
	j := rank.Schema.Index(r.column)
	for i := range b.Rows() {
		out[i] = r.sign * b.X[i*rank.Width+j]
	}
	r.last = slices.Clone(b.X)
	return nil
}

// Serving calls the ranker from many goroutines; these tests call it from one, except
// TestRecommendConcurrent, which uses a ranker without state.
type statelessRanker struct{ ranker }

func (r *statelessRanker) Predict(b ml.Batch, out []float64) error {
	j := rank.Schema.Index(r.column)
	for i := range b.Rows() {
		out[i] = r.sign * b.X[i*rank.Width+j]
	}
	return nil
}

// features serves fixed store values, or fails (always, or while *down is set).
type features struct {
	fail bool
	down *atomic.Bool
}

var (
	userStats = []float64{1, 2, 3}
	itemStats = []float64{4, 5, 6, 7}
)

func (f features) Stats(_ context.Context, _ int64, items []int64, s *recfeatures.Stats) error {
	if f.fail || (f.down != nil && f.down.Load()) {
		return errors.New("store down")
	}
	s.User = append(s.User[:0], userStats...)
	s.Items = s.Items[:0]
	for range items {
		s.Items = append(s.Items, slices.Clone(itemStats))
	}
	return nil
}

func serveConfig() recommend.Config { return recommend.Config{Candidates: 100, EfSearch: 200} }

func newService(t *testing.T, st *recommend.Stack, h *recommend.History, feats recommend.Features, cat *recommend.Catalog) *recommend.Service {
	t.Helper()
	s, err := recommend.NewService(serveConfig(), st, h, feats, cat)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(items []recommend.Item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// checkList reports a list that is not k distinct items, or holds one of seen.
func checkList(t *testing.T, what string, items []recommend.Item, k int, seen []int64) {
	t.Helper()
	got := ids(items)
	if len(got) != k {
		t.Errorf("%s: %d items, want %d", what, len(got), k)
	}
	if d := slices.Compact(slices.Sorted(slices.Values(got))); len(d) != len(got) {
		t.Errorf("%s: %v repeats an item", what, got)
	}
	for _, it := range got {
		if slices.Contains(seen, it) {
			t.Errorf("%s: recommends %d, which the user already has", what, it)
		}
	}
}

func checkTimings(t *testing.T, what string, tm recommend.Timings) {
	t.Helper()
	if tm.Retrieve < 0 || tm.Features < 0 || tm.Rank < 0 || tm.Rerank < 0 {
		t.Errorf("%s: Timings %+v, want every stage ≥ 0", what, tm)
	}
}

// The personal path: K distinct unseen items, ordered by the ranker, whose score they
// carry. The ranker here prefers retrieval's *last* candidates (score = retrieval_rank),
// so the result cannot be mistaken for retrieval's own order.
func TestRecommendPersonal(t *testing.T) {
	f := fix(t)
	r := &ranker{column: "retrieval_rank", sign: 1}
	h := f.history()
	svc := newService(t, f.stack(r, "v1"), h, features{}, &recommend.Catalog{Popular: f.popular})
	for _, k := range []int{1, 10, recommend.MaxK} {
		for u := int64(0); u < nUsers; u += 20 {
			what := fmt.Sprintf("Recommend(user %d, k %d)", u, k)
			resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: k})
			if err != nil {
				t.Fatalf("%s = %v", what, err)
			}
			checkList(t, what, resp.Items, k, f.seen[u])
			checkTimings(t, what, resp.Timings)
			if resp.Path != recommend.PathPersonal || resp.IndexVersion != "index/v1" || resp.ModelVersion != "ranker/v1" || resp.User != u || resp.Candidates != serveConfig().Candidates {
				t.Errorf("%s: path %q, versions %q %q, user %d, candidates %d; want personal, index/v1, ranker/v1, %d, %d",
					what, resp.Path, resp.IndexVersion, resp.ModelVersion, resp.User, resp.Candidates, u, serveConfig().Candidates)
			}
			cands, _ := svc.Candidates(ctx, u)
			n := len(cands)
			var want []recommend.Item
			for c := n - 1; c >= n-k; c-- {
				want = append(want, recommend.Item{ID: cands[c], Score: float64(c) / float64(n)})
			}
			if !slices.Equal(resp.Items, want) {
				t.Errorf("%s = %v, want the ranker's order of the candidates %v", what, resp.Items, want)
			}
		}
	}
	// A click joins the history, and the clicked item is not recommended again.
	resp, err := svc.Recommend(ctx, recommend.Request{User: 3, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	clicked := resp.Items[0].ID
	h.Add(3, clicked)
	resp, err = svc.Recommend(ctx, recommend.Request{User: 3, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "Recommend(user 3) after a click", resp.Items, 10, append(slices.Clone(f.seen[3]), clicked))
}

// The ranker sees the store's values, log1p'd, and the user's history length.
func TestRecommendFeatures(t *testing.T) {
	f := fix(t)
	for _, tt := range []struct {
		name  string
		feats features
		path  string
		store bool
	}{
		{"store up", features{}, recommend.PathPersonal, true},
		{"store down", features{fail: true}, recommend.PathPersonal + "-no-features", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &ranker{column: "retrieval_rank", sign: -1}
			svc := newService(t, f.stack(r, "v1"), f.history(), tt.feats, &recommend.Catalog{Popular: f.popular})
			const u = 5
			resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: 10})
			if err != nil {
				t.Fatalf("Recommend(%s) = %v, want a degraded answer, not an error", tt.name, err)
			}
			if resp.Path != tt.path {
				t.Errorf("Recommend(%s): Path = %q, want %q", tt.name, resp.Path, tt.path)
			}
			checkList(t, "Recommend("+tt.name+")", resp.Items, 10, f.seen[u])
			rows := len(r.last) / rank.Width
			if rows != resp.Candidates || rows == 0 {
				t.Fatalf("ranker saw %d rows, want the %d candidates", rows, resp.Candidates)
			}
			for i := range rows {
				row := r.last[i*rank.Width : (i+1)*rank.Width]
				for w, d := range recfeatures.UserWindows {
					want := 0.0
					if tt.store {
						want = math.Log1p(userStats[w])
					}
					if got := row[rank.Schema.Index(fmt.Sprintf("log_user_count_%dd", d))]; got != want {
						t.Fatalf("row %d log_user_count_%dd = %v, want %v", i, d, got, want)
					}
				}
				for w, d := range recfeatures.ItemWindows {
					want := 0.0
					if tt.store {
						want = math.Log1p(itemStats[w])
					}
					if got := row[rank.Schema.Index(fmt.Sprintf("log_item_count_%dd", d))]; got != want {
						t.Fatalf("row %d log_item_count_%dd = %v, want %v", i, d, got, want)
					}
				}
				if got, want := row[rank.Schema.Index("log_history")], math.Log1p(float64(len(f.seen[u]))); got != want {
					t.Fatalf("row %d log_history = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// A store that goes down after a good request: the degraded request ranks on zeros, not on
// the values the previous request left in the service's buffers.
func TestRecommendFeaturesGoDown(t *testing.T) {
	f := fix(t)
	r := &ranker{column: "retrieval_rank", sign: -1}
	var down atomic.Bool
	svc := newService(t, f.stack(r, "v1"), f.history(), features{down: &down}, &recommend.Catalog{Popular: f.popular})
	for i, isDown := range []bool{false, true, false, true} {
		down.Store(isDown)
		resp, err := svc.Recommend(ctx, recommend.Request{User: 6, K: 10})
		if err != nil {
			t.Fatal(err)
		}
		wantPath, want := recommend.PathPersonal, math.Log1p(userStats[0])
		if isDown {
			wantPath, want = recommend.PathPersonal+"-no-features", 0
		}
		j := rank.Schema.Index(fmt.Sprintf("log_user_count_%dd", recfeatures.UserWindows[0]))
		if resp.Path != wantPath || r.last[j] != want {
			t.Errorf("request %d (store down %v): Path %q, log_user_count_%dd %v; want %q, %v", i, isDown, resp.Path, recfeatures.UserWindows[0], r.last[j], wantPath, want)
		}
	}
}

// Without a ranker the candidates keep the factorization's order and scores.
func TestRecommendUnranked(t *testing.T) {
	f := fix(t)
	svc := newService(t, f.stack(nil, "v1"), f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	for u := int64(0); u < nUsers; u += 25 {
		resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: 10})
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("Recommend(user %d, no ranker)", u)
		checkList(t, what, resp.Items, 10, f.seen[u])
		if resp.Path != recommend.PathPersonal+"-unranked" {
			t.Errorf("%s: Path = %q, want personal-unranked", what, resp.Path)
		}
		for i, it := range resp.Items {
			if mf := f.mfScore(u, it.ID); !(math.Abs(it.Score-mf) <= 1e-3*math.Max(1, math.Abs(mf))) {
				t.Errorf("%s: item %d score %v, want its factorization score %v", what, it.ID, it.Score, mf)
			}
			if i > 0 && it.Score > resp.Items[i-1].Score {
				t.Errorf("%s = %v, want best first", what, resp.Items)
			}
		}
	}
}

func TestRecommendColdStart(t *testing.T) {
	f := fix(t)
	genres := map[int64][]string{}
	for _, it := range f.popular {
		switch it % 3 {
		case 0:
			genres[it] = []string{"Drama"}
		case 1:
			genres[it] = []string{"Comedy", "Drama"}
		}
	}
	cat := &recommend.Catalog{Popular: f.popular, Genres: genres}
	h := f.history()
	// The unknown user has already clicked the two most popular items.
	h.Add(unknownUser, f.popular[0])
	h.Add(unknownUser, f.popular[1])
	seen := f.popular[:2]
	expect := func(k int, match func(int64) bool) []int64 {
		var out []int64
		for pass := range 2 {
			for _, it := range f.popular {
				if len(out) < k && match(it) == (pass == 0) && !slices.Contains(seen, it) {
					out = append(out, it)
				}
			}
		}
		return out
	}
	all := func(int64) bool { return true }
	tests := []struct {
		name    string
		stack   *recommend.Stack
		context map[string]string
		k       int
		path    string
		want    []int64
	}{
		{"popular", f.stack(nil, "v1"), nil, 10, recommend.PathColdStart, expect(10, all)},
		{"genre first", f.stack(nil, "v1"), map[string]string{"genre": "Comedy"}, 20, recommend.PathColdStart,
			expect(20, func(it int64) bool { return slices.Contains(genres[it], "Comedy") })},
		{"common genre", f.stack(nil, "v1"), map[string]string{"genre": "Drama"}, 30, recommend.PathColdStart,
			expect(30, func(it int64) bool { return it%3 != 2 })},
		{"genre nobody has", f.stack(nil, "v1"), map[string]string{"genre": "Western"}, 10, recommend.PathColdStart, expect(10, all)},
		{"other context keys", f.stack(nil, "v1"), map[string]string{"mood": "Comedy"}, 10, recommend.PathColdStart, expect(10, all)},
		{"no stack", nil, nil, recommend.MaxK, recommend.PathPopular, expect(recommend.MaxK, all)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, tt.stack, h, features{}, cat)
			resp, err := svc.Recommend(ctx, recommend.Request{User: unknownUser, K: tt.k, Context: tt.context})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(resp.Items); resp.Path != tt.path || !slices.Equal(got, tt.want) {
				t.Errorf("Recommend(unknown user, %v, k %d) = %q %v, want %q %v", tt.context, tt.k, resp.Path, got, tt.path, tt.want)
			}
			checkList(t, "cold start", resp.Items, tt.k, seen)
			checkTimings(t, "cold start", resp.Timings)
			if !slices.IsSortedFunc(resp.Items, func(a, b recommend.Item) int { return cmp.Compare(b.Score, a.Score) }) {
				t.Errorf("cold start scores %v, want best first", resp.Items)
			}
		})
	}
	// A known user with a nil stack gets popular items, minus their own.
	svc := newService(t, nil, h, features{}, cat)
	resp, err := svc.Recommend(ctx, recommend.Request{User: 4, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Path != recommend.PathPopular || resp.IndexVersion != "" {
		t.Errorf("Recommend(nil stack): Path %q, IndexVersion %q; want fallback-popular, none", resp.Path, resp.IndexVersion)
	}
	checkList(t, "Recommend(nil stack, user 4)", resp.Items, 10, f.seen[4])
}

func TestRequestValidate(t *testing.T) {
	f := fix(t)
	svc := newService(t, f.stack(&ranker{column: "retrieval_rank", sign: -1}, "v1"), f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	tests := []struct {
		req recommend.Request
		ok  bool
	}{
		{recommend.Request{User: 1, K: 1}, true},
		{recommend.Request{User: 1, K: recommend.MaxK, Diversity: 1}, true},
		{recommend.Request{User: 0, K: 5, Diversity: 0.5}, true},
		{recommend.Request{User: 1, K: 0}, false},
		{recommend.Request{User: 1, K: -3}, false},
		{recommend.Request{User: 1, K: recommend.MaxK + 1}, false},
		{recommend.Request{User: 1, K: 10, Diversity: 2}, false},
		{recommend.Request{User: 1, K: 10, Diversity: -0.1}, false},
		{recommend.Request{User: 1, K: 10, Diversity: math.NaN()}, false},
		{recommend.Request{User: -1, K: 10}, false},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, recommend.ErrInvalid)) {
			t.Errorf("%+v.Validate() = %v, want ok %v (else ErrInvalid)", tt.req, err, tt.ok)
		}
		resp, err := svc.Recommend(ctx, tt.req)
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, recommend.ErrInvalid)) {
			t.Errorf("Recommend(%+v) = %v, want ok %v (else ErrInvalid)", tt.req, err, tt.ok)
		}
		if !tt.ok && len(resp.Items) != 0 {
			t.Errorf("Recommend(%+v) refused but returned %v", tt.req, resp.Items)
		}
	}
}

func meanPairwiseCosine(f *fixture, items []recommend.Item) float64 {
	var sum float64
	var n int
	for i := range items {
		a, _ := f.mf.ItemVector(items[i].ID)
		for j := range i {
			b, _ := f.mf.ItemVector(items[j].ID)
			sum += rank.Cosine(a, b)
			n++
		}
	}
	return sum / float64(n)
}

// The MMR re-rank still returns K distinct unseen items, and more diversity makes the
// lists less alike (mean pairwise cosine of the item embeddings, over many users).
func TestRecommendDiversity(t *testing.T) {
	f := fix(t)
	r := &ranker{column: "retrieval_rank", sign: -1}
	svc := newService(t, f.stack(r, "v1"), f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	const k = 10
	sim := map[float64]float64{}
	for _, lambda := range []float64{0, 0.3, 1} {
		for u := range int64(nUsers) {
			what := fmt.Sprintf("Recommend(user %d, diversity %v)", u, lambda)
			resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: k, Diversity: lambda})
			if err != nil {
				t.Fatalf("%s = %v", what, err)
			}
			checkList(t, what, resp.Items, k, f.seen[u])
			checkTimings(t, what, resp.Timings)
			sim[lambda] += meanPairwiseCosine(f, resp.Items) / nUsers
			// The re-rank picks from the ranker's top 4k, here retrieval's first 4k.
			cands, _ := svc.Candidates(ctx, u)
			for _, it := range resp.Items {
				if !slices.Contains(cands[:4*k], it.ID) {
					t.Errorf("%s: item %d is not among the ranker's top %d", what, it.ID, 4*k)
				}
			}
		}
	}
	if !(sim[1] < sim[0.3] && sim[0.3] < sim[0]) {
		t.Errorf("mean pairwise cosine by diversity = %v, want it to fall as diversity rises", sim)
	}
}

func TestSwap(t *testing.T) {
	f := fix(t)
	svc := newService(t, f.stack(&ranker{column: "retrieval_rank", sign: -1}, "v1"), f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	for _, v := range []string{"v1", "v2", "v3"} {
		if v != "v1" {
			svc.Swap(f.stack(&ranker{column: "retrieval_rank", sign: -1}, v))
		}
		if got := svc.Current().IndexVersion; got != "index/"+v {
			t.Errorf("Current().IndexVersion = %q, want index/%s", got, v)
		}
		resp, err := svc.Recommend(ctx, recommend.Request{User: 1, K: 5})
		if err != nil {
			t.Fatal(err)
		}
		if resp.IndexVersion != "index/"+v || resp.ModelVersion != "ranker/"+v {
			t.Errorf("after Swap(%s): IndexVersion %q, ModelVersion %q; want index/%s, ranker/%s", v, resp.IndexVersion, resp.ModelVersion, v, v)
		}
	}
	svc.Swap(nil)
	if resp, err := svc.Recommend(ctx, recommend.Request{User: 1, K: 5}); err != nil || resp.Path != recommend.PathPopular {
		t.Errorf("after Swap(nil): Path %q, %v; want fallback-popular", resp.Path, err)
	}
}

func TestCandidates(t *testing.T) {
	f := fix(t)
	svc := newService(t, f.stack(nil, "v1"), f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	for u := int64(0); u < nUsers; u += 30 {
		got, err := svc.Candidates(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("Candidates(%d)", u)
		items := make([]recommend.Item, len(got))
		for i, id := range got {
			items[i] = recommend.Item{ID: id}
		}
		checkList(t, what, items, serveConfig().Candidates, f.seen[u])
	}
	if got, err := svc.Candidates(ctx, unknownUser); got != nil || err != nil {
		t.Errorf("Candidates(unknown user) = %v, %v; want nil, nil", got, err)
	}
}

func TestNewServiceRefuses(t *testing.T) {
	f := fix(t)
	h, cat := f.history(), &recommend.Catalog{Popular: f.popular}
	tests := []struct {
		name  string
		cfg   recommend.Config
		h     *recommend.History
		feats recommend.Features
		cat   *recommend.Catalog
	}{
		{"too few candidates", recommend.Config{Candidates: recommend.MaxK - 1, EfSearch: 200}, h, features{}, cat},
		{"too many candidates", recommend.Config{Candidates: 10_001, EfSearch: 200}, h, features{}, cat},
		{"no ef", recommend.Config{Candidates: 100}, h, features{}, cat},
		{"no history", serveConfig(), nil, features{}, cat},
		{"no features", serveConfig(), h, nil, cat},
		{"no catalogue", serveConfig(), h, features{}, nil},
	}
	for _, tt := range tests {
		if s, err := recommend.NewService(tt.cfg, f.stack(nil, "v1"), tt.h, tt.feats, tt.cat); err == nil {
			t.Errorf("NewService(%s) = %v, nil; want an error", tt.name, s)
		}
	}
	if err := recommend.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

// An item added to the index after the build (a cold-start item) is served: placed where
// a user's taste points, it comes first for that user, with and without the MMR re-rank.
func TestRecommendAddedItem(t *testing.T) {
	f := fix(t)
	ix, err := buildIndex(f.mf)
	if err != nil {
		t.Fatal(err)
	}
	st := f.stack(&ranker{column: "retrieval_rank", sign: -1}, "v1")
	st.Index = ix
	svc := newService(t, st, f.history(), features{}, &recommend.Catalog{Popular: f.popular})
	const u, id = 8, 5_000_000
	p, _ := f.mf.UserVector(u)
	n := math.Sqrt(sumSq(p) + 1)
	q := make([]float64, len(p))
	for i := range p {
		q[i] = 0.999 * ix.Aug.Phi * p[i] / n
	}
	if _, err := ix.AddItem(id, q, 0.999*ix.Aug.Phi/n); err != nil {
		t.Fatal(err)
	}
	for _, lambda := range []float64{0, 0.5} {
		resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: 10, Diversity: lambda})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Items) == 0 || resp.Items[0].ID != id {
			t.Errorf("Recommend(user %d, diversity %v) = %v, want the added item %d first", u, lambda, ids(resp.Items), id)
		}
		checkList(t, "with an added item", resp.Items, 10, f.seen[u])
	}
}

func sumSq(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}

// Requests, swaps and clicks at once. Run with -race.
func TestRecommendConcurrent(t *testing.T) {
	f := fix(t)
	r := &statelessRanker{ranker{column: "retrieval_rank", sign: -1}}
	h := f.history()
	svc := newService(t, f.stack(r, "v1"), h, features{}, &recommend.Catalog{Popular: f.popular})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range 60 {
				u := int64((g*60 + i) % nUsers)
				if i%7 == 0 {
					u = unknownUser + int64(i)
				}
				resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: 10, Diversity: float64(i%3) / 4})
				if err != nil || len(resp.Items) != 10 {
					t.Errorf("concurrent Recommend(user %d) = %d items, %v; want 10, nil", u, len(resp.Items), err)
					return
				}
				h.Add(u, resp.Items[0].ID)
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			svc.Swap(f.stack(r, fmt.Sprintf("v%d", i)))
		}
	})
	wg.Wait()
}
