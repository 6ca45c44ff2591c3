package ml

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
)

// Dataset is a labelled, row-major matrix over a Schema. Labels are probabilities in
// [0, 1]: hard 0/1 labels for ordinary training, soft labels when a teacher distils.
type Dataset struct {
	Schema Schema
	// X holds Rows() × Schema.Len() values, row after row.
	X []float64
	// Y holds one label per row.
	Y []float64
	// Exposure, if set, holds one probability per row in (0, 1] that the row's example was
	// seen at all (an ad's position effect): the label was drawn with P(y=1) = exposure ×
	// the model's probability. The factorization machine trains through it (position bias
	// removed, TrainFMExposed) and Evaluate multiplies it back into the predictions. Nil is
	// 1 for every row; the other families ignore it.
	Exposure []float64
}

// Rows is the number of rows.
func (d Dataset) Rows() int { return len(d.Y) }

// Row returns row i (a slice of X, not a copy).
func (d Dataset) Row(i int) []float64 {
	k := d.Schema.Len()
	return d.X[i*k : (i+1)*k]
}

// Batch returns the dataset's features as a Batch.
func (d Dataset) Batch() Batch { return Batch{Schema: d.Schema, X: d.X} }

// Validate checks the schema, the shape, that every value is finite and every label in
// [0, 1]. With training set, it also refuses a single-class label set.
func (d Dataset) Validate(training bool) error {
	if err := d.Schema.Validate(); err != nil {
		return err
	}
	n := d.Rows()
	if n == 0 {
		return ErrEmpty
	}
	if len(d.X) != n*d.Schema.Len() {
		return fmt.Errorf("%w: %d values for %d rows × %d features", ErrShape, len(d.X), n, d.Schema.Len())
	}
	if err := checkFinite(d.Schema, d.X); err != nil {
		return err
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, y := range d.Y {
		if !(y >= 0 && y <= 1) {
			return fmt.Errorf("%w: row %d has label %v", ErrBadLabel, i, y)
		}
		lo, hi = math.Min(lo, y), math.Max(hi, y)
	}
	if d.Exposure != nil {
		if len(d.Exposure) != n {
			return fmt.Errorf("%w: %d exposures for %d rows", ErrShape, len(d.Exposure), n)
		}
		for i, e := range d.Exposure {
			if !(e > 0 && e <= 1) {
				return fmt.Errorf("%w: row %d has exposure %v, want (0, 1]", ErrShape, i, e)
			}
		}
	}
	if training && lo == hi {
		return fmt.Errorf("%w: all %d labels are %v", ErrOneClass, n, lo)
	}
	return nil
}

func checkFinite(s Schema, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			k := s.Len()
			return &NonFiniteError{Row: i / k, Feature: s.Features[i%k].Name, Value: v}
		}
	}
	return nil
}

// Fingerprint is the sha256 (hex) over the schema hash and the exact bits of every value
// and label: two datasets share a fingerprint only when they are identical.
func (d Dataset) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("casebook/dataset/v1\n"))
	h.Write([]byte(d.Schema.Hash()))
	var buf [8 * 512]byte
	write := func(vs []float64) {
		binary.LittleEndian.PutUint64(buf[:8], uint64(len(vs)))
		h.Write(buf[:8])
		for len(vs) > 0 {
			m := min(len(vs), 512)
			for i := 0; i < m; i++ {
				binary.LittleEndian.PutUint64(buf[i*8:], math.Float64bits(vs[i]))
			}
			h.Write(buf[:m*8])
			vs = vs[m:]
		}
	}
	write(d.X)
	write(d.Y)
	if d.Exposure != nil { // absent from the hash when unset, so older fingerprints hold
		h.Write([]byte("exposure\n"))
		write(d.Exposure)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Split divides the rows into two datasets, the first holding about frac of them, chosen
// by a seeded shuffle so the split is reproducible.
func (d Dataset) Split(frac float64, seed uint64) (Dataset, Dataset) {
	a, b := SplitIndex(d.Rows(), frac, seed)
	return d.Subset(a), d.Subset(b)
}

// SplitIndex is Split's choice of rows: a seeded shuffle of 0..n-1 cut after about frac
// of them.
func SplitIndex(n int, frac float64, seed uint64) ([]int, []int) {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	cut := int(math.Round(frac * float64(n)))
	return idx[:cut], idx[cut:]
}

// SplitInOrder divides the rows in the order they are: the first about frac of them, then
// the rest. For rows in event-time order it is the time split: fit on the past, judge on
// what came after.
// The halves share memory with d.
func (d Dataset) SplitInOrder(frac float64) (Dataset, Dataset) {
	cut := int(math.Round(frac * float64(d.Rows())))
	return d.Slice(0, cut), d.Slice(cut, d.Rows())
}

// Slice returns rows from..to-1, sharing memory with d (not a copy).
func (d Dataset) Slice(from, to int) Dataset {
	k := d.Schema.Len()
	out := Dataset{Schema: d.Schema, X: d.X[from*k : to*k : to*k], Y: d.Y[from:to:to]}
	if d.Exposure != nil {
		out.Exposure = d.Exposure[from:to:to]
	}
	return out
}

// Range is the row indexes from..to-1.
func Range(from, to int) []int {
	out := make([]int, 0, max(0, to-from))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// Subset returns the given rows, in the given order.
func (d Dataset) Subset(rows []int) Dataset {
	k := d.Schema.Len()
	out := Dataset{Schema: d.Schema, X: make([]float64, 0, len(rows)*k), Y: make([]float64, 0, len(rows))}
	for _, r := range rows {
		out.X = append(out.X, d.X[r*k:(r+1)*k]...)
		out.Y = append(out.Y, d.Y[r])
	}
	if d.Exposure != nil {
		out.Exposure = make([]float64, len(rows))
		for i, r := range rows {
			out.Exposure[i] = d.Exposure[r]
		}
	}
	return out
}

// SelectFeatures returns the dataset restricted to the named features, in the given order.
func (d Dataset) SelectFeatures(names []string) (Dataset, error) {
	cols := make([]int, len(names))
	fs := make([]Feature, len(names))
	for i, n := range names {
		j := d.Schema.Index(n)
		if j < 0 {
			return Dataset{}, fmt.Errorf("select %q: %w: no such feature", n, ErrSchemaMismatch)
		}
		cols[i], fs[i] = j, d.Schema.Features[j]
	}
	k, n := d.Schema.Len(), d.Rows()
	out := Dataset{Schema: Schema{Features: fs}, X: make([]float64, n*len(cols)), Y: append([]float64(nil), d.Y...), Exposure: d.Exposure}
	for r := 0; r < n; r++ {
		for i, c := range cols {
			out.X[r*len(cols)+i] = d.X[r*k+c]
		}
	}
	return out, nil
}

// WithLabels returns a copy of the dataset's features with new labels (for distillation).
func (d Dataset) WithLabels(y []float64) Dataset {
	return Dataset{Schema: d.Schema, X: d.X, Y: y, Exposure: d.Exposure}
}
