package eval

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
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
