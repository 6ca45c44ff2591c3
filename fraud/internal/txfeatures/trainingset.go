package txfeatures

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// ErrNotOwnRow says the point-in-time join used a row from another instant than the
// transaction's own: every transaction produces a row of both views at its time, so the
// store does not hold the rows of these transactions (another dataset, or a partial one).
var ErrNotOwnRow = errors.New("offline store row is not the transaction's own")

// BuildStats says what building a training set through the offline store did and where
// the time went.
type BuildStats struct {
	Dir          string `json:"offline_dir,omitempty"`
	CustomerRows int    `json:"customer_rows"`
	TerminalRows int    `json:"terminal_rows"`
	// ComputeSeconds is the batch execution of both views (features.ComputeBatch).
	ComputeSeconds float64 `json:"compute_seconds"`
	// WriteSeconds is writing their rows to the offline store: Parquet partitions per view
	// and day, and the manifest.
	WriteSeconds float64 `json:"offline_write_seconds"`
	// JoinSeconds is the point-in-time join (features.(*OfflineStore).TrainingSet, reading
	// the partitions back included) and assembling the matrix.
	JoinSeconds float64 `json:"training_set_seconds"`
}

// Materialize computes both views over txs (in time order, labels known) with the batch
// execution and writes their rows into off, as a platform materializes features before
// training. The day partitions the data touches are rewritten as new versions (a
// backfill), so running it again on the same store replaces rows rather than duplicating
// them. One view at a time, so only one view's rows are in memory.
func Materialize(ctx context.Context, reg *features.Registry, off *features.OfflineStore, txs []sim.Transaction) (BuildStats, error) {
	st := BuildStats{Dir: off.Dir()}
	cv, tv, err := views(reg)
	if err != nil {
		return st, fmt.Errorf("materialize features: %w", err)
	}
	events := Events(txs)
	reason := fmt.Sprintf("fraud features: batch over %d transactions", len(txs))
	for _, v := range []*features.FeatureView{cv, tv} {
		start := time.Now()
		rows, err := computeView(v, events)
		if err != nil {
			return st, fmt.Errorf("materialize features: %w", err)
		}
		computed := time.Now()
		if err := off.Rewrite(ctx, v.Name, rows, reason); err != nil {
			return st, fmt.Errorf("materialize features: %w", err)
		}
		st.ComputeSeconds += computed.Sub(start).Seconds()
		st.WriteSeconds += time.Since(computed).Seconds()
		if v == cv {
			st.CustomerRows = len(rows)
		} else {
			st.TerminalRows = len(rows)
		}
	}
	return st, nil
}

// Join builds the n×Width matrix of txs from the offline store: one label row per
// transaction (its time, log position, customer and terminal) joined point in time to both
// views by features.(*OfflineStore).TrainingSet, so each value is the newest row of its
// entity at or before the transaction and its log position: its own row, which counts the
// transactions of the same second up to it in arrival order (the package doc, Ties). Weekend and night
// come from the transaction. A null (an empty window) becomes 0, as in Fill.
func Join(ctx context.Context, reg *features.Registry, off *features.OfflineStore, txs []sim.Transaction) ([]float64, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	cv, tv, err := views(reg)
	if err != nil {
		return nil, fmt.Errorf("training set: %w", err)
	}
	n := len(txs)
	labels := features.Labels{Time: make([]time.Time, n), Seq: make([]uint64, n), Keys: map[string][]string{
		cv.Entity.JoinKey: make([]string, n), tv.Entity.JoinKey: make([]string, n),
	}}
	for i, tx := range txs {
		labels.Time[i] = tx.Time
		labels.Seq[i] = uint64(i + 1) // Events' log positions: each label sees its own row
		labels.Keys[cv.Entity.JoinKey][i] = strconv.Itoa(tx.Customer)
		labels.Keys[tv.Entity.JoinKey][i] = strconv.Itoa(tx.Terminal)
	}
	var refs []string
	for _, v := range []*features.FeatureView{cv, tv} {
		for _, f := range v.FeatureNames() {
			refs = append(refs, v.Name+":"+f)
		}
	}
	if 3+len(refs) != Width {
		return nil, fmt.Errorf("training set: %d features in the views, want %d", len(refs), Width-3)
	}
	ts, err := off.TrainingSet(ctx, labels, refs)
	if err != nil {
		return nil, fmt.Errorf("training set: %w", err)
	}
	out := make([]float64, n*Width)
	for i, tx := range txs {
		o := out[i*Width : (i+1)*Width]
		o[0] = tx.Amount
		o[1] = b2f(Weekend(tx.Time))
		o[2] = b2f(Night(tx.Time))
	}
	for j := range ts.Columns {
		c := &ts.Columns[j]
		for i, tx := range txs {
			if at := tx.Time.UnixNano(); c.AsOf[i] != at {
				return nil, fmt.Errorf("training set: transaction %d %s: row at %d, transaction at %d: %w",
					tx.ID, c.Ref, c.AsOf[i], at, ErrNotOwnRow)
			}
			if c.Status[i] == features.Present {
				out[i*Width+3+j] = c.Floats[i]
			}
		}
	}
	return out, nil
}

// Build is the training-set path a platform takes: it opens (or creates) the offline
// store in dir, materializes both views over txs into it and joins them point in time to
// one label row per transaction. The matrix equals Offline's bit for bit.
func Build(ctx context.Context, reg *features.Registry, dir string, txs []sim.Transaction) ([]float64, BuildStats, error) {
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = dir
	return BuildIn(ctx, reg, cfg, txs)
}

// BuildIn is Build with the offline store's whole configuration (a keyring to seal its
// Parquet files, for one).
func BuildIn(ctx context.Context, reg *features.Registry, cfg features.OfflineConfig, txs []sim.Transaction) ([]float64, BuildStats, error) {
	dir := cfg.Dir
	off, err := features.OpenOffline(cfg, reg)
	if err != nil {
		return nil, BuildStats{Dir: dir}, fmt.Errorf("training set: %w", err)
	}
	st, err := Materialize(ctx, reg, off, txs)
	if err != nil {
		return nil, st, err
	}
	start := time.Now()
	x, err := Join(ctx, reg, off, txs)
	st.JoinSeconds = time.Since(start).Seconds()
	return x, st, err
}
