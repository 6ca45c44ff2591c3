package rank_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
)

func TestSchema(t *testing.T) {
	if rank.Width != rank.Schema.Len() {
		t.Errorf("Width = %d, want Schema.Len() = %d", rank.Width, rank.Schema.Len())
	}
	if want := 6 + len(recfeatures.ItemWindows) + len(recfeatures.UserWindows) + 1; rank.Width != want {
		t.Errorf("Width = %d, want %d", rank.Width, want)
	}
	if err := rank.Schema.Validate(); err != nil {
		t.Errorf("Schema.Validate() = %v, want nil", err)
	}
}

// fillFixture is four candidates in retrieval order, a three-item history with item-item
// links into them, and distinct feature-store values for every column.
//
//	history 10 → 300 (0.5), 200 (0.125); 20 → 300 (0.25), 100 (0.25); 30 → nothing
//	item-item sums: 100: 0.25, 200: 0.125, 300: 0.75, 400: 0 (the best is 300)
//	item-item max:  100: 0.25, 200: 0.125, 300: 0.5,  400: 0
//	item-item rank (by sum): 300, 100, 200, 400 → 0, 1/4, 2/4, 3/4
func fillFixture(t *testing.T, denseModel bool) ([]rank.Candidate, rank.Inputs) {
	t.Helper()
	ids := []int64{10, 20, 30, 100, 200, 300, 400}
	w := make([][]float64, len(ids))
	for j := range w {
		w[j] = make([]float64, len(ids))
	}
	w[0][5], w[0][4] = 0.5, 0.125 // 10 → 300, 200
	w[1][5], w[1][3] = 0.25, 0.25 // 20 → 300, 100
	w[5][0], w[6][1] = 3, 3       // links out of candidates: not from the history, ignored
	ii, err := rank.NewItemItem("ease", ids, dense(w), 0)
	if denseModel {
		ii, err = rank.NewDenseItemItem("ease", ids, dense(w))
	}
	if err != nil {
		t.Fatal(err)
	}
	cands := []rank.Candidate{{100, 3}, {200, 2}, {300, 0.5}, {400, -1}}
	st := recfeatures.Stats{User: []float64{5, 10, 100}}
	for c := range cands {
		row := make([]float64, len(recfeatures.ItemWindows))
		for w := range row {
			row[w] = float64(1000*(c+1) + 10*w + 1)
		}
		st.Items = append(st.Items, row)
	}
	return cands, rank.Inputs{History: []int64{10, 20, 30}, Stats: st, ItemItem: ii}
}

// column returns feature name of row c.
func column(t *testing.T, x []float64, c int, name string) float64 {
	t.Helper()
	j := rank.Schema.Index(name)
	if j < 0 {
		t.Fatalf("Schema has no feature %q", name)
	}
	return x[c*rank.Width+j]
}

func TestFill(t *testing.T) {
	for _, denseModel := range []bool{false, true} {
		t.Run(fmt.Sprintf("dense=%v", denseModel), func(t *testing.T) { testFill(t, denseModel) })
	}
}

func testFill(t *testing.T, denseModel bool) {
	cands, in := fillFixture(t, denseModel)
	var s rank.Scratch
	x := rank.Fill(nil, cands, in, &s)
	n := len(cands)
	if len(x) != n*rank.Width {
		t.Fatalf("Fill(%d candidates) has %d values, want %d", n, len(x), n*rank.Width)
	}
	// MF scores 3, 2, 0.5, -1: mean 1.125, population sd sqrt(9.1875/4); the gap is to the
	// first (best) candidate's 3. The item-item sums and maxima are relative to the best
	// candidate's sum, 0.75.
	mean, sd := 1.125, math.Sqrt(9.1875/4)
	want := map[string][]float64{
		"mf_score_z":       {(3 - mean) / sd, (2 - mean) / sd, (0.5 - mean) / sd, (-1 - mean) / sd},
		"mf_gap_z":         {0, 1 / sd, 2.5 / sd, 4 / sd},
		"retrieval_rank":   {0, 0.25, 0.5, 0.75},
		"itemitem_sum_rel": {0.25 / 0.75, 0.125 / 0.75, 1, 0},
		"itemitem_max_rel": {0.25 / 0.75, 0.125 / 0.75, 0.5 / 0.75, 0},
		"itemitem_rank":    {0.25, 0.5, 0, 1}, // the last has no link from the history: 1
		"log_history":      {math.Log1p(3), math.Log1p(3), math.Log1p(3), math.Log1p(3)},
	}
	for w, d := range recfeatures.ItemWindows {
		var v []float64
		for c := range cands {
			v = append(v, math.Log1p(in.Stats.Items[c][w]))
		}
		want[fmt.Sprintf("log_item_count_%dd", d)] = v
	}
	for w, d := range recfeatures.UserWindows {
		v := math.Log1p(in.Stats.User[w])
		want[fmt.Sprintf("log_user_count_%dd", d)] = []float64{v, v, v, v}
	}
	if len(want) != rank.Width {
		t.Fatalf("test covers %d features, Schema has %d: %v", len(want), rank.Width, rank.Schema.Names())
	}
	for name, col := range want {
		for c := range cands {
			if got := column(t, x, c, name); !(math.Abs(got-col[c]) <= 1e-9) {
				t.Errorf("Fill: candidate %d %s = %v, want %v", cands[c].Item, name, got, col[c])
			}
		}
	}
}

// Without a model or store values, the item-item and store columns are zero and the rest
// still come from the candidates and history.
func TestFillMissingInputs(t *testing.T) {
	cands, in := fillFixture(t, false)
	in.ItemItem = nil
	in.Stats = recfeatures.Stats{Items: in.Stats.Items[:1]} // one candidate has store values
	var s rank.Scratch
	x := rank.Fill(nil, cands, in, &s)
	for c := range cands {
		for _, name := range []string{"itemitem_sum_rel", "itemitem_max_rel"} {
			if got := column(t, x, c, name); got != 0 {
				t.Errorf("Fill(nil ItemItem): candidate %d %s = %v, want 0", c, name, got)
			}
		}
		if got := column(t, x, c, "itemitem_rank"); got != 1 {
			t.Errorf("Fill(nil ItemItem): candidate %d itemitem_rank = %v, want 1 (no evidence: last)", c, got)
		}
		for _, d := range recfeatures.UserWindows {
			name := fmt.Sprintf("log_user_count_%dd", d)
			if got := column(t, x, c, name); got != 0 {
				t.Errorf("Fill(no user stats): candidate %d %s = %v, want 0", c, name, got)
			}
		}
		d := recfeatures.ItemWindows[0]
		name := fmt.Sprintf("log_item_count_%dd", d)
		want := 0.0
		if c == 0 {
			want = math.Log1p(in.Stats.Items[0][0])
		}
		if got := column(t, x, c, name); got != want {
			t.Errorf("Fill(store values for candidate 0 only): candidate %d %s = %v, want %v", c, name, got, want)
		}
		if got, want := column(t, x, c, "retrieval_rank"), float64(c)/float64(len(cands)); got != want {
			t.Errorf("Fill(nil ItemItem): candidate %d retrieval_rank = %v, want %v", c, got, want)
		}
	}
}

// Equal factorization scores (or a single candidate) have no spread: the standardised
// columns are 0, never NaN.
func TestFillNoSpread(t *testing.T) {
	for _, cands := range [][]rank.Candidate{
		{{100, 2}, {200, 2}, {300, 2}},
		{{100, 5}},
	} {
		var s rank.Scratch
		x := rank.Fill(nil, cands, rank.Inputs{}, &s)
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("Fill(%v) = %v, want finite values", cands, x)
			}
		}
		for c := range cands {
			for _, name := range []string{"mf_score_z", "mf_gap_z"} {
				if got := column(t, x, c, name); got != 0 {
					t.Errorf("Fill(%v): candidate %d %s = %v, want 0", cands, c, name, got)
				}
			}
		}
	}
}

// A Scratch and a dst reused across requests of other sizes give what fresh ones give.
func TestFillReuse(t *testing.T) {
	cands, in := fillFixture(t, false)
	var fresh rank.Scratch
	want := rank.Fill(nil, cands[:2], in, &fresh)

	var s rank.Scratch
	dst := rank.Fill(nil, cands, in, &s)
	for i := range dst {
		dst[i] = 42 // garbage a reuse must not leak
	}
	got := rank.Fill(dst, cands[:2], in, &s)
	if !slices.Equal(got, want) {
		t.Errorf("Fill(reused scratch, 2 candidates) = %v, want %v", got, want)
	}
	if got := rank.Fill(dst, nil, in, &s); len(got) != 0 {
		t.Errorf("Fill(no candidates) = %v, want empty", got)
	}
}

func TestMMR(t *testing.T) {
	// Items 0 and 1 are identical; item 2 is unlike both.
	sim := func(a, b int) float64 {
		if a == b || (a < 2 && b < 2) {
			return 1
		}
		return 0
	}
	none := func(a, b int) float64 { return 0 }
	tests := []struct {
		name   string
		rel    []float64
		k      int
		lambda float64
		sim    func(a, b int) float64
		want   []int
	}{
		{"λ 0 keeps relevance order", []float64{0.2, 0.9, 0.5, 0.7}, 4, 0, sim, []int{1, 3, 2, 0}},
		{"λ 0 truncates to k", []float64{0.2, 0.9, 0.5, 0.7}, 2, 0, sim, []int{1, 3}},
		{"λ 1 picks the different item second", []float64{1, 0.9, 0.1}, 3, 1, sim, []int{0, 2, 1}},
		{"λ 0 with duplicates", []float64{1, 0.9, 0.1}, 3, 0, sim, []int{0, 1, 2}},
		{"λ 0.5 trades off", []float64{1, 0.9, 0.5}, 2, 0.5, sim, []int{0, 2}},
		{"no similarity keeps relevance order", []float64{1, 0.9, 0.1}, 3, 0.7, none, []int{0, 1, 2}},
		{"k > n returns n", []float64{0.3, 0.1}, 5, 0.3, sim, []int{0, 1}},
		{"empty input", nil, 3, 0.3, sim, []int{}},
		{"k 0", []float64{1, 2}, 0, 0.3, sim, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rank.MMR(tt.rel, tt.k, tt.lambda, tt.sim, []int{7, 7, 7})
			if !slices.Equal(got, tt.want) {
				t.Errorf("MMR(%v, k %d, λ %v) = %v, want %v", tt.rel, tt.k, tt.lambda, got, tt.want)
			}
		})
	}
}

func TestCosine(t *testing.T) {
	tests := []struct {
		a, b []float64
		want float64
	}{
		{[]float64{0, 0}, []float64{1, 2}, 0},
		{[]float64{1, 2}, []float64{0, 0}, 0},
		{[]float64{0, 0}, []float64{0, 0}, 0},
		{[]float64{1, 2}, []float64{2, 4}, 1},
		{[]float64{1, 2}, []float64{-3, -6}, -1},
		{[]float64{1, 0}, []float64{0, 5}, 0},
		{[]float64{3, 4}, []float64{4, 3}, 24.0 / 25},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		if got := rank.Cosine(tt.a, tt.b); !(math.Abs(got-tt.want) <= 1e-12) {
			t.Errorf("Cosine(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// Candidates the item-item model scores equally keep their retrieval order in its rank.
func TestFillItemItemRankTies(t *testing.T) {
	ids := []int64{10, 100, 200, 300, 400}
	w := make([][]float64, len(ids))
	for j := range w {
		w[j] = make([]float64, len(ids))
	}
	w[0][1], w[0][2], w[0][3], w[0][4] = 0.25, 0.5, 0.25, 0.25 // 10 → 100, 300, 400 tie below 200
	ii, err := rank.NewItemItem("ease", ids, dense(w), 0)
	if err != nil {
		t.Fatal(err)
	}
	cands := []rank.Candidate{{400, 4}, {100, 3}, {200, 2}, {300, 1}}
	var s rank.Scratch
	x := rank.Fill(nil, cands, rank.Inputs{History: []int64{10}, ItemItem: ii}, &s)
	// 200 first (0.5), then the tied 400, 100, 300 in retrieval order.
	for c, want := range []float64{1.0 / 4, 2.0 / 4, 0, 3.0 / 4} {
		if got := column(t, x, c, "itemitem_rank"); got != want {
			t.Errorf("itemitem_rank of candidate %d (item %d) = %v, want %v", c, cands[c].Item, got, want)
		}
	}
}
