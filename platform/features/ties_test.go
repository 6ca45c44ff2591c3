package features_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// TestEachEventArrivalOrder pins the tie rule a training set can ask for: three events of
// one entity at the same instant after an earlier one. The streaming execution, applied
// one event at a time, emits after each a row counting the events so far (2, 3, 4);
// ComputeBatch with EachEvent emits the same rows with the same Seqs, and a point-in-time
// join bounded by each label's log position (Labels.Seq) gives each event its own row.
// Without the bound the join takes the instant's newest row (4 for all three), and without
// EachEvent the batch has one row per instant.
func TestEachEventArrivalOrder(t *testing.T) {
	ctx := context.Background()
	h := time.Hour
	view := features.FeatureView{
		Name: "ties", Entity: featurestest.Customer, Inputs: []string{"amount"}, Bucket: time.Second,
		Transform: featurestest.ByCustomer,
		Aggregations: []features.Aggregation{
			{Name: "count_2h", Func: features.Count, Window: features.Window{Length: 2 * h}},
			{Name: "sum_2h", Func: features.Sum, Input: "amount", Window: features.Window{Length: 2 * h}},
		},
	}
	reg := features.NewRegistry()
	if err := reg.RegisterView(view); err != nil {
		t.Fatal(err)
	}
	v, _ := reg.View("ties")
	tie := t0.Add(h)
	txs := []featurestest.Tx{
		{ID: "a", Time: t0, Amount: 1},
		{ID: "b", Time: tie, Amount: 10},
		{ID: "c", Time: tie, Amount: 100},
		{ID: "d", Time: tie, Amount: 1000},
	}
	var evs []features.Event
	for i, tx := range txs {
		tx.Customer = "k"
		evs = append(evs, tx.Event(uint64(i+1)))
	}
	wantCount, wantSum := []int64{1, 2, 3, 4}, []float64{1, 11, 111, 1111}

	agg, err := features.NewAggregator(v)
	if err != nil {
		t.Fatal(err)
	}
	var stream []features.Row
	for _, ev := range evs {
		rows, _, err := agg.Apply(ev)
		if err != nil || len(rows) != 1 {
			t.Fatalf("Apply(%s) = %d rows, %v", ev.ID, len(rows), err)
		}
		stream = append(stream, rows[0])
	}
	each, err := features.ComputeBatch(v, evs, features.BatchOptions{EachEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(each.Rows) != 4 {
		t.Fatalf("ComputeBatch(EachEvent) = %d rows, want one per event (4)", len(each.Rows))
	}
	for i, r := range each.Rows {
		if r.Values[0].Int() != wantCount[i] || r.Values[1].Float() != wantSum[i] || r.Seq != features.StreamSeq(uint64(i+1)) {
			t.Errorf("EachEvent row %d = count %v sum %v seq %d, want %d, %v, %d", i, r.Values[0], r.Values[1], r.Seq, wantCount[i], wantSum[i], features.StreamSeq(uint64(i+1)))
		}
		if s := stream[i]; s.Seq != r.Seq || !rowEqual(s, r) {
			t.Errorf("event %d: stream row %v seq %d, batch %v seq %d", i, s.Values, s.Seq, r.Values, r.Seq)
		}
	}
	per, err := features.ComputeBatch(v, evs, features.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(per.Rows) != 2 || per.Rows[1].Values[0].Int() != 4 {
		t.Errorf("ComputeBatch = %d rows (last %v), want one per instant, the tie's counting all 4", len(per.Rows), per.Rows[len(per.Rows)-1].Values)
	}
	if _, err := features.ComputeBatch(v, evs, features.BatchOptions{EachEvent: true, AsOfSeq: 9}); err == nil {
		t.Error("ComputeBatch accepted EachEvent with AsOfSeq")
	}

	cfg := features.DefaultOfflineConfig()
	cfg.Dir = t.TempDir()
	off, err := features.OpenOffline(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Rewrite(ctx, "ties", each.Rows, "test"); err != nil {
		t.Fatal(err)
	}
	labels := features.Labels{Time: []time.Time{t0, tie, tie, tie}, Keys: map[string][]string{"customer_id": {"k", "k", "k", "k"}}}
	join := func(seq []uint64) []float64 {
		t.Helper()
		labels.Seq = seq
		ts, err := off.TrainingSet(ctx, labels, []string{"ties:count_2h"})
		if err != nil {
			t.Fatal(err)
		}
		return ts.Columns[0].Floats
	}
	if got := join([]uint64{1, 2, 3, 4}); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("join with log positions = %v, want [1 2 3 4] (arrival order)", got)
	}
	if got := join(nil); fmt.Sprint(got) != "[1 4 4 4]" {
		t.Errorf("join without log positions = %v, want [1 4 4 4] (the instant's newest row)", got)
	}
	labels.Seq = []uint64{1}
	if _, err := off.TrainingSet(ctx, labels, []string{"ties:count_2h"}); err == nil {
		t.Error("TrainingSet accepted 1 log position for 4 labels")
	}
}
