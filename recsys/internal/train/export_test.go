package train

import (
	"context"
	"maps"
	"math/rand/v2"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Sabotaged returns a copy of m whose fitted factorizations are replaced by one trained
// on the interactions with their items shuffled among them (every id kept, every taste
// destroyed) and whose ranker is trained on inverted labels: bad models for the gates.
func Sabotaged(ctx context.Context, m *Models) (*Models, error) {
	users, items := make([]int64, len(m.Interactions)), make([]int64, len(m.Interactions))
	for i, in := range m.Interactions {
		users[i], items[i] = in.User, in.Item
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	d, err := ml.InteractionDataset(users, items)
	if err != nil {
		return nil, err
	}
	var mf *ml.MF
	if m.cfg.Embeddings == "bpr" {
		mf, err = ml.TrainBPR(ctx, d, m.cfg.BPR)
	} else {
		mf, err = ml.TrainIALS(ctx, d, m.cfg.IALS)
	}
	if err != nil {
		return nil, err
	}
	var fitG []int32
	var fit []int
	for i, g := range m.rankerGroups {
		if g%HoldoutEvery != HoldoutEvery-1 {
			fitG, fit = append(fitG, g), append(fit, i)
		}
	}
	rd := m.rankerSet.Subset(fit)
	key := rd.Fingerprint()
	for i, y := range rd.Y {
		rd.Y[i] = 1 - y
	}
	ranker, err := ml.TrainGBDTRank(ctx, rd, fitG, RankK, m.cfg.Ranker)
	if err != nil {
		return nil, err
	}
	out := *m
	out.fitted = maps.Clone(m.fitted)
	for k, v := range out.fitted {
		if _, ok := v.(*ml.MF); ok {
			out.fitted[k] = mf
		}
	}
	out.fitted[key] = ranker
	return &out, nil
}
