package plot

import "errors"

var (
	// ErrLengthMismatch: a series' x (or times) and y have different lengths, or a bar
	// series has a different number of values than there are categories.
	ErrLengthMismatch = errors.New("plot: length mismatch")
	// ErrBadBins: histogram edges are fewer than two, not finite or not strictly increasing.
	ErrBadBins = errors.New("plot: bad histogram bins")
	// ErrMixedX: one chart mixes numeric x values and times, or a series sets both.
	ErrMixedX = errors.New("plot: mixed numeric and time x values")
	// ErrRange: the data's range cannot be drawn (it overflows float64).
	ErrRange = errors.New("plot: data range too large")
)
