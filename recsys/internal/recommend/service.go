package recommend

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
)

// Stack is one consistent set of models: the factorization whose embeddings the index
// holds, the index, the ranker and the item-to-item model it reads. Serving swaps a whole
// Stack at once (blue/green), so a request never mixes an index with another model's
// user vectors.
type Stack struct {
	MF            *ml.MF
	Index         *retrieval.Index
	IndexVersion  string
	Ranker        ml.Model // nil: candidates keep the factorization's order
	RankerVersion string
	ItemItem      *rank.ItemItem
}

// Features reads the feature store's values for a user and candidate items: the online
// store in production (recfeatures.Read), a precomputed table offline.
type Features interface {
	Stats(ctx context.Context, user int64, items []int64, s *recfeatures.Stats) error
}

// Catalog knows the items that exist, their popularity and attributes: the cold-start path.
type Catalog struct {
	// Popular lists item ids, most popular first.
	Popular []int64
	// Genres maps an item to its genre names (may be nil).
	Genres map[int64][]string
}

// Config sizes the request path.
type Config struct {
	// Candidates is how many items retrieval proposes to the ranker.
	Candidates int
	// EfSearch is the index's search breadth (raised to Candidates when smaller). The
	// user's own items are skipped inside the search, so it need not grow with the history.
	EfSearch int
}

// DefaultConfig proposes 200 candidates, searched with ef 300.
func DefaultConfig() Config { return Config{Candidates: 200, EfSearch: 300} }

// Validate reports out-of-range settings.
func (c Config) Validate() error {
	if c.Candidates < MaxK || c.Candidates > 10_000 || c.EfSearch < 1 {
		return fmt.Errorf("recommend: Candidates = %d (want %d..10000), EfSearch = %d", c.Candidates, MaxK, c.EfSearch)
	}
	return nil
}

// Service is the Recommender: retrieval, features, ranking, re-ranking.
type Service struct {
	cfg      Config
	stack    atomic.Pointer[Stack]
	history  *History
	features Features
	catalog  atomic.Pointer[Catalog]
	scratch  sync.Pool
}

var _ Recommender = (*Service)(nil)

// NewService returns a Service over the stack and the stores.
func NewService(cfg Config, st *Stack, history *History, feats Features, cat *Catalog) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if history == nil || feats == nil || cat == nil {
		return nil, fmt.Errorf("recommend: history, features and catalog are required")
	}
	s := &Service{cfg: cfg, history: history, features: feats}
	s.scratch.New = func() any { return &scratch{} }
	if st != nil {
		s.stack.Store(st)
	}
	s.catalog.Store(cat)
	return s, nil
}

// Swap replaces the stack (a blue/green switch): requests in flight finish on the old one.
func (s *Service) Swap(st *Stack) { s.stack.Store(st) }

// Current returns the stack being served.
func (s *Service) Current() *Stack { return s.stack.Load() }

// SetCatalog replaces the catalogue.
func (s *Service) SetCatalog(c *Catalog) { s.catalog.Store(c) }

// History returns the user histories the service reads.
func (s *Service) History() *History { return s.history }

type scratch struct {
	order, sorted []int64
	qbuf          []float32
	res           []ann.Result
	cands         []rank.Candidate
	items         []int64
	stats         recfeatures.Stats
	x, p          []float64
	fs            rank.Scratch
	idx           []int
	picked        []int
}

// The paths that can answer.
const (
	PathPersonal  = "personal"
	PathColdStart = "cold-start"
	PathPopular   = "fallback-popular"
)

// Recommend implements Recommender.
func (s *Service) Recommend(ctx context.Context, req Request) (Response, error) {
	if err := req.Validate(); err != nil {
		return Response{}, err
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	st := s.stack.Load()
	resp := Response{User: req.User}
	sc.order, sc.sorted = s.history.Snapshot(req.User, sc.order, sc.sorted)
	var p []float64
	if st != nil {
		p, _ = st.MF.UserVector(req.User)
		resp.IndexVersion, resp.ModelVersion = st.IndexVersion, st.RankerVersion
	}
	if p == nil {
		return s.coldStart(req, resp, sc, st), nil
	}

	t0 := time.Now()
	s.retrieve(st, p, sc)
	resp.Candidates = len(sc.cands)
	resp.Path = PathPersonal
	t1 := time.Now()
	resp.Timings.Retrieve = t1.Sub(t0)

	if st.Ranker == nil {
		resp.Path = PathPersonal + "-unranked"
		resp.Items = topByScore(sc.cands, nil, req.K, resp.Items)
		return resp, nil
	}
	if err := s.features.Stats(ctx, req.User, sc.items, &sc.stats); err != nil {
		// The store is down: rank on the model's own features (zeros for the store's).
		sc.stats.User, sc.stats.Items = sc.stats.User[:0], sc.stats.Items[:0]
		resp.Path = PathPersonal + "-no-features"
	}
	sc.x = rank.Fill(sc.x, sc.cands, rank.Inputs{History: sc.order, Stats: sc.stats, ItemItem: st.ItemItem}, &sc.fs)
	t2 := time.Now()
	resp.Timings.Features = t2.Sub(t1)

	sc.p = append(sc.p[:0], make([]float64, len(sc.cands))...)
	if len(sc.cands) > 0 {
		if err := st.Ranker.Predict(ml.Batch{Schema: rank.Schema, X: sc.x}, sc.p); err != nil {
			return Response{}, fmt.Errorf("rank: %w", err)
		}
	}
	t3 := time.Now()
	resp.Timings.Rank = t3.Sub(t2)

	if req.Diversity > 0 {
		resp.Items = s.rerank(st, sc, req, resp.Items)
	} else {
		resp.Items = topByScore(sc.cands, sc.p, req.K, resp.Items)
	}
	resp.Timings.Rerank = time.Since(t3)
	return resp, nil
}

// retrieve fills sc.cands and sc.items with the user's candidates, best first: the
// Candidates nearest items the user does not have, the user's own items skipped inside the
// search (retrieval.Index.SearchQueryExcept) rather than searched for and dropped, so a
// long history does not widen the beam.
func (s *Service) retrieve(st *Stack, p []float64, sc *scratch) {
	want := min(s.cfg.Candidates, st.Index.ANN.Len())
	sc.qbuf = st.Index.Aug.Query(p, sc.qbuf)
	sc.res = st.Index.SearchQueryExcept(sc.qbuf, want, max(s.cfg.EfSearch, want), sc.sorted, sc.res[:0])
	norm := math.Sqrt(sq(p) + 1)
	sc.cands, sc.items = sc.cands[:0], sc.items[:0]
	for _, r := range sc.res {
		sc.cands = append(sc.cands, rank.Candidate{Item: r.ID, MF: float64(r.Score) * st.Index.Aug.Phi * norm})
		sc.items = append(sc.items, r.ID)
	}
}

// Candidates returns what retrieval proposes for a user (nil for a user the factorization
// does not know): the list the ranker sees, for measuring retrieval's recall.
func (s *Service) Candidates(_ context.Context, user int64) ([]int64, error) {
	st := s.stack.Load()
	if st == nil {
		return nil, nil
	}
	p, ok := st.MF.UserVector(user)
	if !ok {
		return nil, nil
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	sc.order, sc.sorted = s.history.Snapshot(user, sc.order, sc.sorted)
	s.retrieve(st, p, sc)
	return slices.Clone(sc.items), nil
}

// rerank takes the ranker's top 4k and picks k of them by MMR over item embeddings.
func (s *Service) rerank(st *Stack, sc *scratch, req Request, dst []Item) []Item {
	sc.idx = sc.idx[:0]
	for i := range sc.cands {
		sc.idx = append(sc.idx, i)
	}
	slices.SortStableFunc(sc.idx, func(a, b int) int { return cmp.Compare(sc.p[b], sc.p[a]) })
	pool := sc.idx[:min(len(sc.idx), 4*req.K)]
	rel := make([]float64, len(pool))
	vecs := make([][]float64, len(pool))
	for i, c := range pool {
		rel[i] = sc.p[c]
		vecs[i] = itemVector(st, sc.cands[c].Item)
	}
	sc.picked = rank.MMR(rel, req.K, req.Diversity, func(a, b int) float64 { return rank.Cosine(vecs[a], vecs[b]) }, sc.picked)
	dst = dst[:0]
	for _, i := range sc.picked {
		c := pool[i]
		dst = append(dst, Item{ID: sc.cands[c].Item, Score: sc.p[c]})
	}
	return dst
}

func itemVector(st *Stack, id int64) []float64 {
	if v, ok := st.MF.ItemVector(id); ok {
		return v
	}
	if v, _, ok := st.Index.AddedItem(id); ok {
		return v
	}
	return nil
}

// coldStart answers a user the factorization does not know: popular items, restricted to
// the genre the request names when the catalogue knows genres, minus what the user has.
func (s *Service) coldStart(req Request, resp Response, sc *scratch, st *Stack) Response {
	t0 := time.Now()
	cat := s.catalog.Load()
	genre := req.Context["genre"]
	resp.Path = PathColdStart
	if st == nil {
		resp.Path = PathPopular
	}
	resp.Items = resp.Items[:0]
	for pass := 0; pass < 2 && len(resp.Items) < req.K; pass++ {
		for r, id := range cat.Popular {
			if len(resp.Items) == req.K {
				break
			}
			match := genre == "" || slices.Contains(cat.Genres[id], genre)
			if (pass == 0) != match || contains(sc.sorted, id) {
				continue
			}
			resp.Items = append(resp.Items, Item{ID: id, Score: 1 / float64(r+1)})
		}
	}
	resp.Candidates = len(cat.Popular)
	resp.Timings.Retrieve = time.Since(t0)
	return resp
}

// topByScore returns the k best candidates by score (the factorization's when score is
// nil), best first, ties to the earlier candidate: a selection into k slots, not a sort of
// every candidate.
func topByScore(cands []rank.Candidate, score []float64, k int, dst []Item) []Item {
	dst = dst[:0]
	for i, c := range cands {
		v := c.MF
		if score != nil {
			v = score[i]
		}
		if len(dst) == k && v <= dst[k-1].Score {
			continue
		}
		if len(dst) < k {
			dst = append(dst, Item{})
		}
		j := len(dst) - 1
		for j > 0 && dst[j-1].Score < v {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = Item{ID: c.Item, Score: v}
	}
	return dst
}

func sq(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}
