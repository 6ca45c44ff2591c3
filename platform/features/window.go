package features

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Row is one version of a view's values for one entity: the values as of Time. Seq orders
// rows that share a Time; the newer row is the one with the greater (Time, Seq). Seq says
// how much of the log the values reflect: StreamSeq(s) for a row computed from the events up
// to log position s (an emission after a late event gets a higher one), RecomputedSeq(h) for
// a backfill that read the log up to h, which supersedes every stream row up to h and is
// superseded by the stream's next emission for the same instant.
type Row struct {
	Entity string
	Time   time.Time
	Seq    uint64
	Values []Value // in the view's feature order
}

// Newer reports whether r supersedes o.
func (r *Row) Newer(o *Row) bool {
	if !r.Time.Equal(o.Time) {
		return r.Time.After(o.Time)
	}
	return r.Seq > o.Seq
}

// The window rule, shared by both executions.
//
// Time is cut into buckets of the view's Bucket size B: bucket b holds event times in
// [b·B, (b+1)·B) counted from the Unix epoch in UTC. A window of Length L = n·B delayed by
// D = d·B, evaluated as of time t, holds the events e with
//
//	bucket(t) - d - n + 1  <=  bucket(e)  <=  bucket(t) - d     and     time(e) <= t.
//
// With d = 0 that is the current bucket up to and including t (every event at exactly t,
// whatever order they arrived in) plus the n-1 buckets before it: a span of more than
// L-B and at most L. With d >= 1 it is n whole buckets, ending d buckets before t's
// bucket: the window ends between D and D+B before t, never closer.

func bucketOf(t int64, b int64) int64 {
	q := t / b
	if t%b < 0 {
		q--
	}
	return q
}

// windowBuckets returns the inclusive bucket range of window w as of t.
func windowBuckets(t int64, bucket int64, w Window) (lo, hi int64) {
	bt := bucketOf(t, bucket)
	hi = bt - int64(w.Delay)/bucket
	lo = hi - int64(w.Length)/bucket + 1
	return lo, hi
}

// acc is the aggregate of some events: their count and, per input, sum, min and max.
// Both executions build it the same way (adding events in log order, then combining buckets
// oldest first), so float sums come out bit-identical. The streaming execution keeps each
// bucket's statistics in flat slices instead (buckets.go), with the same arithmetic.
type acc struct {
	count int64
	v     []float64 // per input i: v[3i] sum, v[3i+1] min, v[3i+2] max
}

func newAcc(inputs int) acc {
	a := acc{v: make([]float64, 3*inputs)}
	a.reset()
	return a
}

func (a *acc) reset() {
	a.count = 0
	for i := 0; i < len(a.v); i += 3 {
		a.v[i], a.v[i+1], a.v[i+2] = 0, math.Inf(1), math.Inf(-1)
	}
}

func (a *acc) add(fields []float64) {
	a.count++
	for i, f := range fields {
		a.v[3*i] += f
		a.v[3*i+1] = min(a.v[3*i+1], f)
		a.v[3*i+2] = max(a.v[3*i+2], f)
	}
}

func (a *acc) combine(o *acc) {
	if o.count == 0 {
		return
	}
	a.count += o.count
	for i := 0; i < len(a.v); i += 3 {
		a.v[i] += o.v[i]
		a.v[i+1] = min(a.v[i+1], o.v[i+1])
		a.v[i+2] = max(a.v[i+2], o.v[i+2])
	}
}

// plan is a view's aggregations compiled for evaluation: the distinct windows and, per
// aggregation, which window and which inputs it reads.
type plan struct {
	bucket  int64
	inputs  int
	windows []Window
	aggs    []aggPlan
	maxNeed int64 // buckets back from bucket(t) the oldest window reaches
	exact   bool  // some window has no delay, so the current bucket is read up to t
	// Per window, its bucket range as of t is [bucket(t)-back[w], bucket(t)-ahead[w]].
	back, ahead []int64
	order       []int // the windows by oldest start first
	// The statistics some aggregation reads, as input indices: the streaming execution
	// keeps and combines only these. A bucket's stats are laid out sums, then mins, then
	// maxes; stride is their total.
	sums, mins, maxs []int
	stride           int
}

type aggPlan struct {
	fn     AggFunc
	window int
	input  int // -1 for count
	denom  int // -1: divide by count
}

func newPlan(v *FeatureView) *plan {
	p := &plan{bucket: int64(v.Bucket), inputs: len(v.Inputs)}
	inputIdx := map[string]int{}
	for i, in := range v.Inputs {
		inputIdx[in] = i
	}
	for _, a := range v.Aggregations {
		wi := -1
		for i, w := range p.windows {
			if w == a.Window {
				wi = i
			}
		}
		if wi < 0 {
			wi = len(p.windows)
			p.windows = append(p.windows, a.Window)
			p.maxNeed = max(p.maxNeed, int64(a.Window.Length+a.Window.Delay)/p.bucket)
			p.exact = p.exact || a.Window.Delay == 0
		}
		ap := aggPlan{fn: a.Func, window: wi, input: -1, denom: -1}
		if a.Input != "" {
			ap.input = inputIdx[a.Input]
		}
		if a.Denominator != "" {
			ap.denom = inputIdx[a.Denominator]
		}
		p.aggs = append(p.aggs, ap)
	}
	for i, w := range p.windows {
		ahead := int64(w.Delay) / p.bucket
		p.ahead = append(p.ahead, ahead)
		p.back = append(p.back, ahead+int64(w.Length)/p.bucket-1)
		p.order = append(p.order, i)
	}
	slices.SortStableFunc(p.order, func(v, w int) int { return cmp.Compare(p.back[w], p.back[v]) })
	need := func(stats *[]int, in int) {
		if in >= 0 && !slices.Contains(*stats, in) {
			*stats = append(*stats, in)
		}
	}
	for _, a := range p.aggs {
		switch a.fn {
		case Sum, Mean, Ratio:
			need(&p.sums, a.input)
			need(&p.sums, a.denom)
		case Min:
			need(&p.mins, a.input)
		case Max:
			need(&p.maxs, a.input)
		}
	}
	p.stride = len(p.sums) + len(p.mins) + len(p.maxs)
	return p
}

// finish turns the per-window aggregates into the view's feature values, written to out
// (length len(p.aggs)). It reads only the statistics listed in p.sums, p.mins and p.maxs.
func (p *plan) finish(wins []acc, out []Value) {
	for i, a := range p.aggs {
		w := &wins[a.window]
		switch a.fn {
		case Count:
			out[i] = Int(w.count)
		case Sum:
			out[i] = Float(w.v[3*a.input])
		case Mean:
			if w.count > 0 {
				out[i] = Float(w.v[3*a.input] / float64(w.count))
			}
		case Min:
			if w.count > 0 {
				out[i] = Float(w.v[3*a.input+1])
			}
		case Max:
			if w.count > 0 {
				out[i] = Float(w.v[3*a.input+2])
			}
		case Ratio:
			den := float64(w.count)
			if a.denom >= 0 {
				den = w.v[3*a.denom]
			}
			if den != 0 {
				out[i] = Float(w.v[3*a.input] / den)
			}
		}
	}
}

func unixUTC(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// StreamSeq is the Seq of a row computed from the log up to and including position s.
func StreamSeq(s uint64) uint64 { return 2 * s }

// RecomputedSeq is the Seq of a row a backfill recomputed after reading the log up to h.
func RecomputedSeq(h uint64) uint64 { return 2*h + 1 }
