package train

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
)

// The metrics the recommender's pipelines record on the "holdout" eval set.
const (
	// MetricNDCG is NDCG@10: of the factorization's top ten for a held-out user (their
	// training items excluded), or of the ranker's order of a held-out candidate list.
	MetricNDCG = "ndcg_at_10"
	// MetricPopularityNDCG is NDCG@10 of the most popular training items on the same
	// users, and MetricLiftOverPopularity the factorization's over it.
	MetricPopularityNDCG     = "popularity_ndcg_at_10"
	MetricLiftOverPopularity = "ndcg_lift_over_popularity"
	// MetricBaseOrderNDCG is NDCG@10 of the candidate lists in retrieval order (what the
	// ranker re-ranks), and MetricGainOverBase the ranker's minus it.
	MetricBaseOrderNDCG = "mf_order_ndcg_at_10"
	MetricGainOverBase  = "ndcg_gain_over_base"
	// MetricGainBound is the gain plus two standard errors of its per-user mean: the
	// ranker is refused only when even this bound is below −RankerTolerance, i.e. when it
	// is worse than the base order by more than the tolerance beyond the holdout's noise.
	MetricGainBound = "ndcg_gain_over_base_upper"
	MetricUsers     = "users"
)

// Gates is the recommender's bar for the pipelines.
type Gates struct {
	// MinLift is the factorization's floor: holdout NDCG@10 at least MinLift × the
	// popularity baseline's on the same users.
	MinLift float64
	// RankerTolerance is how much NDCG@10 the ranker may lose against the base order it
	// re-ranks (its floor on MetricGainOverBase is −RankerTolerance).
	RankerTolerance float64
}

// DefaultGates: the factorization must beat popularity by 2% and the ranker may lose at
// most 0.01 NDCG@10 to the retrieval order beyond the noise of its holdout. Popularity is
// the recommender any catalogue gets for free (the cold-start fallback serves it), so
// embeddings that do not beat it are not worth an index. The 2% refuses what is no better
// than the free baseline, not what is merely modest: a shuffled factorization scores a
// lift of 0.69 (TestPipelinesGate), the smallest world the tests publish (200 users, 1.06)
// and the scenario worlds (1.29 to 1.43) pass. The ranker's bar is one hundredth of NDCG,
// tested on the upper bound of its gain (MetricGainBound) because its holdout is small
// (120 users in the scenario worlds, where the gain's standard error is about 0.008, as
// large as the gain).
func DefaultGates() Gates { return Gates{MinLift: 1.02, RankerTolerance: 0.01} }

// EvalUsers caps the held-out users the factorization is scored on (taken evenly by id):
// scoring is a pass over the catalogue per user.
const EvalUsers = 2000

// Pipeline names (and registry model names) of the recommender's trained models.
const (
	MFModel     = "recsys-mf"
	RankerModel = "recsys-ranker"
)

// PipelineConfig is what the definitions need beyond the models.
type PipelineConfig struct {
	Gates Gates
	Actor string
	// Alias is moved when the gates pass ("" registers without a move).
	Alias string
	// RankerParams go on the ranker's version (the index it is paired with, say).
	RankerParams map[string]string
	// Extra adds metrics to the ranker's holdout (an offline CTR estimate, say).
	Extra ml.Metrics
}

// ErrNotFitted is returned by a definition for models not made by Fit.
var ErrNotFitted = errors.New("train: models were not made by Fit")

// interactionRows is the training set of the factorization: one row per interaction
// (user, item) in time order, the order Fit's inner split reads.
func (m *Models) interactionRows() (ml.Dataset, error) {
	users, items := make([]int64, len(m.Interactions)), make([]int64, len(m.Interactions))
	for i, in := range m.Interactions {
		users[i], items[i] = in.User, in.Item
	}
	return ml.InteractionDataset(users, items)
}

// MFDefinition is the factorization's pipeline: the interactions in time order, split
// stratified by item as Fit's inner split is (so the held-out interactions are the ones
// the ranker is labelled with), the embeddings fitted on the training part and judged by
// NDCG@10 on the held-out users against popularity, then refitted on every interaction
// (Refit) for serving. Gates: the lift over popularity at least cfg.Gates.MinLift, and
// not more than 0.25 below the champion's lift (a retrain on drifted data, measured on
// other users, may lose a little; a collapse is refused).
func MFDefinition(m *Models, cfg PipelineConfig) (pipeline.Definition, error) {
	if m.fitted == nil {
		return pipeline.Definition{}, ErrNotFitted
	}
	data, err := m.interactionRows()
	if err != nil {
		return pipeline.Definition{}, err
	}
	c := m.cfg
	from, to := m.Interactions[0].Time, m.Interactions[len(m.Interactions)-1].Time
	params := map[string]string{"embeddings": c.Embeddings, "split": "stratified by item",
		"inner_ratio": strconv.FormatFloat(c.InnerRatio, 'g', -1, 64), "inner_seed": strconv.FormatUint(uint64(c.InnerSeed), 10),
		"min_lift": strconv.FormatFloat(cfg.Gates.MinLift, 'g', -1, 64)}
	if c.Embeddings == "bpr" {
		params["factors"], params["epochs"] = strconv.Itoa(c.BPR.Factors), strconv.Itoa(c.BPR.Epochs)
	} else {
		params["factors"], params["iterations"] = strconv.Itoa(c.IALS.Factors), strconv.Itoa(c.IALS.Iterations)
	}
	params["config_sha256"] = configSum(c)
	return pipeline.Definition{
		Name: MFModel, Model: MFModel,
		Source: pipeline.SourceFunc(func(ctx context.Context) (pipeline.TrainingSet, error) {
			return pipeline.TrainingSet{Data: data, From: from, To: to}, ctx.Err()
		}),
		SplitFunc: func(d ml.Dataset) ([]int, []int, error) {
			users, items := columns(d)
			fit, valid := splitIndex(users, items, c)
			return fit, valid, nil
		},
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			users, items := columns(d)
			if mm, ok := m.fitted[pairsKey(users, items)]; ok {
				return mm, nil // Fit trained it on these very interactions
			}
			if c.Embeddings == "bpr" {
				return ml.TrainBPR(ctx, d, c.BPR)
			}
			return ml.TrainIALS(ctx, d, c.IALS)
		},
		Evaluate: func(ctx context.Context, mm ml.Model, train, holdout ml.Dataset) (ml.Metrics, error) {
			mf, ok := mm.(*ml.MF)
			if !ok {
				return nil, fmt.Errorf("a %s, not a factorization", mm.Family())
			}
			return EvaluateEmbeddings(ctx, mf, train, holdout)
		},
		Refit:  true,
		Params: params, LatencySamples: 200, Alias: cfg.Alias, Actor: cfg.Actor, CodeVersion: runtime.Version(),
		Privacy:     m.privacy,
		IntendedUse: "user and item embeddings for candidate retrieval",
		KnownLimits: []string{"metrics are of the embeddings fitted on the inner split; the version is the refit on every interaction"},
		Gates: registry.Gates{EvalSet: "holdout", Metric: MetricLiftOverPopularity, MinImprovement: -0.25,
			Floors: []registry.Floor{{EvalSet: "holdout", Metric: MetricLiftOverPopularity, Min: cfg.Gates.MinLift}}},
	}, nil
}

// RankerDefinition is the ranker's pipeline: the candidate lists Fit built from the inner
// factorization and labelled by the held-out interactions, split by user (one list in
// HoldoutEvery held out), the LambdaRank trees fitted on the rest, judged by NDCG@10 of
// their order against the retrieval order of the same lists. Gates: the gain over the
// base order, plus two standard errors (MetricGainBound), at least
// −cfg.Gates.RankerTolerance: a ranker worse than the order it re-ranks by more than the
// tolerance beyond the holdout's noise is refused. The comparison with the champion (on
// the same bound, at most 0.05 below) only refuses a collapse: two retrains are measured
// on different held-out users, so their difference is mostly noise.
func RankerDefinition(m *Models, cfg PipelineConfig) (pipeline.Definition, error) {
	if m.fitted == nil {
		return pipeline.Definition{}, ErrNotFitted
	}
	data, groups := m.rankerSet, m.rankerGroups
	var fitG, evalG []int32
	for _, g := range groups {
		if g%HoldoutEvery == HoldoutEvery-1 {
			evalG = append(evalG, g)
		} else {
			fitG = append(fitG, g)
		}
	}
	c := m.cfg
	from, to := m.Interactions[0].Time, m.Interactions[len(m.Interactions)-1].Time
	params := map[string]string{"objective": "lambdarank@10", "itemitem": m.ItemItem.Source, "split": "every " + strconv.Itoa(HoldoutEvery) + "th user held out",
		"trees": strconv.Itoa(c.Ranker.Trees), "candidates": strconv.Itoa(c.Candidates),
		"tolerance": strconv.FormatFloat(cfg.Gates.RankerTolerance, 'g', -1, 64), "config_sha256": configSum(c)}
	for k, v := range cfg.RankerParams {
		params[k] = v
	}
	extra := cfg.Extra
	return pipeline.Definition{
		Name: RankerModel, Model: RankerModel,
		Source: pipeline.SourceFunc(func(ctx context.Context) (pipeline.TrainingSet, error) {
			return pipeline.TrainingSet{Data: data, From: from, To: to}, ctx.Err()
		}),
		SplitFunc: func(d ml.Dataset) (fit, eval []int, err error) {
			if d.Rows() != len(groups) {
				return nil, nil, fmt.Errorf("%d rows for %d group ids", d.Rows(), len(groups))
			}
			for i, g := range groups {
				if g%HoldoutEvery == HoldoutEvery-1 {
					eval = append(eval, i)
				} else {
					fit = append(fit, i)
				}
			}
			return fit, eval, nil
		},
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			if mm, ok := m.fitted[d.Fingerprint()]; ok {
				return mm, nil
			}
			if d.Rows() != len(fitG) {
				return nil, fmt.Errorf("ranker: %d rows, the training lists have %d", d.Rows(), len(fitG))
			}
			return ml.TrainGBDTRank(ctx, d, fitG, RankK, c.Ranker)
		},
		Evaluate: func(ctx context.Context, mm ml.Model, train, holdout ml.Dataset) (ml.Metrics, error) {
			h, err := holdoutNDCG(mm, holdout, evalG)
			if err != nil {
				return nil, err
			}
			if h.Users == 0 {
				return nil, errors.New("no held-out list has a relevant item")
			}
			g := h.RankerNDCG - h.MFNDCG
			out := ml.Metrics{MetricNDCG: h.RankerNDCG, MetricBaseOrderNDCG: h.MFNDCG, MetricGainOverBase: g, MetricGainBound: g + 2*h.GainSE, MetricUsers: float64(h.Users)}
			for k, v := range extra {
				out[k] = v
			}
			return out, nil
		},
		Params: params, LatencySamples: 200, Alias: cfg.Alias, Actor: cfg.Actor, CodeVersion: runtime.Version(),
		Privacy:     m.privacy,
		IntendedUse: "ranks the index's candidates for one user",
		KnownLimits: []string{"holdout is the inner split's held-out users, not the final test split"},
		Gates: registry.Gates{EvalSet: "holdout", Metric: MetricGainBound, MinImprovement: -0.05,
			Floors: []registry.Floor{{EvalSet: "holdout", Metric: MetricGainBound, Min: -cfg.Gates.RankerTolerance}}},
	}, nil
}

// privacy records how user ids were handled (nothing when they were not tokenized).
func (m *Models) privacy(context.Context, ml.Model, ml.Dataset, ml.Dataset) (*registry.Privacy, error) {
	if m.PIIPolicy == "" {
		return nil, nil
	}
	return &registry.Privacy{PIIPolicy: m.PIIPolicy}, nil
}

// EvaluateEmbeddings scores a factorization on the held-out interactions: for each
// held-out user it knows (at most EvalUsers, taken evenly by id), NDCG@10 of its top ten
// items outside the user's training items, and of the ten most popular training items
// outside them, with the user's held-out items as the relevant ones.
func EvaluateEmbeddings(ctx context.Context, mf *ml.MF, train, holdout ml.Dataset) (ml.Metrics, error) {
	tu, ti := columns(train)
	hu, hi := columns(holdout)
	seen, want := map[int64][]int64{}, map[int64][]int64{}
	count := map[int64]int{}
	for i, u := range tu {
		seen[u] = append(seen[u], ti[i])
		count[ti[i]]++
	}
	for i, u := range hu {
		want[u] = append(want[u], hi[i])
	}
	popular := make([]int64, 0, len(count))
	for id := range count {
		popular = append(popular, id)
	}
	slices.SortFunc(popular, func(x, y int64) int { return cmp.Or(cmp.Compare(count[y], count[x]), cmp.Compare(x, y)) })
	users := make([]int64, 0, len(want))
	for u := range want {
		if _, ok := mf.UserVector(u); ok {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	if len(users) > EvalUsers {
		picked := make([]int64, EvalUsers)
		for i := range picked {
			picked[i] = users[i*len(users)/EvalUsers]
		}
		users = picked
	}
	ids, _, _ := mf.ItemVectors()
	var (
		scores       []float64
		sumMF, sumPo float64
		n            int
	)
	idx := make([]int, 0, len(ids))
	for k, u := range users {
		if k%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		s := slices.Sorted(slices.Values(seen[u]))
		w := slices.Sorted(slices.Values(want[u]))
		scores = mf.ScoreAll(u, scores)
		idx = idx[:0]
		for i, id := range ids {
			if _, ok := slices.BinarySearch(s, id); !ok {
				idx = append(idx, i)
			}
		}
		top := topK(idx, scores, RankK)
		mfList := make([]int64, len(top))
		for r, i := range top {
			mfList[r] = ids[i]
		}
		var poList []int64
		for _, id := range popular {
			if len(poList) == RankK {
				break
			}
			if _, ok := slices.BinarySearch(s, id); !ok {
				poList = append(poList, id)
			}
		}
		sumMF += ndcgOf(mfList, w)
		sumPo += ndcgOf(poList, w)
		n++
	}
	if n == 0 {
		return nil, errors.New("no held-out user has embeddings")
	}
	out := ml.Metrics{MetricNDCG: sumMF / float64(n), MetricPopularityNDCG: sumPo / float64(n), MetricUsers: float64(n)}
	if out[MetricPopularityNDCG] > 0 {
		out[MetricLiftOverPopularity] = out[MetricNDCG] / out[MetricPopularityNDCG]
	} else {
		out[MetricLiftOverPopularity] = 0 // no baseline to beat: no lift measured, the floor refuses
	}
	return out, nil
}

// topK returns the k indexes of idx with the highest scores, best first (ties by index).
func topK(idx []int, scores []float64, k int) []int {
	better := func(a, b int) bool { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b) }
	top := make([]int, 0, k+1)
	for _, i := range idx {
		if len(top) == k && !better(i, top[k-1]) {
			continue
		}
		j := len(top)
		if len(top) < k {
			top = append(top, i)
		} else {
			j = k - 1
		}
		for j > 0 && better(i, top[j-1]) {
			top[j] = top[j-1]
			j--
		}
		top[j] = i
	}
	return top
}

// ndcgOf is NDCG@RankK of a recommended list against the relevant items (sorted).
func ndcgOf(list, relevant []int64) float64 {
	var dcg, idcg float64
	for r, id := range list {
		if _, ok := slices.BinarySearch(relevant, id); ok {
			dcg += 1 / math.Log2(float64(r)+2)
		}
	}
	for r := 0; r < min(len(relevant), RankK); r++ {
		idcg += 1 / math.Log2(float64(r)+2)
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// columns reads the user and item ids of an interaction dataset.
func columns(d ml.Dataset) (users, items []int64) {
	n := d.Rows()
	users, items = make([]int64, n), make([]int64, n)
	for i := range n {
		users[i], items[i] = int64(d.X[2*i]), int64(d.X[2*i+1])
	}
	return users, items
}

// splitIndex is Fit's inner split over interactions in time order: stratified by item,
// returning the row indexes of each side in ascending order.
func splitIndex(users, items []int64, c Config) (fit, valid []int) {
	rs := make([]ratings.Rating, len(users))
	for i := range rs {
		rs[i] = ratings.Rating{User: users[i], Item: items[i], Value: 1, Time: int64(i)}
	}
	a, b := ratings.StratifiedSplit(rs, c.InnerRatio, c.InnerSeed, ratings.ByItem)
	for _, r := range a {
		fit = append(fit, int(r.Time))
	}
	for _, r := range b {
		valid = append(valid, int(r.Time))
	}
	slices.Sort(fit)
	slices.Sort(valid)
	return fit, valid
}

// innerSplit splits train as the factorization's pipeline does: in time order (stable),
// stratified by item.
func innerSplit(train []ratings.Rating, c Config) (fit, valid []ratings.Rating) {
	sorted := slices.Clone(train)
	slices.SortStableFunc(sorted, func(x, y ratings.Rating) int { return cmp.Compare(x.Time, y.Time) })
	users, items := make([]int64, len(sorted)), make([]int64, len(sorted))
	for i, r := range sorted {
		users[i], items[i] = r.User, r.Item
	}
	fi, vi := splitIndex(users, items, c)
	for _, i := range fi {
		fit = append(fit, sorted[i])
	}
	for _, i := range vi {
		valid = append(valid, sorted[i])
	}
	return fit, valid
}

// pairsKey identifies a multiset of (user, item) interactions, whatever their order.
func pairsKey(users, items []int64) string {
	type pair struct{ u, i int64 }
	ps := make([]pair, len(users))
	for k := range ps {
		ps[k] = pair{users[k], items[k]}
	}
	slices.SortFunc(ps, func(a, b pair) int { return cmp.Or(cmp.Compare(a.u, b.u), cmp.Compare(a.i, b.i)) })
	h := sha256.New()
	var b [16]byte
	for _, p := range ps {
		binary.LittleEndian.PutUint64(b[:8], uint64(p.u))
		binary.LittleEndian.PutUint64(b[8:], uint64(p.i))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// configSum identifies the trainer configuration (the pipeline's fingerprint covers
// Params, not the Train function).
func configSum(c Config) string {
	b, _ := json.Marshal(c)
	return registry.Sum(b)
}

// ratingsKey is pairsKey of ratings.
func ratingsKey(rs []ratings.Rating) string {
	users, items := make([]int64, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		users[i], items[i] = r.User, r.Item
	}
	return pairsKey(users, items)
}
