package rank

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// benchSparse is a co-occurrence-shaped model at the large simulation's size: 100,000
// items with 100 links each.
func benchSparse(b *testing.B) *ItemItem {
	const n, links = 100_000, 100
	rng := rand.New(rand.NewPCG(1, 2))
	m := &ItemItem{Source: "cooccurrence", ids: make([]int64, n), rows: make([][]Neighbor, n)}
	for i := range m.ids {
		m.ids[i] = int64(i + 1)
	}
	for j := range m.rows {
		ns := make([]Neighbor, links)
		for k := range ns {
			ns[k] = Neighbor{Item: int64(1 + rng.IntN(n)), Weight: rng.Float32()}
		}
		m.rows[j] = ns
	}
	m.index()
	return m
}

// BenchmarkItemItemScoreSparse scores 200 candidates from a 50-item history on a 100,000
// item co-occurrence model: "index" is Score (links followed by index), "map" the walk it
// replaced (a candidate → position map probed with every link's id).
func BenchmarkItemItemScoreSparse(b *testing.B) {
	m := benchSparse(b)
	rng := rand.New(rand.NewPCG(3, 4))
	history := make([]int64, MaxSparseHistory)
	cands := make([]int64, 200)
	for i := range history {
		history[i] = int64(1 + rng.IntN(len(m.ids)))
	}
	for i := range cands {
		cands[i] = int64(1 + rng.IntN(len(m.ids)))
	}
	sum, mx := make([]float64, len(cands)), make([]float64, len(cands))
	b.Run("index", func(b *testing.B) {
		var s ScoreScratch
		b.ReportAllocs()
		for b.Loop() {
			clear(sum)
			clear(mx)
			m.Score(history, cands, &s, sum, mx)
		}
	})
	b.Run("map", func(b *testing.B) {
		pos := make(map[int64]int32, len(cands))
		b.ReportAllocs()
		for b.Loop() {
			clear(sum)
			clear(mx)
			clear(pos)
			for c, id := range cands {
				pos[id] = int32(c)
			}
			for _, j := range history {
				for _, n := range m.Links(j) {
					if c, ok := pos[n.Item]; ok {
						w := float64(n.Weight)
						sum[c] += w
						if w > mx[c] {
							mx[c] = w
						}
					}
				}
			}
		}
	})
	_ = slices.Max(sum)
}
