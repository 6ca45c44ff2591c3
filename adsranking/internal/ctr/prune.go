package ctr

import (
	"errors"
	"fmt"
	"slices"

	"github.com/casebook-ml/casebook/adsranking/sim"
)

// ErrField reports a field that cannot be pruned: out of range, or one of the ad's.
var ErrField = errors.New("ctr: not a context field")

// The context fields' column indices, in the order ContextRow writes them (and
// sim.FieldNames names them).
const (
	FieldGeo = iota
	FieldDevice
	FieldSegment0
	FieldSegment1
	FieldAge
	FieldPlacement
	FieldHour
	FieldSitecat
)

// WithoutFields returns a copy of the log with the given context fields set to -1, the
// unknown value, in every row: the training data of a model that never sees them, such as
// one served without the profile-store read (FieldSegment0, FieldSegment1, FieldAge). The
// copy shares no memory with l. Only context fields may be pruned: the ad's fields come
// from the inventory at no cost, and a bidder serving the pruned model must send -1 for
// the same fields, which it can only decide per request. A field out of range or of the
// ad is an ErrField.
func (l *Log) WithoutFields(fields ...int) (*Log, error) {
	for _, f := range fields {
		if f < 0 || f >= sim.NumContextFields {
			return nil, fmt.Errorf("%w: field %d, want 0 ≤ field < %d", ErrField, f, sim.NumContextFields)
		}
	}
	k := Schema.Len()
	if len(l.X) != l.Rows()*k {
		return nil, fmt.Errorf("ctr: prune log: %d values for %d rows of %d fields", len(l.X), l.Rows(), k)
	}
	out := &Log{
		X:        slices.Clone(l.X),
		Clicked:  slices.Clone(l.Clicked),
		Slot:     slices.Clone(l.Slot),
		Shuffled: slices.Clone(l.Shuffled),
		TrueP:    slices.Clone(l.TrueP),
		Request:  slices.Clone(l.Request),
		Time:     slices.Clone(l.Time),
		Ad:       slices.Clone(l.Ad),
	}
	for row := 0; row < len(out.X); row += k {
		for _, f := range fields {
			out.X[row+f] = -1
		}
	}
	return out, nil
}
