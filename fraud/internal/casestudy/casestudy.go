// Package casestudy implements the fraud binary's commands over the simulator, the
// handbook's features and its evaluation protocol: simulate a dataset, featurize a CSV,
// evaluate models on a CSV and register the selected one.
package casestudy

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// Simulate generates a dataset and writes it as CSV to w.
func Simulate(ctx context.Context, cfg sim.Config, tf sim.TimeFormat, w io.Writer, log io.Writer) error {
	start := time.Now()
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	gen := time.Since(start)
	if err := sim.WriteCSV(w, d.Transactions, tf); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	frauds := 0
	for _, t := range d.Transactions {
		if t.Fraud {
			frauds++
		}
	}
	fmt.Fprintf(log, "simulated %d transactions (%d fraud, %.2f%%) in %v, written in %v\n",
		len(d.Transactions), frauds, 100*float64(frauds)/float64(max(1, len(d.Transactions))),
		gen.Round(time.Millisecond), (time.Since(start) - gen).Round(time.Millisecond))
	return nil
}

// ReadCSVFile reads a transaction CSV and sorts it by time, then id.
func ReadCSVFile(path string) ([]sim.Transaction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read transactions: %w", err)
	}
	defer f.Close()
	txs, err := sim.ReadCSV(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	txfeatures.SortByTime(txs)
	return txs, nil
}

// Featurize computes the handbook's features for txs (in time order) with the exact
// one-second buckets.
func Featurize(txs []sim.Transaction) ([]float64, error) {
	reg := features.NewRegistry()
	if err := txfeatures.Register(reg, txfeatures.ExactBucket); err != nil {
		return nil, err
	}
	return txfeatures.Offline(reg, txs)
}

// Features reads the CSV at in, computes every transaction's features and writes the
// handbook's transformed table to out, in time order.
func Features(ctx context.Context, in, out string, tf sim.TimeFormat, log io.Writer) error {
	start := time.Now()
	txs, err := ReadCSVFile(in)
	if err != nil {
		return err
	}
	read := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	x, err := Featurize(txs)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	comp := time.Since(start) - read
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if err := txfeatures.WriteCSV(f, txs, x, tf); err != nil {
		f.Close()
		return fmt.Errorf("features: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	fmt.Fprintf(log, "features for %d transactions: read %v, computed %v, total %v\n",
		len(txs), read.Round(time.Millisecond), comp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nil
}
