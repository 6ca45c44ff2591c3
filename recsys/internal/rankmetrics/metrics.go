// Package rankmetrics computes full-ranking top-k metrics (NDCG, precision, recall, MAP)
// with the definitions Microsoft Recommenders uses for its published MovieLens benchmark,
// and ranks a full catalogue of scores into a top-k list.
//
// Relevance is binary: every held-out rating of a user is relevant, whatever its value.
// Recommendation lists are expected to exclude the items a user rated in training.
package rankmetrics

import (
	"fmt"
	"math"
)

// Metrics are averages over the evaluated users.
type Metrics struct {
	Users int // users evaluated: with at least one test item and a recommendation list
	// NDCG@k with binary gains: DCG = Σ over hits 1/log2(rank+1), divided by the DCG of an
	// ideal list with min(k, |test items|) hits. (Recommenders' ndcg_at_k uses the natural
	// log in both, which cancels.)
	NDCG float64
	// Precision@k = hits / k, also when the list is shorter than k (as Recommenders).
	Precision float64
	// Recall@k = hits / |test items|.
	Recall float64
	// MAP@k = Σ over hit ranks r of (hits within the first r)/r, divided by |test items|:
	// the definition behind Recommenders' published "MAP" column (BPR on ML-100K: MAP
	// 0.132, NDCG 0.442), map_at_k in older releases and map in newer ones.
	MAP float64
	// MAPMinK is the same sum divided by min(k, |test items|), the usual MAP@k (Spark
	// MLlib's, and map_at_k in newer Recommenders releases), which a perfect list scores 1 on.
	MAPMinK float64
}

func (m Metrics) String() string {
	return fmt.Sprintf("users=%d ndcg=%.4f precision=%.4f recall=%.4f map=%.4f map_min_k=%.4f",
		m.Users, m.NDCG, m.Precision, m.Recall, m.MAP, m.MAPMinK)
}

// Evaluate scores recs (each user's ranked list, best first; only the first k count)
// against test (each user's held-out items). Users evaluated are those in both maps with
// at least one test item, which is Recommenders' intersection of the users in the truth
// and in the predictions. A test user with no training history is still evaluated when the
// caller recommends to them (for instance by popularity); a test user the caller gives no
// list is left out, as Recommenders leaves out a user absent from its predictions; an
// empty list counts as a list with no hits. It panics if k < 1.
func Evaluate(recs, test map[int64][]int64, k int) Metrics {
	a := NewAccumulator(k)
	for u, items := range test {
		if r, ok := recs[u]; ok {
			a.Add(r, items)
		}
	}
	return a.Metrics()
}

// Accumulator sums the metrics one user at a time, so an evaluation need not hold every
// list at once. It is not safe for concurrent use; sum per goroutine and Merge.
type Accumulator struct {
	k        int
	discount []float64 // discount[r-1] = 1/log2(r+1)
	idcg     []float64 // idcg[n] = Σ_{r≤n} discount[r-1]
	relevant map[int64]bool
	users    int
	sum      Metrics
}

// NewAccumulator returns an empty accumulator for top-k metrics. It panics if k < 1.
func NewAccumulator(k int) *Accumulator {
	if k < 1 {
		panic(fmt.Sprintf("rankmetrics: k = %d < 1", k))
	}
	a := &Accumulator{k: k, discount: make([]float64, k), idcg: make([]float64, k+1), relevant: map[int64]bool{}}
	for r := 1; r <= k; r++ {
		a.discount[r-1] = 1 / math.Log2(float64(r)+1)
		a.idcg[r] = a.idcg[r-1] + a.discount[r-1]
	}
	return a
}

// Add scores one user's ranked list against their test items. A user without test items
// is not evaluated. An item repeated in recs counts at its first rank only.
func (a *Accumulator) Add(recs, test []int64) {
	if len(test) == 0 {
		return
	}
	clear(a.relevant)
	for _, it := range test {
		a.relevant[it] = true
	}
	nrel := len(a.relevant)
	var hits int
	var dcg, ap float64
	for i, it := range recs[:min(len(recs), a.k)] {
		if !a.relevant[it] {
			continue
		}
		a.relevant[it] = false // a repeat is no second hit
		hits++
		dcg += a.discount[i]
		ap += float64(hits) / float64(i+1)
	}
	a.users++
	a.sum.NDCG += dcg / a.idcg[min(a.k, nrel)]
	a.sum.Precision += float64(hits) / float64(a.k)
	a.sum.Recall += float64(hits) / float64(nrel)
	a.sum.MAP += ap / float64(nrel)
	a.sum.MAPMinK += ap / float64(min(a.k, nrel))
}

// Merge adds b's users to a. Both must use the same k.
func (a *Accumulator) Merge(b *Accumulator) {
	if a.k != b.k {
		panic(fmt.Sprintf("rankmetrics: merge k = %d into k = %d", b.k, a.k))
	}
	a.users += b.users
	a.sum.NDCG += b.sum.NDCG
	a.sum.Precision += b.sum.Precision
	a.sum.Recall += b.sum.Recall
	a.sum.MAP += b.sum.MAP
	a.sum.MAPMinK += b.sum.MAPMinK
}

// Metrics returns the averages so far; all zero before any user.
func (a *Accumulator) Metrics() Metrics {
	if a.users == 0 {
		return Metrics{}
	}
	n := float64(a.users)
	return Metrics{
		Users:     a.users,
		NDCG:      a.sum.NDCG / n,
		Precision: a.sum.Precision / n,
		Recall:    a.sum.Recall / n,
		MAP:       a.sum.MAP / n,
		MAPMinK:   a.sum.MAPMinK / n,
	}
}
