package evaluate_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/recsys/internal/evaluate"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/sim"
)

var ctx = context.Background()

func TestSplit(t *testing.T) {
	// Item i has i ratings (1..15), from random users, so every rounding case occurs:
	// 0.75·2 = 1.5 rounds to 2 (test 0), 0.75·6 = 4.5 rounds to 4 (test 2), and so on.
	rng := rand.New(rand.NewPCG(1, 2))
	var rs []ratings.Rating
	for item := int64(1); item <= 15; item++ {
		for k := range item {
			rs = append(rs, ratings.Rating{User: rng.Int64N(50), Item: item, Value: 1, Time: k, Line: len(rs) + 1})
		}
	}
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	trainSet, testSet := evaluate.Split(rs)
	testCount := ratings.Set(testSet).CountByItem()
	for item := int64(1); item <= 15; item++ {
		n := float64(item)
		if want := int(n - math.RoundToEven(0.75*n)); testCount[item] != want {
			t.Errorf("Split: item with %d ratings has %d in test, want %d", item, testCount[item], want)
		}
	}
	// Every rating lands in exactly one side.
	lines := func(s []ratings.Rating) []int {
		out := make([]int, len(s))
		for i, r := range s {
			out[i] = r.Line
		}
		return out
	}
	all := append(lines(trainSet), lines(testSet)...)
	slices.Sort(all)
	if want := lines(rs); !slices.Equal(all, slices.Sorted(slices.Values(want))) {
		t.Errorf("Split: train ∪ test holds %d ratings, want each of the %d once", len(all), len(rs))
	}
	// Seed 42 is fixed: the same input splits the same way.
	tr2, te2 := evaluate.Split(rs)
	if !slices.Equal(tr2, trainSet) || !slices.Equal(te2, testSet) {
		t.Error("Split is not deterministic")
	}
}

// simulated is a small world (80 users × 150 items, 2,400 ratings), split 75/25, with the
// oracle eval.go builds from it.
func simulated(t *testing.T) (trainSet, testSet []ratings.Rating, oracle evaluate.Oracle) {
	t.Helper()
	c := sim.DefaultConfig()
	c.Users, c.Items, c.Interactions, c.MaxPerUser = 80, 150, 2400, 100
	s, err := sim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := sim.Ratings(xs)
	trainSet, testSet = evaluate.Split(all)
	end := xs[len(xs)-1].Time
	oracle = func(user int64, items []int64, dst []float64) []float64 {
		full := s.OracleScores(user, end, nil)
		dst = append(dst[:0], make([]float64, len(items))...)
		for i, it := range items {
			dst[i] = full[it]
		}
		return dst
	}
	return trainSet, testSet, oracle
}

func smallConfig() evaluate.Config {
	c := evaluate.DefaultConfig()
	c.Train.Embeddings = "bpr"
	c.Train.BPR.Factors, c.Train.BPR.Epochs = 16, 10
	c.Train.Ranker.Trees = 10
	c.Index.GateQueries = 50
	c.Serve = recommend.Config{Candidates: 100, EfSearch: 200}
	return c
}

func TestRun(t *testing.T) {
	trainSet, testSet, oracle := simulated(t)
	cfg := smallConfig()
	rep, err := evaluate.Run(ctx, trainSet, testSet, cfg, oracle)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	all := append(slices.Clone(trainSet), testSet...)
	testBy := ratings.Set(testSet).ItemsByUser()
	if rep.Train != len(trainSet) || rep.Test != len(testSet) || rep.Users != len(ratings.Set(all).Users()) ||
		rep.Items != len(ratings.Set(all).Items()) || rep.TestUsers != len(testBy) || rep.Candidates != cfg.Serve.Candidates {
		t.Errorf("Run: train %d, test %d, users %d, items %d, test users %d, candidates %d; want %d, %d, %d, %d, %d, %d",
			rep.Train, rep.Test, rep.Users, rep.Items, rep.TestUsers, rep.Candidates,
			len(trainSet), len(testSet), len(ratings.Set(all).Users()), len(ratings.Set(all).Items()), len(testBy), cfg.Serve.Candidates)
	}

	models := []string{"served", "served-retrieval-only", fmt.Sprintf("served-mmr-%.1f", cfg.Diversity), "bpr-exact", "ease", "popularity", "oracle"}
	for _, l := range cfg.MoreDiversity {
		models = append(models, fmt.Sprintf("served-mmr-%.1f", l))
	}
	for _, name := range models {
		row, ok := rep.Row(name)
		if !ok {
			t.Errorf("Run: no %q row among %d", name, len(rep.Rows))
			continue
		}
		m := row.Metrics
		t.Logf("%-22s %v coverage=%.3f", name, m, row.Coverage)
		for metric, v := range map[string]float64{"NDCG": m.NDCG, "precision": m.Precision, "recall": m.Recall, "MAP": m.MAP, "MAP@k": m.MAPMinK, "coverage": row.Coverage} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s: %s = %v, want in [0, 1]", name, metric, v)
			}
		}
		if m.Users != rep.TestUsers {
			t.Errorf("%s: evaluated %d users, want every test user (%d)", name, m.Users, rep.TestUsers)
		}
	}
	if len(rep.Rows) != len(models) {
		t.Errorf("Run: %d rows, want %d", len(rep.Rows), len(models))
	}
	if _, ok := rep.Row("no-such-model"); ok {
		t.Error(`Row("no-such-model") = true, want false`)
	}
	oracleRow, _ := rep.Row("oracle")
	pop, _ := rep.Row("popularity")
	if oracleRow.Metrics.NDCG < pop.Metrics.NDCG {
		t.Errorf("oracle NDCG@10 %v < popularity's %v; the generator's truth must rank at least as well", oracleRow.Metrics.NDCG, pop.Metrics.NDCG)
	}
	for name, v := range map[string]float64{"RetrievalRecall": rep.RetrievalRecall, "IndexRecall": rep.IndexRecall} {
		if !(v > 0 && v <= 1) {
			t.Errorf("Run: %s = %v, want in (0, 1]", name, v)
		}
	}
	for _, k := range []string{"fit", "index_build", "eval_served"} {
		if _, ok := rep.Seconds[k]; !ok {
			t.Errorf("Run: Seconds has no %q", k)
		}
	}

	// Served lists: one per test user, k distinct items, none from the user's training set.
	trainBy := ratings.Set(trainSet).ItemsByUser()
	if len(rep.Recs) != len(testBy) {
		t.Errorf("Run: Recs for %d users, want the %d test users", len(rep.Recs), len(testBy))
	}
	catalogue := len(ratings.Set(trainSet).Items())
	for u := range testBy {
		recs, ok := rep.Recs[u]
		if !ok {
			t.Errorf("Run: no served list for test user %d", u)
			continue
		}
		got := make([]int64, len(recs))
		for i, r := range recs {
			got[i] = r.ID
		}
		if want := min(cfg.K, catalogue-len(trainBy[u])); len(got) != want {
			t.Errorf("Recs[%d] = %d items, want %d", u, len(got), want)
		}
		if d := slices.Compact(slices.Sorted(slices.Values(got))); len(d) != len(got) {
			t.Errorf("Recs[%d] = %v repeats an item", u, got)
		}
		for _, it := range got {
			if slices.Contains(trainBy[u], it) {
				t.Errorf("Recs[%d] recommends %d, a training item of that user", u, it)
			}
		}
	}
}

func TestRunWithoutOracle(t *testing.T) {
	trainSet, testSet, _ := simulated(t)
	rep, err := evaluate.Run(ctx, trainSet, testSet, smallConfig(), nil)
	if err != nil {
		t.Fatalf("Run(no oracle) = %v", err)
	}
	if _, ok := rep.Row("oracle"); ok {
		t.Error("Run(no oracle) has an oracle row")
	}
	if _, ok := rep.Row("served"); !ok {
		t.Error("Run(no oracle) has no served row")
	}
}

func TestRunRefuses(t *testing.T) {
	trainSet, testSet, _ := simulated(t)
	for _, k := range []int{0, -1} {
		cfg := smallConfig()
		cfg.K = k
		if rep, err := evaluate.Run(ctx, trainSet, testSet, cfg, nil); err == nil || rep != nil {
			t.Errorf("Run(k %d) = %v, %v; want nil, an error", k, rep, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if rep, err := evaluate.Run(cancelled, trainSet, testSet, smallConfig(), nil); err == nil || rep != nil {
		t.Errorf("Run(cancelled) = %v, %v; want nil, an error", rep, err)
	}
}
