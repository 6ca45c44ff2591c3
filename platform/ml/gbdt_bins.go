package ml

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// binSampleRows bounds how many rows are sorted to choose bin edges.
const binSampleRows = 200_000

// fitCuts chooses, per feature, at most maxBins-1 ascending cut points from a seeded
// sample of rows. A value x falls in bin b, the smallest b with x ≤ cuts[b] (or
// len(cuts) if none), so "bin ≤ b" and "x ≤ cuts[b]" are the same test: the trees split
// on bins while training and on raw values while predicting, with identical results.
func fitCuts(d Dataset, maxBins int, seed uint64, w int) [][]float64 {
	k, n := d.Schema.Len(), d.Rows()
	rows := make([]int, 0, min(n, binSampleRows))
	if n <= binSampleRows {
		for i := 0; i < n; i++ {
			rows = append(rows, i)
		}
	} else {
		rng := rand.New(rand.NewPCG(seed, 0xb1))
		for i := 0; i < binSampleRows; i++ {
			rows = append(rows, rng.IntN(n))
		}
		slices.Sort(rows)
	}
	cuts := make([][]float64, k)
	forEach(k, w, func(f int) {
		vals := make([]float64, len(rows))
		for i, r := range rows {
			vals[i] = d.X[r*k+f]
		}
		slices.Sort(vals)
		distinct := slices.Compact(slices.Clone(vals))
		var c []float64
		if len(distinct) <= maxBins {
			for i := 0; i+1 < len(distinct); i++ {
				c = append(c, distinct[i]+(distinct[i+1]-distinct[i])/2)
			}
		} else {
			for q := 1; q < maxBins; q++ {
				v := vals[q*len(vals)/maxBins]
				if v >= distinct[len(distinct)-1] {
					break
				}
				if len(c) == 0 || v > c[len(c)-1] {
					c = append(c, v)
				}
			}
		}
		cuts[f] = c
	})
	return cuts
}

// binColumns returns the column-major binned matrix: cols[f][row] is row's bin of f.
func binColumns(d Dataset, cuts [][]float64, w int) [][]uint8 {
	k, n := d.Schema.Len(), d.Rows()
	cols := make([][]uint8, k)
	for f := range cols {
		cols[f] = make([]uint8, n)
	}
	forChunks(n, w, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			row := d.X[i*k : (i+1)*k]
			for f, v := range row {
				cols[f][i] = uint8(sort.SearchFloat64s(cuts[f], v))
			}
		}
	})
	return cols
}
