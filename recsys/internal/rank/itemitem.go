// Package rank is the recommender's second stage: the ranking features of a (user,
// candidate) pair, computed by one function offline (the ranker's training set, the
// evaluation) and online (every request); an item-to-item model whose scores are one of
// those features; the ranker itself (gradient-boosted trees from platform/ml); and a
// maximal-marginal-relevance re-rank that trades relevance for diversity.
package rank

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
)

// Neighbor is one weighted item-to-item link.
type Neighbor struct {
	Item   int64
	Weight float32
}

// ItemItem scores a candidate for a user by the links from the items the user already
// has: score(u, i) = Σ_{j ∈ history(u)} w(j → i). From EASE (Steck 2019) the links are a
// row-truncated copy of its weight matrix, exact when nothing is truncated; for catalogues
// too large for EASE's dense inverse they are cosine similarities of co-occurrence counts.
type ItemItem struct {
	Source string // "ease" or "cooccurrence"
	ids    []int64
	rows   [][]Neighbor
	// to[off[j]+k] is the index in ids of rows[j][k].Item: Score follows links by index
	// into per-request arrays instead of probing a map with every link's id. One flat
	// slice, not one per item: nothing for the garbage collector to trace.
	to  []int32
	off []int32
	// dense, when set, holds every weight: dense[j*len(ids)+i] = w(ids[j] → ids[i]). A
	// request then reads |history| × |candidates| weights directly instead of walking
	// every link of every history item (EASE keeps all n links per item).
	dense []float32
}

// MaxHistory caps how many of a user's most recent items score a candidate: each costs a
// walk over its links (sparse) or a read per candidate (dense), and a user's last hundred
// items say most of what the rest would.
const MaxHistory = 100

// NewDenseItemItem keeps every weight of row(j) for each item ids[j] (self-links zeroed):
// exact EASE scores, n² float32s (10 MB for 1,600 items).
func NewDenseItemItem(source string, ids []int64, row func(j int) []float64) (*ItemItem, error) {
	if !slices.IsSorted(ids) {
		return nil, fmt.Errorf("item-item: ids must be sorted")
	}
	n := len(ids)
	m := &ItemItem{Source: source, ids: slices.Clone(ids), dense: make([]float32, n*n)}
	for j := range ids {
		w := row(j)
		if len(w) != n {
			return nil, fmt.Errorf("item-item: row %d has %d weights, want %d", j, len(w), n)
		}
		d := m.dense[j*n : (j+1)*n]
		for i, x := range w {
			if i != j && !math.IsNaN(x) {
				d[i] = float32(x)
			}
		}
	}
	return m, nil
}

func (m *ItemItem) indexOf(id int64) int {
	i, ok := slices.BinarySearch(m.ids, id)
	if !ok {
		return -1
	}
	return i
}

// NewItemItem keeps, for each item ids[j], the topN links of row(j) by weight (row(j)[i]
// is the weight j → ids[i]; zero weights are dropped).
func NewItemItem(source string, ids []int64, row func(j int) []float64, topN int) (*ItemItem, error) {
	if !slices.IsSorted(ids) {
		return nil, fmt.Errorf("item-item: ids must be sorted")
	}
	m := &ItemItem{Source: source, ids: slices.Clone(ids), rows: make([][]Neighbor, len(ids))}
	for j := range ids {
		w := row(j)
		if len(w) != len(ids) {
			return nil, fmt.Errorf("item-item: row %d has %d weights, want %d", j, len(w), len(ids))
		}
		var ns []Neighbor
		for i, x := range w {
			if x != 0 && i != j && !math.IsNaN(x) {
				ns = append(ns, Neighbor{Item: ids[i], Weight: float32(x)})
			}
		}
		slices.SortFunc(ns, func(a, b Neighbor) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Item, b.Item))
		})
		if topN > 0 && len(ns) > topN {
			ns = ns[:topN]
		}
		m.rows[j] = slices.Clip(ns)
	}
	m.index()
	return m, nil
}

// index fills m.to from m.rows.
func (m *ItemItem) index() {
	m.off = make([]int32, len(m.rows)+1)
	for j, ns := range m.rows {
		m.off[j+1] = m.off[j] + int32(len(ns))
	}
	m.to = make([]int32, 0, m.off[len(m.rows)])
	for _, ns := range m.rows {
		for _, n := range ns {
			m.to = append(m.to, int32(m.indexOf(n.Item)))
		}
	}
}

// Cooccurrence builds links from interaction histories: w(j → i) = c(i, j) / (sqrt(c(i)
// c(j)) + shrink), the topN per item. Cost Σ_u |history(u)|²: cap long histories with
// maxHistory (the most recent are kept by the caller's order).
func Cooccurrence(ctx context.Context, histories [][]int64, topN int, shrink float64, maxHistory int) (*ItemItem, error) {
	count := map[int64]float64{}
	for _, h := range histories {
		for _, it := range h[max(0, len(h)-maxHistory):] {
			count[it]++
		}
	}
	ids := make([]int64, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	pos := make(map[int64]int32, len(ids))
	for i, id := range ids {
		pos[id] = int32(i)
	}
	pairs := make([]map[int32]float32, len(ids))
	for n, h := range histories {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		h = h[max(0, len(h)-maxHistory):]
		for a, x := range h {
			px := pos[x]
			for _, y := range h[a+1:] {
				py := pos[y]
				if px == py {
					continue
				}
				for _, p := range [2][2]int32{{px, py}, {py, px}} {
					if pairs[p[0]] == nil {
						pairs[p[0]] = map[int32]float32{}
					}
					pairs[p[0]][p[1]]++
				}
			}
		}
	}
	m := &ItemItem{Source: "cooccurrence", ids: ids, rows: make([][]Neighbor, len(ids))}
	for j, row := range pairs {
		ns := make([]Neighbor, 0, len(row))
		cj := count[ids[j]]
		for i, c := range row {
			ns = append(ns, Neighbor{Item: ids[i], Weight: float32(float64(c) / (math.Sqrt(count[ids[i]]*cj) + shrink))})
		}
		slices.SortFunc(ns, func(a, b Neighbor) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Item, b.Item))
		})
		if topN > 0 && len(ns) > topN {
			ns = ns[:topN]
		}
		m.rows[j] = slices.Clip(ns)
	}
	m.index()
	return m, nil
}

// Links returns the links out of item j (nil for an unknown item), strongest first.
func (m *ItemItem) Links(j int64) []Neighbor {
	i := m.indexOf(j)
	if i < 0 {
		return nil
	}
	if m.dense != nil {
		n := len(m.ids)
		var ns []Neighbor
		for k, w := range m.dense[i*n : (i+1)*n] {
			if w != 0 {
				ns = append(ns, Neighbor{Item: m.ids[k], Weight: w})
			}
		}
		slices.SortFunc(ns, func(a, b Neighbor) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Item, b.Item))
		})
		return ns
	}
	return m.rows[i]
}

// ScoreScratch is Score's per-request working memory; reuse one per goroutine. Its
// arrays have one slot per item of the model (a few hundred KB at 100,000 items), which
// is what lets a link find its candidate by index instead of by a map probe.
type ScoreScratch struct {
	ci   []int32  // candidate → index in the model's ids (−1: unknown item)
	mark []uint32 // model index → gen when that item is a candidate
	slot []int32  // model index → its candidate position
	gen  uint32
}

// candidates maps cands to model indexes in s.ci and, for the sparse walk, marks them.
func (m *ItemItem) candidates(cands []int64, s *ScoreScratch, mark bool) {
	s.ci = s.ci[:0]
	for _, id := range cands {
		s.ci = append(s.ci, int32(m.indexOf(id)))
	}
	if !mark {
		return
	}
	if n := len(m.ids); len(s.mark) != n {
		s.mark, s.slot, s.gen = make([]uint32, n), make([]int32, n), 0
	}
	s.gen++
	if s.gen == 0 { // wrapped: every old mark could read as current
		clear(s.mark)
		s.gen = 1
	}
	for c, i := range s.ci {
		if i >= 0 {
			s.mark[i], s.slot[i] = s.gen, int32(c) // a repeated item: the last position wins
		}
	}
}

// Score adds to sum[c] and raises max[c] for every candidate c (cands[c]) that the
// history (its last MaxHistory items) links to.
func (m *ItemItem) Score(history, cands []int64, s *ScoreScratch, sum, mx []float64) {
	history = history[max(0, len(history)-MaxHistory):]
	if m.dense != nil {
		m.candidates(cands, s, false)
		n := len(m.ids)
		for _, j := range history {
			r := m.indexOf(j)
			if r < 0 {
				continue
			}
			row := m.dense[r*n : (r+1)*n]
			for c, i := range s.ci {
				if i >= 0 {
					w := float64(row[i])
					sum[c] += w
					if w > mx[c] {
						mx[c] = w
					}
				}
			}
		}
		return
	}
	// Sparse links: every link of every history item is looked at, so only the most
	// recent MaxSparseHistory items score.
	m.candidates(cands, s, true)
	mark, slot, gen := s.mark, s.slot, s.gen
	for _, j := range history[max(0, len(history)-MaxSparseHistory):] {
		r := m.indexOf(j)
		if r < 0 {
			continue
		}
		ns, to := m.rows[r], m.to[m.off[r]:m.off[r+1]]
		for k, i := range to {
			if i >= 0 && mark[i] == gen {
				c := slot[i]
				w := float64(ns[k].Weight)
				sum[c] += w
				if w > mx[c] {
					mx[c] = w
				}
			}
		}
	}
}

// MaxSparseHistory caps the history items whose links a sparse (co-occurrence) model walks.
const MaxSparseHistory = 50

// ScoreAll adds to dst (indexed by index(id)) the score of every item the history links
// to: a full ranking by this model alone.
func (m *ItemItem) ScoreAll(history []int64, index func(id int64) int, dst []float64) {
	if m.dense != nil {
		n := len(m.ids)
		for _, j := range history {
			r := m.indexOf(j)
			if r < 0 {
				continue
			}
			for k, w := range m.dense[r*n : (r+1)*n] {
				if i := index(m.ids[k]); i >= 0 && w != 0 {
					dst[i] += float64(w)
				}
			}
		}
		return
	}
	for _, j := range history {
		for _, n := range m.Links(j) {
			if i := index(n.Item); i >= 0 {
				dst[i] += float64(n.Weight)
			}
		}
	}
}

// Len is the number of items with links.
func (m *ItemItem) Len() int { return len(m.ids) }
