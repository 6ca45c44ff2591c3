package features

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Labels are the rows a training set is built for: an event time per row and, per entity
// join key, the entity each row is about.
type Labels struct {
	Time []time.Time
	Keys map[string][]string // join key -> one entity per row
	// Seq, when set (one per row), is each label's log position: of the rows at exactly
	// the label's time, only those computed from the log up to that position
	// (Row.Seq ≤ StreamSeq(Seq[i])) are used. With rows computed per event
	// (BatchOptions.EachEvent) a label then sees simultaneous events in arrival order,
	// as a streaming scorer does; without it, every row at the label's time counts.
	Seq []uint64
}

// Len is the number of label rows.
func (l Labels) Len() int { return len(l.Time) }

// Column is one feature of a training set, one entry per label row. Numbers (int, float,
// bool as 0/1) are in Floats, strings in Strings, vectors in Vectors; only the slice for
// the feature's kind is set.
type Column struct {
	Ref     string
	Kind    Kind
	Status  []Status
	Floats  []float64
	Strings []string
	Vectors [][]float32
	// AsOf is the event time of the row used (Unix ns; 0 when there was none).
	AsOf []int64
}

// Reason says why row i has no value, or "" when it has one.
func (c *Column) Reason(i int) string {
	switch {
	case c.Status[i] == Present:
		return ""
	case c.Status[i] == Stale:
		return "newest value at or before the label time is older than the TTL"
	case c.AsOf[i] != 0:
		return "the value is null (an empty window)"
	}
	return "no value at or before the label time"
}

// TrainingSet is features joined to labels as of each label's time.
type TrainingSet struct {
	Labels  Labels
	Columns []Column
}

// TrainingSet joins features to label rows point-in-time correctly: for each row and each
// feature ref ("view:feature"), the value of the newest row of that entity with time at or
// before the label time (the highest Seq among rows at the same time), provided it is not
// older than the view's TTL; otherwise a null with status and reason. A row after the label
// time is never used, however close.
func (o *OfflineStore) TrainingSet(ctx context.Context, labels Labels, refs []string) (*TrainingSet, error) {
	n := labels.Len()
	if n == 0 {
		return nil, errors.New("training set: no label rows")
	}
	if labels.Seq != nil && len(labels.Seq) != n {
		return nil, fmt.Errorf("training set: %d label log positions for %d rows", len(labels.Seq), n)
	}
	type want struct {
		col  int
		feat int
	}
	byView := map[string][]want{}
	var viewOrder []string
	ts := &TrainingSet{Labels: labels, Columns: make([]Column, len(refs))}
	for i, ref := range refs {
		v, fi, err := o.reg.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("training set: %w", err)
		}
		keys, ok := labels.Keys[v.Entity.JoinKey]
		if !ok || len(keys) != n {
			return nil, fmt.Errorf("training set: feature %s needs label column %q with %d entries", ref, v.Entity.JoinKey, n)
		}
		if _, ok := byView[v.Name]; !ok {
			viewOrder = append(viewOrder, v.Name)
		}
		byView[v.Name] = append(byView[v.Name], want{i, fi})
		c := Column{Ref: ref, Kind: v.Features[fi].Kind, Status: make([]Status, n), AsOf: make([]int64, n)}
		switch c.Kind {
		case KindString:
			c.Strings = make([]string, n)
		case KindVector:
			c.Vectors = make([][]float32, n)
		default:
			c.Floats = make([]float64, n)
		}
		ts.Columns[i] = c
	}
	lo, hi := labels.Time[0], labels.Time[0]
	for _, t := range labels.Time {
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	for _, name := range viewOrder {
		v, _ := o.reg.View(name)
		from := time.Time{}
		if v.TTL > 0 {
			from = lo.Add(-v.TTL)
		}
		rows, err := o.Scan(ctx, name, from, hi.Add(time.Nanosecond))
		if err != nil {
			return nil, fmt.Errorf("training set: %w", err)
		}
		match := pointInTime(rows, labels.Keys[v.Entity.JoinKey], labels.Time, labels.Seq)
		for _, w := range byView[name] {
			fill(&ts.Columns[w.col], w.feat, rows, match, labels.Time, v.TTL)
		}
	}
	return ts, nil
}

// pointInTime returns, for every label, the index of the newest row of its entity at or
// before its time (-1 if none); with seqs, rows at exactly the label's time count only up
// to StreamSeq(seqs[i]).
func pointInTime(rows []Row, entities []string, times []time.Time, seqs []uint64) []int32 {
	ids := map[string]int32{}
	type ref struct {
		id  int32
		t   int64
		seq uint64
		i   int32
	}
	rs := make([]ref, len(rows))
	for i := range rows {
		id, ok := ids[rows[i].Entity]
		if !ok {
			id = int32(len(ids))
			ids[rows[i].Entity] = id
		}
		rs[i] = ref{id, rows[i].Time.UnixNano(), rows[i].Seq, int32(i)}
	}
	cmp := func(a, b ref) int {
		switch {
		case a.id != b.id:
			return int(a.id - b.id)
		case a.t != b.t:
			if a.t < b.t {
				return -1
			}
			return 1
		case a.seq != b.seq:
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return int(a.i - b.i)
	}
	slices.SortFunc(rs, cmp)
	ls := make([]ref, 0, len(times))
	match := make([]int32, len(times))
	for i, e := range entities {
		match[i] = -1
		if id, ok := ids[e]; ok {
			seq := uint64(math.MaxUint64)
			if seqs != nil {
				seq = StreamSeq(seqs[i])
			}
			ls = append(ls, ref{id, times[i].UnixNano(), seq, int32(i)})
		}
	}
	slices.SortFunc(ls, cmp)
	j := 0
	for _, l := range ls {
		for j < len(rs) && (rs[j].id < l.id || (rs[j].id == l.id && (rs[j].t < l.t || (rs[j].t == l.t && rs[j].seq <= l.seq)))) {
			j++
		}
		// rs[j-1] is the last row ordered before (l.id, l.t]: use it if it is l's entity.
		if j > 0 && rs[j-1].id == l.id && rs[j-1].t <= l.t {
			match[l.i] = rs[j-1].i
		}
	}
	return match
}

func fill(c *Column, feat int, rows []Row, match []int32, times []time.Time, ttl time.Duration) {
	for i, m := range match {
		if m < 0 {
			continue
		}
		r := &rows[m]
		fv := Resolve(r.Values[feat], r.Time, times[i], ttl)
		c.Status[i], c.AsOf[i] = fv.Status, r.Time.UnixNano()
		if fv.Status != Present {
			continue
		}
		switch c.Kind {
		case KindString:
			c.Strings[i] = fv.Value.Str()
		case KindVector:
			c.Vectors[i] = fv.Value.Vector()
		default:
			c.Floats[i] = fv.Value.Float()
		}
	}
}
