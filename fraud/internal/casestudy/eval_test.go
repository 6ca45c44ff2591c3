package casestudy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/sim"
)

// writeHandbookCSV writes txs as the handbook's published table comes when pandas saves
// it: an unnamed index column first, then the handbook's columns, times as text.
func writeHandbookCSV(t *testing.T, path string, txs []sim.Transaction) {
	t.Helper()
	var b strings.Builder
	b.WriteString("," + strings.Join(sim.Columns, ",") + "\n")
	for i, tx := range txs {
		f := 0
		if tx.Fraud {
			f = 1
		}
		fmt.Fprintf(&b, "%d,%d,%s,%d,%d,%.2f,%d,%d,%d,%d\n", i, tx.ID, tx.Time.UTC().Format(sim.DateTimeLayout),
			tx.Customer, tx.Terminal, tx.Amount, tx.Seconds, tx.Day, f, tx.Scenario)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A CSV in the published table's layout (index column, 2018-04-01 day 0, 136 days) runs
// through eval as it is: the handbook's own split (training from day 115), four test folds a
// week apart each trained on its own week, validation folds that end before the final
// test, and --scores-out with every candidate's scores under a MODEL column.
func TestEvalHandbookLayoutCSV(t *testing.T) {
	ctx := context.Background()
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 80, 200, 136
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csvPath, scores := filepath.Join(dir, "transactions.csv"), filepath.Join(dir, "scores.csv")
	writeHandbookCSV(t, csvPath, d.Transactions)
	ec := DefaultEvalConfig()
	ec.CSV, ec.JSON, ec.ScoresOut, ec.Grid = csvPath, true, scores, "small"
	ec.Protocol.TopK = 10
	var out bytes.Buffer
	if err := Eval(ctx, ec, &out); err != nil {
		t.Fatalf("Eval = %v", err)
	}
	var got EvalOutput
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	rep := got.Report
	if got.Transactions != len(d.Transactions) || rep.Split.TrainStart != eval.HandbookTrainStart {
		t.Fatalf("Eval read %d transactions, split %+v; want %d and training from day %d", got.Transactions, rep.Split, len(d.Transactions), eval.HandbookTrainStart)
	}
	var starts []int
	for _, f := range rep.TestFolds {
		starts = append(starts, f.TestStart())
	}
	if fmt.Sprint(starts) != "[129 122 115 108]" {
		t.Errorf("test folds start on days %v, want [129 122 115 108]", starts)
	}
	for _, f := range rep.Folds {
		if f.TestStart()+f.TestDays > rep.Split.TestStart() {
			t.Errorf("validation fold %+v tests on days up to %d, at or after the test week's start %d", f, f.TestStart()+f.TestDays-1, rep.Split.TestStart())
		}
	}
	if len(rep.Models) != 4 {
		t.Fatalf("%d models, want the small grid's 4", len(rep.Models))
	}
	rows := map[string]int{}
	for _, m := range rep.Models {
		rows[m.Name] = m.Test.TestRows
		if len(m.TestFolds) != 4 || m.TestFolds[0].Split != rep.Split || m.TestEstimate.Folds != 4 {
			t.Errorf("%s: %d test folds (first %+v), estimate over %d; want 4, the first the test week", m.Name, len(m.TestFolds), m.TestFolds[0].Split, m.TestEstimate.Folds)
		}
		sum := 0.0
		for _, f := range m.TestFolds {
			sum += float64(f.AUC)
		}
		if mean := float64(m.TestEstimate.AUC.Mean); mean != sum/4 || !(m.TestEstimate.AUC.Std > 0) {
			t.Errorf("%s: test estimate AUC %v ± %v, want the folds' mean %v and a positive spread", m.Name, mean, m.TestEstimate.AUC.Std, sum/4)
		}
	}
	f, err := os.Open(scores)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if h := sc.Text(); h != "MODEL,TRANSACTION_ID,SCORE" {
		t.Fatalf("--scores-out header %q", h)
	}
	per := map[string]int{}
	for sc.Scan() {
		m, _, _ := strings.Cut(sc.Text(), ",")
		per[m]++
	}
	for name, n := range rows {
		if per[name] != n || n == 0 {
			t.Errorf("--scores-out has %d rows of %s, want its %d test transactions", per[name], name, n)
		}
	}
	if len(per) != len(rows) {
		t.Errorf("--scores-out models %v, want %v", per, rows)
	}
}

func TestEvalRefusesUnknownGrid(t *testing.T) {
	ec := DefaultEvalConfig()
	ec.CSV, ec.Grid = "x.csv", "huge"
	if err := ec.Validate(); err == nil || !strings.Contains(err.Error(), `unknown grid "huge"`) {
		t.Errorf("Validate(grid huge) = %v, want an unknown-grid error", err)
	}
}

func TestEvalRefusesBadBucket(t *testing.T) {
	for _, b := range []time.Duration{0, time.Millisecond, 7 * time.Second, 48 * time.Hour} {
		ec := DefaultEvalConfig()
		ec.CSV, ec.Bucket = "x.csv", b
		if err := ec.Validate(); err == nil || !strings.Contains(err.Error(), "bucket") {
			t.Errorf("Validate(bucket %v) = %v, want a bucket error", b, err)
		}
	}
	ec := DefaultEvalConfig()
	ec.CSV, ec.Bucket = "x.csv", time.Hour
	if err := ec.Validate(); err != nil {
		t.Errorf("Validate(bucket 1h) = %v", err)
	}
}
