// Package train fits the recommender from interactions: the factorization whose embeddings
// feed retrieval, the item-to-item model, the feature store's offline values, and the
// ranker, whose labels come from an inner split so that it learns to rank items the base
// models have not seen as positives.
package train

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/ease"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
)

// Config says what to fit and how.
type Config struct {
	// Embeddings is "bpr" or "ials".
	Embeddings string
	BPR        ml.BPRConfig
	IALS       ml.IALSConfig
	// EASE builds the item-to-item model for catalogues up to EASE.MaxItems; larger ones
	// use co-occurrence with CooccurrenceTopN links per item.
	EASE             ease.Config
	CooccurrenceTopN int
	// Candidates is how many items retrieval proposes per user (the ranker's list).
	Candidates int
	// InnerRatio splits the training set once more (stratified by item) to label the
	// ranker's training lists; InnerSeed seeds that split.
	InnerRatio float64
	InnerSeed  uint32
	Ranker     ml.GBDTConfig
	// RankerUsers caps the users whose candidate lists train the ranker (every user's list
	// is Candidates rows: 50,000 users would be 15 million rows). Users are taken evenly by
	// id.
	RankerUsers int
}

// DefaultConfig is iALS embeddings (the better of the two on the simulated data sets,
// see docs/case-studies/recsys.md), EASE item-to-item, 200 candidates, a LambdaRank
// ranker of 100 shallow trees over 200 candidates per user.
func DefaultConfig() Config {
	g := ml.DefaultGBDTConfig()
	g.Trees, g.MaxDepth, g.MaxLeaves, g.LearningRate, g.MinChildWeight = 100, 3, 8, 0.05, 5
	return Config{Embeddings: "ials", BPR: ml.DefaultBPRConfig(), IALS: ml.DefaultIALSConfig(), EASE: ease.DefaultConfig(),
		CooccurrenceTopN: 100, Candidates: 200, InnerRatio: 0.8, InnerSeed: 43, Ranker: g, RankerUsers: 3000}
}

// Validate reports out-of-range settings.
func (c Config) Validate() error {
	var errs []error
	if c.Embeddings != "bpr" && c.Embeddings != "ials" {
		errs = append(errs, fmt.Errorf("embeddings %q: want bpr or ials", c.Embeddings))
	}
	if c.RankerUsers < 10 {
		errs = append(errs, fmt.Errorf("ranker users = %d, want ≥ 10", c.RankerUsers))
	}
	if c.Candidates < 10 {
		errs = append(errs, fmt.Errorf("candidates = %d, want ≥ 10", c.Candidates))
	}
	if !(c.InnerRatio > 0 && c.InnerRatio < 1) {
		errs = append(errs, fmt.Errorf("inner ratio = %v, want in (0, 1)", c.InnerRatio))
	}
	errs = append(errs, c.EASE.Validate(), c.Ranker.Validate())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("train config: %w", err)
	}
	return nil
}

// Base is what the interactions alone give: embeddings, item-to-item links, the feature
// store's values, popularity and histories.
type Base struct {
	MF       *ml.MF
	ItemItem *rank.ItemItem
	Features *features.Registry
	Table    *recfeatures.Table
	// Popular lists items by interaction count, most first (ties by id).
	Popular []int64
	// History maps a user to their items in time order.
	History map[int64][]int64
	// Interactions are the inputs, in time order (the feature store's log order).
	Interactions []recfeatures.Interaction
	Took         map[string]time.Duration
}

// FitBase fits everything but the ranker on rs.
func FitBase(ctx context.Context, rs []ratings.Rating, cfg Config) (*Base, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("fit: no interactions")
	}
	b := &Base{History: map[int64][]int64{}, Took: map[string]time.Duration{}}
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(x, y ratings.Rating) int { return cmp.Compare(x.Time, y.Time) })
	users, items := make([]int64, len(sorted)), make([]int64, len(sorted))
	count := map[int64]int{}
	b.Interactions = make([]recfeatures.Interaction, len(sorted))
	for i, r := range sorted {
		users[i], items[i] = r.User, r.Item
		b.History[r.User] = append(b.History[r.User], r.Item)
		count[r.Item]++
		b.Interactions[i] = recfeatures.Interaction{User: r.User, Item: r.Item, Time: time.Unix(r.Time, 0).UTC()}
	}
	for id := range count {
		b.Popular = append(b.Popular, id)
	}
	slices.SortFunc(b.Popular, func(x, y int64) int { return cmp.Or(cmp.Compare(count[y], count[x]), cmp.Compare(x, y)) })

	t := time.Now()
	d, err := ml.InteractionDataset(users, items)
	if err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	switch cfg.Embeddings {
	case "bpr":
		b.MF, err = ml.TrainBPR(ctx, d, cfg.BPR)
	default:
		b.MF, err = ml.TrainIALS(ctx, d, cfg.IALS)
	}
	if err != nil {
		return nil, fmt.Errorf("fit %s: %w", cfg.Embeddings, err)
	}
	b.Took[cfg.Embeddings] = time.Since(t)

	t = time.Now()
	if len(count) <= cfg.EASE.MaxItems {
		em, err := ease.Train(ctx, users, items, cfg.EASE)
		if err != nil {
			return nil, fmt.Errorf("fit ease: %w", err)
		}
		buf := make([]float64, em.Len())
		one := []int{0}
		b.ItemItem, err = rank.NewDenseItemItem("ease", em.ItemIDs(), func(j int) []float64 {
			one[0] = j
			return em.Scores(one, buf)
		})
		if err != nil {
			return nil, err
		}
		b.Took["ease"] = time.Since(t)
	} else {
		hs := make([][]int64, 0, len(b.History))
		for _, h := range b.History {
			hs = append(hs, h)
		}
		if b.ItemItem, err = rank.Cooccurrence(ctx, hs, cfg.CooccurrenceTopN, 10, 200); err != nil {
			return nil, fmt.Errorf("fit co-occurrence: %w", err)
		}
		b.Took["cooccurrence"] = time.Since(t)
	}

	t = time.Now()
	b.Features = features.NewRegistry()
	if err := recfeatures.Register(b.Features); err != nil {
		return nil, err
	}
	if b.Table, err = recfeatures.ComputeTable(b.Features, b.Interactions); err != nil {
		return nil, err
	}
	b.Took["features"] = time.Since(t)
	return b, nil
}

// Candidates returns the user's top n items by the factorization, excluding seen (sorted),
// in order, by exact search: the ranker's training lists (serving retrieves the same lists
// through the ANN index, which the recall gate keeps within a few percent of these).
func (b *Base) Candidates(user int64, n int, seen []int64, scores []float64) []rank.Candidate {
	scores = b.MF.ScoreAll(user, scores)
	ids, _, _ := b.MF.ItemVectors()
	idx := make([]int, 0, len(ids))
	for i, id := range ids {
		if _, ok := slices.BinarySearch(seen, id); !ok {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Or(cmp.Compare(scores[y], scores[x]), cmp.Compare(x, y)) })
	out := make([]rank.Candidate, 0, n)
	for _, i := range idx[:min(n, len(idx))] {
		out = append(out, rank.Candidate{Item: ids[i], MF: scores[i]})
	}
	return out
}

// Rows builds the ranker's feature rows for a user's candidates from the offline table.
func (b *Base) Rows(user int64, cands []rank.Candidate, s *rank.Scratch, dst []float64) []float64 {
	var st recfeatures.Stats
	items := make([]int64, len(cands))
	for i, c := range cands {
		items[i] = c.Item
	}
	b.Table.Lookup(user, items, &st)
	return rank.Fill(dst, cands, rank.Inputs{History: b.History[user], Stats: st, ItemItem: b.ItemItem}, s)
}

// Models is a fitted recommender.
type Models struct {
	*Base
	Ranker *ml.GBDT
	// RankerRows and RankerPositives describe the ranker's training set.
	RankerRows, RankerPositives int
	// Holdout is NDCG@10 on the inner lists of the users held out from the ranker's
	// training (one in HoldoutEvery): the factorization's order against the ranker's.
	Holdout Holdout
	// PIIPolicy says how the user ids trained on were handled (pii.Tokenizer.Policy), set
	// by the caller that tokenized the ratings; Publish records it in each version's
	// Privacy. Empty: the ids were not tokenized.
	PIIPolicy string

	cfg Config
	// rankerSet and rankerGroups are the ranker's candidate lists (the pipeline's training
	// set for it), and fitted the models Fit trained, keyed by what they were trained on
	// (pairsKey of the ratings for a factorization, the data's fingerprint for the
	// ranker): the pipelines' trainers reuse a fit on identical rows instead of redoing it.
	rankerSet    ml.Dataset
	rankerGroups []int32
	fitted       map[string]ml.Model
}

// Holdout is the ranker's check on users it was not trained on.
type Holdout struct {
	Users              int
	MFNDCG, RankerNDCG float64
	// GainSE is the standard error of the mean per-user gain (ranker minus base order).
	GainSE float64
}

// HoldoutEvery holds one user in this many out of the ranker's training, to measure it.
const HoldoutEvery = 5

// Fit fits the base models on an inner split of train, trains the ranker on their
// candidate lists labelled by the held-out part, then refits the base models on all of
// train.
func Fit(ctx context.Context, train []ratings.Rating, cfg Config) (*Models, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fit, valid := innerSplit(train, cfg)
	inner, err := FitBase(ctx, fit, cfg)
	if err != nil {
		return nil, fmt.Errorf("fit inner: %w", err)
	}
	d, groups, _, err := RankerSet(ctx, inner, fit, capUsers(valid, cfg.RankerUsers), cfg.Candidates)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	fitD, fitG, evalD, evalG := holdOut(d, groups)
	ranker, err := ml.TrainGBDTRank(ctx, fitD, fitG, RankK, cfg.Ranker)
	if err != nil {
		return nil, fmt.Errorf("fit ranker: %w", err)
	}
	took := time.Since(t)
	hold, err := holdoutNDCG(ranker, evalD, evalG)
	if err != nil {
		return nil, err
	}
	full, err := FitBase(ctx, train, cfg)
	if err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	full.Took["ranker"] = took
	fitPos := 0
	for _, y := range fitD.Y {
		if y > 0 {
			fitPos++
		}
	}
	m := &Models{Base: full, Ranker: ranker, RankerRows: fitD.Rows(), RankerPositives: fitPos, Holdout: hold,
		cfg: cfg, rankerSet: d, rankerGroups: groups, fitted: map[string]ml.Model{}}
	m.fitted[ratingsKey(fit)] = inner.MF
	m.fitted[ratingsKey(train)] = full.MF
	m.fitted[fitD.Fingerprint()] = ranker
	return m, nil
}

// capUsers keeps the ratings of at most n users, taken evenly from the sorted user ids.
func capUsers(rs []ratings.Rating, n int) []ratings.Rating {
	users := ratings.Set(rs).Users()
	if len(users) <= n {
		return rs
	}
	keep := make(map[int64]bool, n)
	for i := range n {
		keep[users[i*len(users)/n]] = true
	}
	out := make([]ratings.Rating, 0, len(rs)*n/len(users)+1)
	for _, r := range rs {
		if keep[r.User] {
			out = append(out, r)
		}
	}
	return out
}

// holdOut moves every HoldoutEvery-th group to the evaluation set.
func holdOut(d ml.Dataset, groups []int32) (fit ml.Dataset, fitG []int32, eval ml.Dataset, evalG []int32) {
	fit, eval = ml.Dataset{Schema: d.Schema}, ml.Dataset{Schema: d.Schema}
	k := d.Schema.Len()
	for i, g := range groups {
		if g%HoldoutEvery == HoldoutEvery-1 {
			eval.X, eval.Y, evalG = append(eval.X, d.X[i*k:(i+1)*k]...), append(eval.Y, d.Y[i]), append(evalG, g)
		} else {
			fit.X, fit.Y, fitG = append(fit.X, d.X[i*k:(i+1)*k]...), append(fit.Y, d.Y[i]), append(fitG, g)
		}
	}
	return fit, fitG, eval, evalG
}

// holdoutNDCG scores the evaluation lists in their retrieval order and in the ranker's.
func holdoutNDCG(ranker ml.Model, d ml.Dataset, groups []int32) (Holdout, error) {
	var h Holdout
	var sq float64 // sum of squared per-user gains
	p := make([]float64, d.Rows())
	if d.Rows() > 0 {
		if err := ranker.Predict(d.Batch(), p); err != nil {
			return h, fmt.Errorf("ranker holdout: %w", err)
		}
	}
	for lo := 0; lo < len(groups); {
		hi := lo
		for hi < len(groups) && groups[hi] == groups[lo] {
			hi++
		}
		ys := d.Y[lo:hi]
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = i
		}
		mf := listNDCG(ys, idx)
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(p[lo+b], p[lo+a]) })
		rk := listNDCG(ys, idx)
		if !math.IsNaN(mf) {
			h.Users++
			h.MFNDCG += mf
			h.RankerNDCG += rk
			sq += (rk - mf) * (rk - mf)
		}
		lo = hi
	}
	if h.Users > 0 {
		n := float64(h.Users)
		h.MFNDCG /= n
		h.RankerNDCG /= n
		if h.Users > 1 {
			g := h.RankerNDCG - h.MFNDCG
			h.GainSE = math.Sqrt(max(0, sq/n-g*g) * n / (n - 1) / n)
		}
	}
	return h, nil
}

// listNDCG is NDCG@RankK of a list visited in order (NaN without a relevant item).
func listNDCG(ys []float64, order []int) float64 {
	rel := 0
	for _, y := range ys {
		if y > 0 {
			rel++
		}
	}
	if rel == 0 {
		return math.NaN()
	}
	var dcg, idcg float64
	for r := 0; r < RankK && r < len(order); r++ {
		if ys[order[r]] > 0 {
			dcg += 1 / math.Log2(float64(r)+2)
		}
		if r < rel {
			idcg += 1 / math.Log2(float64(r)+2)
		}
	}
	return dcg / idcg
}

// RankK is the cut the ranker's LambdaRank objective optimises NDCG at.
const RankK = 10

// RankerSet labels each candidate list of base (fitted on seen) by held: 1 for an item the
// user has in held, 0 otherwise. A list is one group (its user's index in the result).
func RankerSet(ctx context.Context, base *Base, seen, held []ratings.Rating, n int) (ml.Dataset, []int32, int, error) {
	seenBy := ratings.Set(seen).ItemsByUser()
	heldBy := ratings.Set(held).ItemsByUser()
	users := make([]int64, 0, len(heldBy))
	for u := range heldBy {
		users = append(users, u)
	}
	slices.Sort(users)
	d := ml.Dataset{Schema: rank.Schema}
	var (
		s      rank.Scratch
		scores []float64
		row    []float64
		pos    int
		groups []int32
	)
	for i, u := range users {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return ml.Dataset{}, nil, 0, err
			}
		}
		if _, ok := base.MF.UserVector(u); !ok {
			continue
		}
		sorted := slices.Sorted(slices.Values(seenBy[u]))
		want := slices.Sorted(slices.Values(heldBy[u]))
		cands := base.Candidates(u, n, sorted, scores)
		row = base.Rows(u, cands, &s, row)
		d.X = append(d.X, row...)
		for _, c := range cands {
			groups = append(groups, int32(i))
			y := 0.0
			if _, ok := slices.BinarySearch(want, c.Item); ok {
				y = 1
				pos++
			}
			d.Y = append(d.Y, y)
		}
	}
	if pos == 0 {
		return ml.Dataset{}, nil, 0, fmt.Errorf("ranker set: no held-out item among %d users' candidates", len(users))
	}
	return d, groups, pos, nil
}
