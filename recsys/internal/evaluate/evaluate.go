// Package evaluate runs the recommender's offline protocol, the one Microsoft Recommenders
// published its MovieLens-100K benchmark with: a split made elsewhere or stratified 75/25
// by item (seed 42), every held-out rating relevant, items seen in training never
// recommended, every item ranked (no sampled negatives), metrics at k = 10. It scores the
// recommender as served (ANN retrieval, features, ranker, through recommend.Service, the
// code production runs), each stage on its own, the models alone, a popularity baseline and,
// on simulated data, the oracle that ranks by the generator's own truth.
package evaluate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/recsys/internal/rankmetrics"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
)

// Oracle scores items for a user by the generator's truth (simulated data only).
type Oracle func(user int64, items []int64, dst []float64) []float64

// Config is the protocol's settings.
type Config struct {
	K         int
	Train     train.Config
	Index     retrieval.BuildConfig
	Serve     recommend.Config
	Diversity float64 // the MMR row's λ
	// MoreDiversity adds MMR rows at these λ too (the NDCG cost against the coverage gain).
	MoreDiversity []float64
}

// DefaultConfig is k = 10, the default training, index and serving settings, MMR at 0.3.
func DefaultConfig() Config {
	return Config{K: 10, Train: train.DefaultConfig(), Index: retrieval.DefaultBuildConfig(), Serve: recommend.DefaultConfig(), Diversity: 0.3, MoreDiversity: []float64{0.6, 0.9}}
}

// Row is one model's result.
type Row struct {
	Model   string              `json:"model"`
	Note    string              `json:"note"`
	Metrics rankmetrics.Metrics `json:"metrics"`
	// Coverage is the share of the catalogue that appears in anyone's top k.
	Coverage float64 `json:"coverage"`
}

// Report is one evaluation.
type Report struct {
	Train, Test     int // ratings
	Users, Items    int // in train ∪ test
	TestUsers       int
	Rows            []Row   `json:"rows"`
	Candidates      int     `json:"candidates"`
	RetrievalRecall float64 `json:"retrieval_recall"` // share of test items among the candidates
	IndexRecall     float64 `json:"index_recall_at_10"`
	RankerRows      int     `json:"ranker_rows"`
	// Holdout is the ranker's inner check (users it was not trained on).
	Holdout train.Holdout      `json:"ranker_holdout"`
	Seconds map[string]float64 `json:"seconds"`
	// Recs are the served top k of every test user, for --recs-out.
	Recs map[int64][]recommend.Item `json:"-"`
}

// Row returns the named row.
func (r *Report) Row(model string) (Row, bool) {
	i := slices.IndexFunc(r.Rows, func(x Row) bool { return x.Model == model })
	if i < 0 {
		return Row{}, false
	}
	return r.Rows[i], true
}

// Split is Microsoft Recommenders' split: stratified by item, 75/25, seed 42.
func Split(rs []ratings.Rating) (trainSet, testSet []ratings.Rating) {
	return ratings.StratifiedSplit(rs, 0.75, 42, ratings.ByItem)
}

// OfflineService is the recommender as served over fitted models, without a registry or an
// online store: the index built from the factorization, the offline feature table in the
// store's place, the training histories. The evaluation and the scenarios' offline
// estimates score through it, so they measure the code production runs.
func OfflineService(ctx context.Context, m *train.Models, icfg retrieval.BuildConfig, scfg recommend.Config, hist *recommend.History) (*recommend.Service, retrieval.BuildReport, error) {
	ix, rep, err := retrieval.Build(ctx, m.MF, "offline", icfg)
	if err != nil {
		return nil, rep, err
	}
	if hist == nil {
		hist = recommend.NewHistoryFrom(m.History)
	}
	stack := &recommend.Stack{MF: m.MF, Index: ix, IndexVersion: "offline", Ranker: m.Ranker, RankerVersion: "offline", ItemItem: m.ItemItem}
	svc, err := recommend.NewService(scfg, stack, hist, m.Table, &recommend.Catalog{Popular: m.Popular})
	return svc, rep, err
}

// Run fits on trainSet and evaluates on testSet. oracle may be nil.
func Run(ctx context.Context, trainSet, testSet []ratings.Rating, cfg Config, oracle Oracle) (*Report, error) {
	if cfg.K < 1 {
		return nil, fmt.Errorf("evaluate: k = %d", cfg.K)
	}
	rep := &Report{Train: len(trainSet), Test: len(testSet), Seconds: map[string]float64{}, Candidates: cfg.Serve.Candidates}
	all := append(slices.Clone(trainSet), testSet...)
	rep.Users, rep.Items = len(ratings.Set(all).Users()), len(ratings.Set(all).Items())
	t0 := time.Now()
	cfg.Train.Candidates = cfg.Serve.Candidates
	models, err := train.Fit(ctx, trainSet, cfg.Train)
	if err != nil {
		return nil, err
	}
	rep.RankerRows, rep.Holdout = models.RankerRows, models.Holdout
	rep.Seconds["fit"] = time.Since(t0).Seconds()
	for k, d := range models.Took {
		rep.Seconds["fit_"+k] = d.Seconds()
	}
	t0 = time.Now()
	hist := recommend.NewHistoryFrom(models.History)
	svc, brep, err := OfflineService(ctx, models, cfg.Index, cfg.Serve, hist)
	if err != nil {
		return nil, err
	}
	rep.IndexRecall = brep.Recall
	rep.Seconds["index_build"] = time.Since(t0).Seconds()
	unranked := *svc.Current()
	unranked.Ranker = nil
	svcRetrieval, err := recommend.NewService(cfg.Serve, &unranked, hist, models.Table, &recommend.Catalog{Popular: models.Popular})
	if err != nil {
		return nil, err
	}

	testBy := ratings.Set(testSet).ItemsByUser()
	users := make([]int64, 0, len(testBy))
	for u := range testBy {
		users = append(users, u)
	}
	slices.Sort(users)
	rep.TestUsers = len(users)
	mfIDs, _, _ := models.MF.ItemVectors()
	catalogue := models.Popular // every item seen in training: what can be recommended

	type model struct {
		name, note string
		recs       func(u int64, seen []int64) ([]int64, error)
	}
	var scores []float64
	var candHits, candTotal int
	ms := []model{
		{"served", fmt.Sprintf("ANN (HNSW, efSearch %d) → %d candidates → features → GBDT ranker, through recommend.Service", cfg.Serve.EfSearch, cfg.Serve.Candidates),
			func(u int64, _ []int64) ([]int64, error) {
				resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: cfg.K})
				if err != nil {
					return nil, err
				}
				if rep.Recs == nil {
					rep.Recs = map[int64][]recommend.Item{}
				}
				rep.Recs[u] = resp.Items
				return ids(resp.Items), nil
			}},
		{"served-retrieval-only", "the same ANN candidates in the factorization's order (no ranker)",
			func(u int64, seen []int64) ([]int64, error) {
				resp, err := svcRetrieval.Recommend(ctx, recommend.Request{User: u, K: recommend.MaxK})
				if err != nil {
					return nil, err
				}
				out := ids(resp.Items)
				// Retrieval recall at the candidate count: the full candidate list.
				all, err := svcRetrieval.Candidates(ctx, u)
				if err == nil {
					for _, it := range testBy[u] {
						candTotal++
						if slices.Contains(all, it) {
							candHits++
						}
					}
				}
				return out[:min(cfg.K, len(out))], nil
			}},
		{fmt.Sprintf("served-mmr-%.1f", cfg.Diversity), fmt.Sprintf("served, re-ranked by MMR with λ = %.1f over item embeddings", cfg.Diversity),
			func(u int64, _ []int64) ([]int64, error) {
				resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: cfg.K, Diversity: cfg.Diversity})
				return ids(resp.Items), err
			}},
		{cfg.Train.Embeddings + "-exact", "the factorization alone, exact full ranking",
			func(u int64, seen []int64) ([]int64, error) {
				scores = models.MF.ScoreAll(u, scores)
				return topK(mfIDs, scores, seen, cfg.K), nil
			}},
		{models.ItemItem.Source, "the item-to-item model alone, full ranking",
			func(u int64, seen []int64) ([]int64, error) {
				scores = append(scores[:0], make([]float64, len(mfIDs))...)
				models.ItemItem.ScoreAll(models.History[u], models.MF.ItemIndex, scores)
				return topK(mfIDs, scores, seen, cfg.K), nil
			}},
		{"popularity", "most interacted items in training, unseen ones",
			func(u int64, seen []int64) ([]int64, error) {
				out := make([]int64, 0, cfg.K)
				for _, it := range models.Popular {
					if len(out) == cfg.K {
						break
					}
					if _, ok := slices.BinarySearch(seen, it); !ok {
						out = append(out, it)
					}
				}
				return out, nil
			}},
	}
	for _, lambda := range cfg.MoreDiversity {
		ms = append(ms, model{fmt.Sprintf("served-mmr-%.1f", lambda), fmt.Sprintf("served, re-ranked by MMR with λ = %.1f", lambda),
			func(u int64, _ []int64) ([]int64, error) {
				resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: cfg.K, Diversity: lambda})
				return ids(resp.Items), err
			}})
	}
	if oracle != nil {
		ms = append(ms, model{"oracle", "ranks by the generator's true utility (the best any model can do on this data)",
			func(u int64, seen []int64) ([]int64, error) {
				scores = oracle(u, catalogue, scores)
				return topK(catalogue, scores, seen, cfg.K), nil
			}})
	}
	for _, m := range ms {
		t := time.Now()
		acc := rankmetrics.NewAccumulator(cfg.K)
		shown := map[int64]bool{}
		for i, u := range users {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			seen := slices.Sorted(slices.Values(models.History[u]))
			recs, err := m.recs(u, seen)
			if err != nil {
				return nil, fmt.Errorf("%s: user %d: %w", m.name, u, err)
			}
			for _, it := range recs {
				shown[it] = true
			}
			acc.Add(recs, testBy[u])
		}
		rep.Rows = append(rep.Rows, Row{Model: m.name, Note: m.note, Metrics: acc.Metrics(), Coverage: float64(len(shown)) / float64(len(catalogue))})
		rep.Seconds["eval_"+m.name] = time.Since(t).Seconds()
	}
	if candTotal > 0 {
		rep.RetrievalRecall = float64(candHits) / float64(candTotal)
	}
	return rep, nil
}

func ids(items []recommend.Item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// topK returns the k best ids by score, skipping seen (sorted), ties by lower index.
func topK(ids []int64, scores []float64, seen []int64, k int) []int64 {
	idx := rankmetrics.TopK(scores, func(i int) bool {
		_, ok := slices.BinarySearch(seen, ids[i])
		return ok
	}, k)
	out := make([]int64, len(idx))
	for i, j := range idx {
		out[i] = ids[j]
	}
	return out
}
