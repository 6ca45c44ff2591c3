package txfeatures

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

func sameBits(t *testing.T, what string, txs []sim.Transaction, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: transaction %d %s = %v, want %v", what, txs[i/Width].ID, Names[i%Width], got[i], want[i])
		}
	}
}

func openStore(t *testing.T, reg *features.Registry, dir string) *features.OfflineStore {
	t.Helper()
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = dir
	off, err := features.OpenOffline(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// The platform's path (rows materialized into Parquet partitions, then the point-in-time
// join) gives the same matrix as looking rows up in ComputeBatch's output, bit for bit; a
// second build into the same store replaces the partitions rather than adding to them.
func TestBuildEqualsComputeBatch(t *testing.T) {
	txs := dataset(t)
	for _, bucket := range []time.Duration{ExactBucket, time.Hour} {
		reg := registry(t, bucket)
		want, err := Offline(reg, txs)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		var st BuildStats
		for run := 1; run <= 2; run++ {
			var got []float64
			got, st, err = Build(context.Background(), reg, dir, txs)
			if err != nil {
				t.Fatalf("bucket %v run %d: Build = %v", bucket, run, err)
			}
			sameBits(t, "Build", txs, got, want)
			if st.CustomerRows == 0 || st.CustomerRows > len(txs) || st.TerminalRows == 0 || st.TerminalRows > len(txs) {
				t.Errorf("Build stats %+v for %d transactions", st, len(txs))
			}
			m := openStore(t, registry(t, bucket), dir).Manifest()
			for _, v := range []string{CustomerView, TerminalView} {
				rows := 0
				for _, p := range m.Views[v].Partitions {
					rows += p.Rows()
					if p.Version != run {
						t.Errorf("run %d: %s partition version %d, want %d", run, v, p.Version, run)
					}
				}
				if want := map[string]int{CustomerView: st.CustomerRows, TerminalView: st.TerminalRows}[v]; rows != want {
					t.Errorf("run %d: %s holds %d rows, want %d", run, v, rows, want)
				}
			}
		}
		t.Logf("bucket %v: %d transactions, %d customer rows, %d terminal rows; compute %.3fs, write %.3fs, join %.3fs",
			bucket, len(txs), st.CustomerRows, st.TerminalRows, st.ComputeSeconds, st.WriteSeconds, st.JoinSeconds)
	}
}

// Transactions of one customer in the same second count in arrival order (by id): each
// has its own row, counting the earlier ones of its second and not the later ones, and
// the join takes each transaction's own row, as the lookup does.
func TestBuildTies(t *testing.T) {
	at := time.Date(2018, 4, 3, 12, 0, 0, 0, time.UTC)
	mk := func(id int64, d time.Duration, customer, terminal int, amount float64, fraud bool) sim.Transaction {
		return sim.Transaction{ID: id, Time: at.Add(d), Customer: customer, Terminal: terminal, Amount: amount, Fraud: fraud}
	}
	txs := []sim.Transaction{
		mk(1, -9*day, 1, 7, 10, true), // the terminal's fraud, inside the delayed windows below
		mk(2, -9*day, 2, 7, 30, false),
		mk(3, -time.Hour, 1, 8, 20, false),
		mk(4, 0, 1, 7, 1, false), // three of customer 1 in one second, two at terminal 7
		mk(5, 0, 1, 7, 2, false),
		mk(6, 0, 1, 8, 3, false),
		mk(7, time.Second, 1, 7, 4, false), // the next second: a new row
	}
	reg := registry(t, ExactBucket)
	want, err := Offline(reg, txs)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Build(context.Background(), reg, t.TempDir(), txs)
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	sameBits(t, "Build(ties)", txs, got, want)
	for _, tc := range []struct {
		i                     int
		count, mean, termRisk float64
	}{
		{3, 2, 21.0 / 2, 0.5}, {4, 3, 23.0 / 3, 0.5}, {5, 4, 26.0 / 4, 0}, {6, 5, 30.0 / 5, 0.5},
	} {
		x := got[tc.i*Width:]
		if x[3] != tc.count || math.Abs(x[4]-tc.mean) > 1e-12 || x[12] != tc.termRisk {
			t.Errorf("transaction %d: 1-day count %v, mean %v, terminal 7-day risk %v; want %v, %v, %v",
				txs[tc.i].ID, x[3], x[4], x[12], tc.count, tc.mean, tc.termRisk)
		}
	}
}

// No value from after a transaction is used. Rows planted in the store one nanosecond
// after each transaction, with absurd values and the highest Seq, change nothing (and are
// what a join one nanosecond later does pick, so they are really there); and the features
// of the transactions up to a cutoff are the same whether the store was built from the
// whole dataset or only from the transactions up to the cutoff.
func TestBuildNoLeak(t *testing.T) {
	ctx := context.Background()
	txs := dataset(t)
	reg := registry(t, ExactBucket)
	dir := t.TempDir()
	want, _, err := Build(ctx, reg, dir, txs)
	if err != nil {
		t.Fatal(err)
	}
	off := openStore(t, reg, dir)
	cv, tv, err := views(reg)
	if err != nil {
		t.Fatal(err)
	}
	poison := func(v *features.FeatureView, entity func(sim.Transaction) int) []features.Row {
		var rows []features.Row
		for i, tx := range txs {
			if i%3 != 0 {
				continue
			}
			vals := make([]features.Value, len(v.Features))
			for j, f := range v.Features {
				if f.Kind == features.KindInt {
					vals[j] = features.Int(1_000_000)
				} else {
					vals[j] = features.Float(1e9)
				}
			}
			rows = append(rows, features.Row{Entity: itoa(entity(tx)), Time: tx.Time.Add(time.Nanosecond), Seq: math.MaxUint64, Values: vals})
		}
		return rows
	}
	if err := off.Append(ctx, CustomerView, poison(cv, func(tx sim.Transaction) int { return tx.Customer })); err != nil {
		t.Fatal(err)
	}
	if err := off.Append(ctx, TerminalView, poison(tv, func(tx sim.Transaction) int { return tx.Terminal })); err != nil {
		t.Fatal(err)
	}
	got, err := Join(ctx, reg, off, txs)
	if err != nil {
		t.Fatalf("Join(with future rows) = %v", err)
	}
	sameBits(t, "Join(with future rows)", txs, got, want)
	later := make([]sim.Transaction, len(txs))
	for i, tx := range txs {
		tx.Time = tx.Time.Add(time.Nanosecond)
		later[i] = tx
	}
	if _, err := Join(ctx, reg, off, later); !errors.Is(err, ErrNotOwnRow) {
		t.Errorf("Join(1 ns after each transaction) = %v, want the planted rows (%v)", err, ErrNotOwnRow)
	}

	for _, frac := range []float64{0.3, 0.7} {
		cut := txs[int(frac*float64(len(txs)))].Time
		n := 0
		for n < len(txs) && !txs[n].Time.After(cut) {
			n++
		}
		prefix, _, err := Build(ctx, registry(t, ExactBucket), t.TempDir(), txs[:n])
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "Build(prefix)", txs[:n], prefix, want[:n*Width])
	}
}
