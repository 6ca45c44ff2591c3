package ctr

import (
	"errors"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/adsranking/sim"
)

// The field constants name the columns sim.FieldNames names, and ContextRow writes the
// profile's values into them.
func TestFieldConstantsMatchFieldNames(t *testing.T) {
	p := Profile{Geo: 10, Device: 11, Segments: [2]int{12, 13}, Age: 14}
	row := ContextRow(p, 15, 16, 17, nil)
	for _, c := range []struct {
		field int
		name  string
		value float64
	}{
		{FieldGeo, "geo", 10}, {FieldDevice, "device", 11}, {FieldSegment0, "seg1", 12}, {FieldSegment1, "seg2", 13},
		{FieldAge, "age", 14}, {FieldPlacement, "placement", 15}, {FieldHour, "hour", 16}, {FieldSitecat, "sitecat", 17},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sim.FieldNames[c.field]; got != c.name {
				t.Errorf("sim.FieldNames[%d] = %q, want %q", c.field, got, c.name)
			}
			if got := row[c.field]; got != c.value {
				t.Errorf("ContextRow(...)[%d] = %v, want %v", c.field, got, c.value)
			}
		})
	}
	if len(row) != sim.NumContextFields {
		t.Errorf("len(ContextRow(...)) = %d, want %d", len(row), sim.NumContextFields)
	}
}

func TestWithoutFields(t *testing.T) {
	k := Schema.Len()
	l := &Log{Clicked: []float64{0, 1}, Slot: []int8{0, 1}, Shuffled: []bool{false, true}, TrueP: []float64{0.1, 0.2},
		Request: []int32{0, 0}, Time: []int64{1, 1}, Ad: []int64{7, 8}}
	for i := range 2 * k {
		l.X = append(l.X, float64(i))
	}
	orig := slices.Clone(l.X)
	for _, c := range []struct {
		name   string
		fields []int
		err    error
	}{
		{"profile", []int{FieldSegment0, FieldSegment1, FieldAge}, nil},
		{"none", nil, nil},
		{"repeated", []int{FieldHour, FieldHour}, nil},
		{"ad field", []int{sim.NumContextFields}, ErrField},
		{"negative", []int{-1}, ErrField},
		{"past the schema", []int{k}, ErrField},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := l.WithoutFields(c.fields...)
			if !errors.Is(err, c.err) {
				t.Fatalf("WithoutFields(%v) error = %v, want %v", c.fields, err, c.err)
			}
			if !slices.Equal(l.X, orig) {
				t.Fatalf("WithoutFields(%v) changed the original log", c.fields)
			}
			if err != nil {
				return
			}
			for i, v := range got.X {
				want := orig[i]
				if slices.Contains(c.fields, i%k) {
					want = -1
				}
				if v != want {
					t.Errorf("WithoutFields(%v).X[%d] = %v, want %v", c.fields, i, v, want)
				}
			}
			if got.Rows() != l.Rows() || !slices.Equal(got.Ad, l.Ad) || !slices.Equal(got.TrueP, l.TrueP) || !slices.Equal(got.Shuffled, l.Shuffled) {
				t.Errorf("WithoutFields(%v) = %+v, want the other columns of %+v", c.fields, got, l)
			}
			got.X[0], got.Ad[0] = 99, 99
			if l.X[0] == 99 || l.Ad[0] == 99 {
				t.Errorf("WithoutFields(%v) shares memory with the original", c.fields)
			}
		})
	}
}
