package eval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
)

func tx(id int64, day, customer int, fraud bool) sim.Transaction {
	return sim.Transaction{ID: id, Day: day, Customer: customer, Fraud: fraud, Seconds: int64(day) * 86400}
}

func table(txs []sim.Transaction) *Table {
	return NewTable(txs, make([]float64, len(txs)), []string{"x"})
}

func TestTestDaysRemovesKnownCards(t *testing.T) {
	txs := []sim.Transaction{
		tx(0, 0, 1, true),  // train: card 1 known from the start
		tx(1, 1, 2, false), // train
		tx(2, 2, 3, true),  // delay day: its label is known from test day 1
		tx(3, 3, 4, true),  // delay day: known from test day 2, after this split
		tx(4, 4, 1, false), // test day 0: card 1 removed
		tx(5, 4, 3, true),  // test day 0: card 3 kept (its fraud not known yet)
		tx(6, 4, 4, true),  // test day 0: kept
		tx(7, 5, 4, false), // test day 1: kept
		tx(8, 5, 2, false), // test day 1: kept
		tx(9, 5, 3, false), // test day 1: card 3 removed
	}
	s := Split{TrainStart: 0, TrainDays: 2, DelayDays: 2, TestDays: 2}
	// Test day k knows the labels up to day TrainStart+TrainDays+k-1: a label takes the
	// delay to arrive.
	got := table(txs).TestDays(s)
	want := [][]int{{5, 6}, {7, 8}}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("TestDays(%+v)[%d] = %v, want %v", s, k, got[k], want[k])
		}
	}
}

func TestCardPrecisionAtK(t *testing.T) {
	// Day 0: cards 1 (fraud, 0.9), 2 (0.8), 3 (fraud, 0.1 and 0.7: max 0.7). k = 2.
	// Day 1: card 1 again (detected on day 0: removed), 4 (fraud, 0.5), 5 (0.5).
	txs := []sim.Transaction{
		tx(0, 0, 1, true), tx(1, 0, 2, false), tx(2, 0, 3, false), tx(3, 0, 3, true),
		tx(4, 1, 1, true), tx(5, 1, 4, true), tx(6, 1, 5, false),
	}
	scores := map[int]float64{0: 0.9, 1: 0.8, 2: 0.1, 3: 0.7, 4: 0.99, 5: 0.5, 6: 0.5}
	got := CardPrecisionAtK(table(txs), [][]int{{0, 1, 2, 3}, {4, 5, 6}}, scores, 2)
	want := []DayPrecision{{Day: 0, Cards: 3, Precision: 0.5}, {Day: 1, Cards: 2, Precision: 0.5}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("CardPrecisionAtK day %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// k = 1 on day 1: cards 4 and 5 tie at 0.5; the tie is flagged.
	got = CardPrecisionAtK(table(txs), [][]int{{5, 6}}, scores, 1)
	if !got[0].BoundaryTie || got[0].Precision != 1 {
		t.Errorf("CardPrecisionAtK(tie, k=1) = %+v, want precision 1 (card 4 first by id) and a boundary tie", got[0])
	}
}

// On simulated data the protocol runs end to end, the models beat chance by far, and the
// selected model is one of the candidates.
func TestRunOnSimulatedData(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 500, 1000, 70
	d, err := sim.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := features.NewRegistry()
	if err := txfeatures.Register(reg, txfeatures.ExactBucket); err != nil {
		t.Fatal(err)
	}
	x, _, err := txfeatures.Build(context.Background(), reg, t.TempDir(), d.Transactions)
	if err != nil {
		t.Fatal(err)
	}
	tab := NewTable(d.Transactions, x, txfeatures.Names)
	ec := DefaultConfig()
	ec.Folds, ec.TopK = 2, 10
	cands := DefaultCandidates()[:2]
	start := time.Now()
	rep, err := Run(context.Background(), tab, cands, ec)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	t.Logf("Run took %v", time.Since(start))
	if rep.Split.TrainStart != 70-21 || len(rep.Folds) != 2 {
		t.Errorf("Run split %+v with %d folds, want training from day 49 and 2 folds", rep.Split, len(rep.Folds))
	}
	for _, m := range rep.Models {
		t.Logf("%s: test AUC %.3f AP %.3f CP@%d %.3f; prequential CP %.3f", m.Name, m.Test.AUC, m.Test.AP, ec.TopK, m.Test.MeanCP, m.PrequentialCP)
		if !(m.Test.AUC > 0.7) || math.IsNaN(float64(m.Test.AP)) || len(m.Test.CardPrecision) != 7 {
			t.Errorf("%s: test %+v, want AUC > 0.7 over 7 days", m.Name, m.Test)
		}
	}
	if rep.Selected != "logreg" && rep.Selected != "gbdt_d3" {
		t.Errorf("Run selected %q", rep.Selected)
	}
}

// Each prequential test fold trains on its own window: the final split's training week
// shifted back with its test week, and the validation folds train and test before the
// final test week. The one feature is the day, so a candidate sees which days it trains on.
func TestTestFoldsTrainOnTheirOwnWindow(t *testing.T) {
	var txs []sim.Transaction
	x := []float64{}
	id := int64(0)
	for day := range 80 {
		for c := range 4 {
			txs = append(txs, tx(id, day, 100*day+c, c == 0))
			x = append(x, float64(day))
			id++
		}
	}
	tab := NewTable(txs, x, []string{"day"})
	type window struct{ lo, hi int }
	var seen []window
	rec := Candidate{Name: "rec", Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		lo, hi := math.MaxInt, math.MinInt
		for _, v := range d.X {
			lo, hi = min(lo, int(v)), max(hi, int(v))
		}
		seen = append(seen, window{lo, hi})
		return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	}}
	cfg := DefaultConfig()
	cfg.TopK = 2
	rep, err := Run(context.Background(), tab, []Candidate{rec}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Final split: train 59-65, test 73-79. Validation: train 45-51, 38-44, 31-37, 24-30.
	// Test folds after the final: train 52-58, 45-51, 38-44.
	want := []window{{45, 51}, {38, 44}, {31, 37}, {24, 30}, {59, 65}, {52, 58}, {45, 51}, {38, 44}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("training windows %v, want %v", seen, want)
	}
	m := rep.Models[0]
	var starts []int
	for _, f := range m.TestFolds {
		starts = append(starts, f.Split.TestStart())
	}
	if fmt.Sprint(starts) != "[73 66 59 52]" {
		t.Errorf("test folds start on days %v, want [73 66 59 52]", starts)
	}
	for _, f := range rep.Folds {
		if f.TestStart()+f.TestDays > rep.Split.TestStart() {
			t.Errorf("validation fold %+v reaches the test week (day %d)", f, rep.Split.TestStart())
		}
	}
	// Too little history for four test folds: the ones that fit, and a warning.
	cfg.Split.TrainStart = 45 // test days 59-65; folds train from 38, 31, ..., 3: seven fit
	cfg.TestFolds, cfg.Folds = 9, 0
	rep, err = Run(context.Background(), tab, []Candidate{rec}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TestFolds) != 7 || len(rep.Warnings) == 0 {
		t.Errorf("%d test folds with warnings %q, want the 7 that fit and a warning", len(rep.TestFolds), rep.Warnings)
	}
}

func TestMeanStd(t *testing.T) {
	got := meanStd([]float64{1, 2, 3, 4})
	if got.Mean != 2.5 || math.Abs(float64(got.Std)-math.Sqrt(5.0/3)) > 1e-15 {
		t.Errorf("meanStd(1..4) = %+v, want 2.5 ± %v (n−1)", got, math.Sqrt(5.0/3))
	}
	if one := meanStd([]float64{0.7}); one.Mean != 0.7 || one.Std != 0 {
		t.Errorf("meanStd(0.7) = %+v, want 0.7 ± 0", one)
	}
}
