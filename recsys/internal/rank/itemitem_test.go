package rank_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/recsys/internal/rank"
)

// dense returns a row function over a fixed weight matrix.
func dense(w [][]float64) func(j int) []float64 {
	return func(j int) []float64 { return w[j] }
}

func TestNewItemItem(t *testing.T) {
	ids := []int64{10, 20, 30, 40}
	// Row j holds the weights j → ids[i]. The diagonal is non-zero on purpose: a self-link
	// must be dropped whatever its weight. Row 30 has a NaN, which must be dropped too.
	w := [][]float64{
		{9, 0.5, 0.25, 0.75},    // 10 → 40 (0.75), 20 (0.5), 30 (0.25)
		{0.1, 9, 0, -0.3},       // 20 → 10 (0.1), 40 (-0.3); 30 is a zero
		{0, 0.2, 9, math.NaN()}, // 30 → 20 (0.2)
		{0, 0, 0, 9},            // 40 → nothing
	}
	tests := []struct {
		name string
		topN int
		want map[int64][]rank.Neighbor
	}{
		{"all links", 0, map[int64][]rank.Neighbor{
			10: {{40, 0.75}, {20, 0.5}, {30, 0.25}},
			20: {{10, 0.1}, {40, -0.3}},
			30: {{20, 0.2}},
			40: nil,
		}},
		{"top 2 keeps the largest weights", 2, map[int64][]rank.Neighbor{
			10: {{40, 0.75}, {20, 0.5}},
			20: {{10, 0.1}, {40, -0.3}},
			30: {{20, 0.2}},
			40: nil,
		}},
		{"top 1", 1, map[int64][]rank.Neighbor{
			10: {{40, 0.75}},
			20: {{10, 0.1}},
			30: {{20, 0.2}},
			40: nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := rank.NewItemItem("ease", ids, dense(w), tt.topN)
			if err != nil {
				t.Fatalf("NewItemItem(topN %d) = %v, want nil", tt.topN, err)
			}
			if m.Len() != len(ids) || m.Source != "ease" {
				t.Errorf("NewItemItem: Len() = %d, Source = %q; want %d, %q", m.Len(), m.Source, len(ids), "ease")
			}
			for j, want := range tt.want {
				if got := m.Links(j); !slices.Equal(got, want) {
					t.Errorf("Links(%d) = %v, want %v", j, got, want)
				}
			}
			if got := m.Links(99); got != nil {
				t.Errorf("Links(99) = %v, want nil for an unknown item", got)
			}
		})
	}
}

func TestNewItemItemRefuses(t *testing.T) {
	square := func(n int) func(int) []float64 {
		return func(int) []float64 { return make([]float64, n) }
	}
	tests := []struct {
		name string
		ids  []int64
		row  func(int) []float64
	}{
		{"unsorted ids", []int64{10, 30, 20}, square(3)},
		{"row too short", []int64{10, 20, 30}, square(2)},
		{"row too long", []int64{10, 20, 30}, square(4)},
		{"one ragged row", []int64{10, 20, 30}, func(j int) []float64 { return make([]float64, 3+j/2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := rank.NewItemItem("ease", tt.ids, tt.row, 0); err == nil {
				t.Errorf("NewItemItem(%v) = %v, nil; want an error", tt.ids, m)
			}
		})
	}
}

func TestCooccurrence(t *testing.T) {
	// Histories:      u1: 1 2 3   u2: 1 2   u3: 2 3   u4: 1
	// Counts:         c(1) = 3 (u1, u2, u4), c(2) = 3 (u1, u2, u3), c(3) = 2 (u1, u3)
	// Co-occurrences: c(1,2) = 2 (u1, u2), c(1,3) = 1 (u1), c(2,3) = 2 (u1, u3)
	// w(j → i) = c(i,j) / (sqrt(c(i) c(j)) + shrink); with shrink 0:
	//   w(1→2) = w(2→1) = 2/sqrt(9) = 2/3
	//   w(1→3) = w(3→1) = 1/sqrt(6)
	//   w(2→3) = w(3→2) = 2/sqrt(6)
	// with shrink 1 the denominators are 4, sqrt(6)+1, sqrt(6)+1.
	histories := [][]int64{{1, 2, 3}, {1, 2}, {2, 3}, {1}}
	s6 := math.Sqrt(6)
	nb := func(item int64, w float64) rank.Neighbor { return rank.Neighbor{Item: item, Weight: float32(w)} }
	tests := []struct {
		name       string
		histories  [][]int64
		topN       int
		shrink     float64
		maxHistory int
		want       map[int64][]rank.Neighbor
	}{
		{"shrink 0", histories, 0, 0, 100, map[int64][]rank.Neighbor{
			1: {nb(2, 2.0/3), nb(3, 1/s6)},
			2: {nb(3, 2/s6), nb(1, 2.0/3)},
			3: {nb(2, 2/s6), nb(1, 1/s6)},
		}},
		{"shrink 1", histories, 0, 1, 100, map[int64][]rank.Neighbor{
			1: {nb(2, 2.0/4), nb(3, 1/(s6+1))},
			2: {nb(3, 2/(s6+1)), nb(1, 2.0/4)},
			3: {nb(2, 2/(s6+1)), nb(1, 1/(s6+1))},
		}},
		{"top 1", histories, 1, 0, 100, map[int64][]rank.Neighbor{
			1: {nb(2, 2.0/3)},
			2: {nb(3, 2/s6)},
			3: {nb(2, 2/s6)},
		}},
		// maxHistory 2 keeps the last two of each history: u1 becomes 2 3, so
		// c(1) = 2, c(2) = 3, c(3) = 2, c(1,2) = 1 (u2), c(2,3) = 2, c(1,3) = 0.
		{"max history 2", histories, 0, 0, 2, map[int64][]rank.Neighbor{
			1: {nb(2, 1/s6)},
			2: {nb(3, 2/s6), nb(1, 1/s6)},
			3: {nb(2, 2/s6)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := rank.Cooccurrence(context.Background(), tt.histories, tt.topN, tt.shrink, tt.maxHistory)
			if err != nil {
				t.Fatalf("Cooccurrence = %v, want nil", err)
			}
			if m.Source != "cooccurrence" || m.Len() != 3 {
				t.Errorf("Cooccurrence: Source %q, Len %d; want cooccurrence, 3", m.Source, m.Len())
			}
			for j, want := range tt.want {
				got := m.Links(j)
				if len(got) != len(want) {
					t.Errorf("Links(%d) = %v, want %v", j, got, want)
					continue
				}
				for k := range got {
					if got[k].Item != want[k].Item || !(math.Abs(float64(got[k].Weight-want[k].Weight)) <= 1e-6) {
						t.Errorf("Links(%d) = %v, want %v", j, got, want)
						break
					}
				}
			}
		})
	}
}

func TestCooccurrenceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rank.Cooccurrence(ctx, [][]int64{{1, 2}}, 0, 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Cooccurrence(cancelled) = %v, want context.Canceled", err)
	}
}

// tinyModel: 10 → 30 (0.5), 40 (0.25); 20 → 30 (0.25), 50 (1); 30 → 10 (2).
func tinyModel(t *testing.T) *rank.ItemItem {
	t.Helper()
	ids := []int64{10, 20, 30, 40, 50}
	w := [][]float64{
		{0, 0, 0.5, 0.25, 0},
		{0, 0, 0.25, 0, 1},
		{2, 0, 0, 0, 0},
		{0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0},
	}
	m, err := rank.NewItemItem("ease", ids, dense(w), 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyDense is tinyModel with every weight kept densely.
func tinyDense(t *testing.T) *rank.ItemItem {
	t.Helper()
	ids := []int64{10, 20, 30, 40, 50}
	w := [][]float64{
		{7, 0, 0.5, 0.25, 0}, // the self-link 7 must be dropped
		{0, 0, 0.25, 0, 1},
		{2, 0, math.NaN(), 0, 0},
		{0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0},
	}
	m, err := rank.NewDenseItemItem("ease", ids, dense(w))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewDenseItemItem(t *testing.T) {
	m := tinyDense(t)
	want := map[int64][]rank.Neighbor{
		10: {{30, 0.5}, {40, 0.25}},
		20: {{50, 1}, {30, 0.25}},
		30: {{10, 2}},
		40: nil,
		99: nil,
	}
	for j, w := range want {
		if got := m.Links(j); !slices.Equal(got, w) {
			t.Errorf("dense Links(%d) = %v, want %v", j, got, w)
		}
	}
	if m.Len() != 5 || m.Source != "ease" {
		t.Errorf("NewDenseItemItem: Len %d, Source %q; want 5, ease", m.Len(), m.Source)
	}
	bad := []struct {
		name string
		ids  []int64
		row  func(int) []float64
	}{
		{"unsorted ids", []int64{2, 1}, func(int) []float64 { return make([]float64, 2) }},
		{"short row", []int64{1, 2}, func(int) []float64 { return make([]float64, 1) }},
		{"long row", []int64{1, 2}, func(int) []float64 { return make([]float64, 3) }},
	}
	for _, tt := range bad {
		if m, err := rank.NewDenseItemItem("ease", tt.ids, tt.row); err == nil {
			t.Errorf("NewDenseItemItem(%s) = %v, nil; want an error", tt.name, m)
		}
	}
}

func TestItemItemScore(t *testing.T) {
	models := map[string]*rank.ItemItem{"links": tinyModel(t), "dense": tinyDense(t)}
	tests := []struct {
		name    string
		history []int64
		cands   []int64
		sum, mx []float64
	}{
		// 30 gets 0.5 (from 10) + 0.25 (from 20); 40 gets 0.25; 50 gets 1; 99 is unknown.
		{"two history items", []int64{10, 20}, []int64{30, 40, 50, 99}, []float64{0.75, 0.25, 1, 0}, []float64{0.5, 0.25, 1, 0}},
		{"unknown history item adds nothing", []int64{77, 10}, []int64{30, 40}, []float64{0.5, 0.25}, []float64{0.5, 0.25}},
		{"empty history", nil, []int64{30, 40}, []float64{0, 0}, []float64{0, 0}},
		{"link to a non-candidate is ignored", []int64{30}, []int64{40}, []float64{0}, []float64{0}},
	}
	for name, m := range models {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				var sc rank.ScoreScratch
				sum, mx := make([]float64, len(tt.cands)), make([]float64, len(tt.cands))
				m.Score(tt.history, tt.cands, &sc, sum, mx)
				if !slices.Equal(sum, tt.sum) || !slices.Equal(mx, tt.mx) {
					t.Errorf("Score(%v, %v) = sum %v, max %v; want %v, %v", tt.history, tt.cands, sum, mx, tt.sum, tt.mx)
				}
			})
		}
	}
}

// Only the last MaxHistory items of a history score (MaxSparseHistory for a sparse model):
// an old item's links are ignored.
func TestItemItemScoreMaxHistory(t *testing.T) {
	for name, tc := range map[string]struct {
		m   *rank.ItemItem
		max int
	}{"links": {tinyModel(t), rank.MaxSparseHistory}, "dense": {tinyDense(t), rank.MaxHistory}} {
		t.Run(name, func(t *testing.T) {
			cands := []int64{30, 50}
			var sc rank.ScoreScratch
			// 10 (→ 30: 0.5) is first, then max items without links (40): it is cut.
			history := []int64{10}
			for range tc.max {
				history = append(history, 40)
			}
			sum, mx := make([]float64, 2), make([]float64, 2)
			tc.m.Score(history, cands, &sc, sum, mx)
			if want := []float64{0, 0}; !slices.Equal(sum, want) {
				t.Errorf("Score(10 then %d × 40) = %v, want %v (10 is beyond the cap)", tc.max, sum, want)
			}
			// With one 40 fewer, 10 is within the last max and counts.
			sum, mx = make([]float64, 2), make([]float64, 2)
			tc.m.Score(history[:tc.max], cands, &sc, sum, mx)
			if want := []float64{0.5, 0}; !slices.Equal(sum, want) {
				t.Errorf("Score(10 then %d × 40) = %v, want %v", tc.max-1, sum, want)
			}
		})
	}
}

func TestItemItemScoreAll(t *testing.T) {
	for name, m := range map[string]*rank.ItemItem{"links": tinyModel(t), "dense": tinyDense(t)} {
		t.Run(name, func(t *testing.T) { testScoreAll(t, m) })
	}
}

func testScoreAll(t *testing.T, m *rank.ItemItem) {
	ids := []int64{10, 20, 30, 40, 50}
	index := func(id int64) int {
		if i, ok := slices.BinarySearch(ids, id); ok {
			return i
		}
		return -1
	}
	tests := []struct {
		history []int64
		want    []float64
	}{
		{[]int64{10, 20}, []float64{0, 0, 0.75, 0.25, 1}},
		{[]int64{30}, []float64{2, 0, 0, 0, 0}},
		{[]int64{10, 30}, []float64{2, 0, 0.5, 0.25, 0}},
		{nil, []float64{0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		dst := make([]float64, len(ids))
		m.ScoreAll(tt.history, index, dst)
		if !slices.Equal(dst, tt.want) {
			t.Errorf("ScoreAll(%v) = %v, want %v", tt.history, dst, tt.want)
		}
	}
	// ScoreAll adds: a second call doubles the scores, and items the index does not know
	// (here 30 maps to -1) are skipped.
	dst := []float64{1, 1, 1, 1, 1}
	m.ScoreAll([]int64{10, 20}, func(id int64) int {
		if id == 30 {
			return -1
		}
		return index(id)
	}, dst)
	if want := []float64{1, 1, 1, 1.25, 2}; !slices.Equal(dst, want) {
		t.Errorf("ScoreAll onto ones, 30 unknown = %v, want %v", dst, want)
	}
}

// One ScoreScratch serves request after request: the candidates of an earlier request
// must not collect links in a later one.
func TestItemItemScoreScratchReuse(t *testing.T) {
	for name, m := range map[string]*rank.ItemItem{"links": tinyModel(t), "dense": tinyDense(t)} {
		t.Run(name, func(t *testing.T) {
			var sc rank.ScoreScratch
			for _, req := range []struct {
				cands []int64
				want  []float64
			}{
				{[]int64{30, 40, 50}, []float64{0.75, 0.25, 1}},
				{[]int64{40}, []float64{0.25}},
				{[]int64{99, 50}, []float64{0, 1}},
				{[]int64{30, 40, 50}, []float64{0.75, 0.25, 1}},
			} {
				sum, mx := make([]float64, len(req.cands)), make([]float64, len(req.cands))
				m.Score([]int64{10, 20}, req.cands, &sc, sum, mx)
				if !slices.Equal(sum, req.want) {
					t.Errorf("Score([10 20], %v) on a reused scratch = %v, want %v", req.cands, sum, req.want)
				}
			}
		})
	}
}

// Score on co-occurrence links equals the sum over Links, walked the plain way (a map from
// candidate to position), on random histories and candidate lists, bit for bit.
func TestItemItemScoreMatchesLinks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	hs := make([][]int64, 300)
	for u := range hs {
		for range 5 + rng.IntN(40) {
			hs[u] = append(hs[u], int64(1+rng.IntN(400)))
		}
	}
	m, err := rank.Cooccurrence(context.Background(), hs, 30, 10, 200)
	if err != nil {
		t.Fatal(err)
	}
	var sc rank.ScoreScratch
	for r := range 50 {
		history := hs[r][:min(len(hs[r]), rank.MaxSparseHistory)]
		cands := make([]int64, 100)
		for c := range cands {
			cands[c] = int64(1 + rng.IntN(450)) // some unknown to the model
		}
		pos := map[int64]int{}
		for c, id := range cands {
			pos[id] = c
		}
		wantSum, wantMax := make([]float64, len(cands)), make([]float64, len(cands))
		for _, j := range history {
			for _, n := range m.Links(j) {
				if c, ok := pos[n.Item]; ok {
					w := float64(n.Weight)
					wantSum[c] += w
					wantMax[c] = max(wantMax[c], w)
				}
			}
		}
		sum, mx := make([]float64, len(cands)), make([]float64, len(cands))
		m.Score(history, cands, &sc, sum, mx)
		if !slices.Equal(sum, wantSum) || !slices.Equal(mx, wantMax) {
			t.Fatalf("request %d: Score = %v / %v, want %v / %v", r, sum, mx, wantSum, wantMax)
		}
	}
}
