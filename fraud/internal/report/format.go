package report

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// count formats n with thousands separators: 1234567 → "1,234,567".
func count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pct formats a share as a percentage with one decimal; an undefined share is a dash.
func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// millis formats a latency with three significant digits.
func millis(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}

// score prints a threshold to 4 significant digits (0.9383, 0.05, 0.0001234): enough to
// tell close thresholds apart, short enough for a chart label.
func score(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// finiteSorted returns the finite values of vs in ascending order and how many were not.
func finiteSorted(vs []float64) ([]float64, int) {
	out := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, len(vs) - len(out)
}

// quantile interpolates linearly between the closest ranks of sorted; NaN when empty.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// shareAtLeast is the share of vs at or above t; NaN when vs is empty.
func shareAtLeast(vs []float64, t float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	n := 0
	for _, v := range vs {
		if v >= t {
			n++
		}
	}
	return float64(n) / float64(len(vs))
}
