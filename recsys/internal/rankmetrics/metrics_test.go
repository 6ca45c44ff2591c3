package rankmetrics

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func metricsNear(a, b Metrics) bool {
	return a.Users == b.Users && near(a.NDCG, b.NDCG) && near(a.Precision, b.Precision) &&
		near(a.Recall, b.Recall) && near(a.MAP, b.MAP) && near(a.MAPMinK, b.MAPMinK)
}

func TestEvaluateOneUser(t *testing.T) {
	log2 := math.Log2
	for _, tc := range []struct {
		name       string
		recs, test []int64
		k          int
		want       Metrics
	}{
		{"perfect", []int64{1, 2, 3}, []int64{3, 2, 1}, 3, Metrics{1, 1, 1, 1, 1, 1}},
		{"no hits", []int64{7, 8, 9}, []int64{1, 2}, 3, Metrics{Users: 1}},
		{
			// Test items {1,2,3}; hits at ranks 1 and 3 of [1 9 2].
			// DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4) ≈ 2.1309,
			// NDCG ≈ 0.7039. Precision = 2/3, recall = 2/3. AP sum = 1/1 + 2/3 = 5/3, over 3
			// test items = 5/9 ≈ 0.5556 (and min(k, 3) = 3 gives the same).
			"hits at 1 and 3 of 3", []int64{1, 9, 2}, []int64{1, 2, 3}, 3,
			Metrics{1, 1.5 / (1 + 1/log2(3) + 0.5), 2.0 / 3, 2.0 / 3, 5.0 / 9, 5.0 / 9},
		},
		{
			// 5 test items, k = 2, one hit at rank 2: DCG = 1/log2(3), IDCG over min(2, 5) = 2
			// ideal hits = 1 + 1/log2(3). AP sum = 1/2: MAP = 0.5/5, MAPMinK = 0.5/2.
			"more test items than k", []int64{9, 4}, []int64{1, 2, 3, 4, 5}, 2,
			Metrics{1, (1 / log2(3)) / (1 + 1/log2(3)), 0.5, 0.2, 0.1, 0.25},
		},
		{
			// Only the first k of a longer list count; the hit at rank 3 is ignored.
			"list longer than k", []int64{1, 9, 2}, []int64{1, 2}, 2,
			Metrics{1, 1 / (1 + 1/log2(3)), 0.5, 0.5, 0.5, 0.5},
		},
		{
			// A shorter list is still divided by k for precision, as Recommenders does.
			"list shorter than k", []int64{1}, []int64{1}, 10,
			Metrics{1, 1, 0.1, 1, 1, 1},
		},
		{
			// A repeated item is one hit.
			"repeated item", []int64{1, 1}, []int64{1, 2}, 2,
			Metrics{1, 1 / (1 + 1/log2(3)), 0.5, 0.5, 0.5, 0.5},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(map[int64][]int64{7: tc.recs}, map[int64][]int64{7: tc.test}, tc.k)
			if !metricsNear(got, tc.want) {
				t.Errorf("Evaluate(%v, %v, k=%d) = %+v, want %+v", tc.recs, tc.test, tc.k, got, tc.want)
			}
		})
	}
}

func TestEvaluateUsers(t *testing.T) {
	recs := map[int64][]int64{
		1: {10, 11},
		2: {20, 21},
		3: {30},     // no test items: not evaluated
		5: {},       // an empty list counts, with no hit
		6: {60, 61}, // a cold user (no training) who got a popularity list still counts
	}
	test := map[int64][]int64{
		1: {10},     // perfect
		2: {99},     // miss
		4: {40},     // no list: not evaluated
		5: {50},     // miss
		6: {61, 62}, // hit at rank 2
	}
	got := Evaluate(recs, test, 2)
	// Per user precision: 1: 1/2, 2: 0, 5: 0, 6: 1/2 → mean 0.25. Recall: 1, 0, 0, 1/2 → 0.375.
	if got.Users != 4 || !near(got.Precision, 0.25) || !near(got.Recall, 0.375) {
		t.Errorf("Evaluate = %+v, want 4 users, precision 0.25, recall 0.375", got)
	}
	if got := Evaluate(recs, nil, 10); got != (Metrics{}) {
		t.Errorf("Evaluate with no test users = %+v, want zero", got)
	}
}

func TestAccumulatorMerge(t *testing.T) {
	a, b, all := NewAccumulator(3), NewAccumulator(3), NewAccumulator(3)
	for i, c := range []struct{ recs, test []int64 }{
		{[]int64{1, 2, 3}, []int64{2}}, {[]int64{4, 5, 6}, []int64{6, 7}}, {[]int64{8}, []int64{9}},
	} {
		all.Add(c.recs, c.test)
		if i%2 == 0 {
			a.Add(c.recs, c.test)
		} else {
			b.Add(c.recs, c.test)
		}
	}
	a.Merge(b)
	if got, want := a.Metrics(), all.Metrics(); !metricsNear(got, want) {
		t.Errorf("merged = %+v, want %+v", got, want)
	}
}

func TestNewAccumulatorPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewAccumulator(0) did not panic")
		}
	}()
	NewAccumulator(0)
}
