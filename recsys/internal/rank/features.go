package rank

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
)

// Schema is the ranker's input, in order. Every feature is computed by Fill, on both the
// offline and the online path.
var Schema = func() ml.Schema {
	names := []string{"mf_score_z", "mf_gap_z", "retrieval_rank", "itemitem_sum_rel", "itemitem_max_rel", "itemitem_rank"}
	for _, d := range recfeatures.ItemWindows {
		names = append(names, fmt.Sprintf("log_item_count_%dd", d))
	}
	for _, d := range recfeatures.UserWindows {
		names = append(names, fmt.Sprintf("log_user_count_%dd", d))
	}
	names = append(names, "log_history")
	return ml.FloatSchema(names...)
}()

// Width is Schema.Len().
var Width = Schema.Len()

// Candidate is one item retrieval proposed, with the factorization's score for the user.
type Candidate struct {
	Item int64
	MF   float64
}

// Inputs is everything Fill reads besides the candidates.
type Inputs struct {
	// History is the items the user already has (excluded from the candidates).
	History []int64
	// Stats are the feature store's values for the user and for each candidate, in order.
	Stats recfeatures.Stats
	// ItemItem may be nil: its sum and max features are then 0 and its rank 1 (last), as
	// for a candidate the history has no link to.
	ItemItem *ItemItem
}

// Scratch holds per-request buffers; reuse one per goroutine.
type Scratch struct {
	ii       ScoreScratch
	items    []int64
	sum, mx  []float64
	order    []int32
	rankOfII []float64
}

// Fill writes len(cands) rows of Width features into dst (row-major) and returns it. The
// candidates must be in retrieval order (best first).
func Fill(dst []float64, cands []Candidate, in Inputs, s *Scratch) []float64 {
	n := len(cands)
	dst = append(dst[:0], make([]float64, n*Width)...)
	if n == 0 {
		return dst
	}
	s.sum = append(s.sum[:0], make([]float64, n)...)
	s.mx = append(s.mx[:0], make([]float64, n)...)
	if in.ItemItem != nil {
		s.items = s.items[:0]
		for _, cd := range cands {
			s.items = append(s.items, cd.Item)
		}
		in.ItemItem.Score(in.History, s.items, &s.ii, s.sum, s.mx)
	}
	// The item-item model's own rank of each candidate, as a fraction of the list.
	s.order = s.order[:0]
	for c := range cands {
		s.order = append(s.order, int32(c))
	}
	// Ties keep retrieval order: the index breaks them, which is a stable sort's order
	// without its merge passes.
	slices.SortFunc(s.order, func(a, b int32) int { return cmp.Or(cmp.Compare(s.sum[b], s.sum[a]), cmp.Compare(a, b)) })
	s.rankOfII = append(s.rankOfII[:0], make([]float64, n)...)
	for r, c := range s.order {
		s.rankOfII[c] = float64(r) / float64(n)
		if s.sum[c] == 0 {
			s.rankOfII[c] = 1 // no link from the history: no evidence, last
		}
	}
	best := cands[0].MF
	var mean, m2 float64
	for _, cd := range cands {
		mean += cd.MF
	}
	mean /= float64(n)
	for _, cd := range cands {
		m2 += (cd.MF - mean) * (cd.MF - mean)
	}
	spread := math.Sqrt(m2 / float64(n))
	if spread == 0 {
		spread = 1
	}
	topII := 1.0
	if v := s.sum[s.order[0]]; v > 0 {
		topII = v
	}
	user := make([]float64, len(recfeatures.UserWindows))
	for i := range user {
		if i < len(in.Stats.User) {
			user[i] = math.Log1p(in.Stats.User[i])
		}
	}
	hist := math.Log1p(float64(len(in.History)))
	for c, cd := range cands {
		row := dst[c*Width : (c+1)*Width]
		row[0] = (cd.MF - mean) / spread
		row[1] = (best - cd.MF) / spread
		row[2] = float64(c) / float64(n)
		row[3] = s.sum[c] / topII
		row[4] = s.mx[c] / topII
		row[5] = s.rankOfII[c]
		k := 6
		for w := range recfeatures.ItemWindows {
			if c < len(in.Stats.Items) && w < len(in.Stats.Items[c]) {
				row[k] = math.Log1p(in.Stats.Items[c][w])
			}
			k++
		}
		k += copy(row[k:], user)
		row[k] = hist
	}
	return dst
}
