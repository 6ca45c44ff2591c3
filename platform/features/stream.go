package features

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Outcome says what the streaming execution did with one event.
type Outcome uint8

// Outcomes of Aggregator.Apply.
const (
	Applied   Outcome = iota // in order, applied
	Late                     // out of order but within AllowedLateness: applied, values re-emitted
	Dropped                  // older than the watermark: not applied, counted
	Duplicate                // an event id already applied: ignored
	Skipped                  // the transform said the event is not for this view
)

func (o Outcome) String() string {
	return [...]string{"applied", "late", "dropped", "duplicate", "skipped"}[o]
}

// Stats counts outcomes.
type Stats struct {
	Applied, Late, Dropped, Duplicate, Skipped int64
	// Invalid counts events the transform or the checks rejected.
	Invalid int64
}

func (s *Stats) count(o Outcome) {
	switch o {
	case Applied:
		s.Applied++
	case Late:
		s.Late++
	case Dropped:
		s.Dropped++
	case Duplicate:
		s.Duplicate++
	case Skipped:
		s.Skipped++
	}
}

// Aggregator is the streaming (online) execution of one view: it applies events one at a
// time and returns the rows whose values changed. State per entity is bounded by the
// longest window: buckets older than any window evaluated at or after the watermark can
// reach are evicted, and raw events are kept only for buckets the watermark has not passed.
// Expiry costs O(log n) per bucket, amortised, however fine the buckets (see expiry.go).
// It is not safe for concurrent use; run one per view per consumer.
type Aggregator struct {
	view   *FeatureView
	plan   *plan
	in     Input
	keys   map[string]*keyState
	expiry keyQueue            // every entry of keys, by the bucket its next expiry is due
	seen   map[string]struct{} // event ids at or after the watermark
	ids    idQueue             // the ids in seen, by event time
	maxT   int64               // newest event time seen, Unix ns
	any    bool
	swept  int64 // watermark bucket at the last sweep
	stats  Stats
	wins   []acc
	part   acc
}

// NewAggregator returns the streaming execution of a registered view.
func NewAggregator(v *FeatureView) (*Aggregator, error) {
	if v.index == nil {
		return nil, fmt.Errorf("%w: view %q is not compiled; register it first", ErrInvalidDefinition, v.Name)
	}
	if v.Transform == nil {
		return nil, fmt.Errorf("%w: view %q has no transform to compute it with", ErrInvalidDefinition, v.Name)
	}
	a := &Aggregator{view: v, keys: map[string]*keyState{}, seen: map[string]struct{}{}}
	a.in.Fields = make([]float64, len(v.Inputs))
	if v.IsAggregation() {
		a.plan = newPlan(v)
		a.wins = make([]acc, len(a.plan.windows))
		for i := range a.wins {
			a.wins[i] = newAcc(a.plan.inputs)
		}
		a.part = newAcc(a.plan.inputs)
	} else {
		a.in.Values = make([]Value, len(v.Features))
	}
	return a, nil
}

// Stats returns the outcome counts so far.
func (a *Aggregator) Stats() Stats { return a.stats }

// Watermark is the oldest event time still accepted: the newest time seen minus the
// allowed lateness. Zero before the first event.
func (a *Aggregator) Watermark() time.Time {
	if !a.any {
		return time.Time{}
	}
	return time.Unix(0, a.maxT-int64(a.view.AllowedLateness)).UTC()
}

// Newest is the newest event time applied.
func (a *Aggregator) Newest() time.Time {
	if !a.any {
		return time.Time{}
	}
	return time.Unix(0, a.maxT).UTC()
}

// Apply runs the transform on one event and updates the state. It returns the rows to
// write: for an in-order event, the entity's values as of the event; for a late one, also
// every later instant of that entity whose values it changed. Transform errors are returned
// wrapped; the state is then unchanged.
func (a *Aggregator) Apply(ev Event) ([]Row, Outcome, error) {
	rows, o, err := a.apply(ev)
	if err != nil {
		a.stats.Invalid++
		return nil, 0, err
	}
	a.stats.count(o)
	return rows, o, nil
}

func (a *Aggregator) apply(ev Event) ([]Row, Outcome, error) {
	in, err := runTransform(a.view, ev, &a.in)
	if errors.Is(err, ErrSkip) {
		return nil, Skipped, nil
	}
	if err != nil {
		return nil, 0, err
	}
	t := ev.Time.UnixNano()
	if !a.view.IsAggregation() {
		return []Row{{Entity: in.Entity, Time: ev.Time.UTC(), Seq: StreamSeq(ev.Seq), Values: slices.Clone(in.Values)}}, Applied, nil
	}
	wm := a.maxT - int64(a.view.AllowedLateness)
	if a.any && t < wm {
		return nil, Dropped, nil
	}
	// One map operation instead of a lookup and an insert: the set grows unless the id is
	// in it already.
	n := len(a.seen)
	if a.seen[ev.ID] = struct{}{}; len(a.seen) == n {
		return nil, Duplicate, nil
	}
	a.ids.push(t, ev.ID)
	outcome := Applied
	if a.any && t < a.maxT {
		outcome = Late
	}
	if !a.any || t > a.maxT {
		a.maxT, a.any = t, true
	}
	p := a.plan
	idx := bucketOf(t, p.bucket)
	ks := a.keys[in.Entity]
	if ks == nil {
		ks = &keyState{entity: in.Entity, due: idx + 1}
		a.keys[in.Entity] = ks
		a.expiry.push(ks)
	} else if idx+1 < ks.due {
		// Only a new bucket can be due sooner: the entity has no open bucket, or this one
		// precedes its first.
		ks.due = idx + 1
		a.expiry.lower(ks)
	}
	ks.add(ks.bucket(idx, p), t, in.Fields, p)
	// Instants whose values this event changes: its own and every later one still open.
	i := len(ks.times)
	if i == 0 || ks.times[i-1] < t {
		ks.times = append(ks.times, t)
	} else if i, _ = slices.BinarySearch(ks.times, t); ks.times[i] != t {
		ks.times = slices.Insert(ks.times, i, t)
	}
	at := ks.times[i:]
	rows := make([]Row, len(at))
	vals := make([]Value, len(at)*len(p.aggs))
	for r, et := range at {
		v := vals[r*len(p.aggs) : (r+1)*len(p.aggs) : (r+1)*len(p.aggs)]
		a.evaluate(ks, et, v)
		rows[r] = Row{Entity: in.Entity, Time: time.Unix(0, et).UTC(), Seq: StreamSeq(ev.Seq), Values: v}
	}
	a.maybeSweep()
	return rows, outcome, nil
}

// runTransform calls the view's transform and checks what it produced.
func runTransform(v *FeatureView, ev Event, in *Input) (*Input, error) {
	in.Entity = ""
	for i := range in.Fields {
		in.Fields[i] = 0
	}
	for i := range in.Values {
		in.Values[i] = Value{}
	}
	if err := v.Transform(ev, in); err != nil {
		if errors.Is(err, ErrSkip) {
			return nil, err
		}
		return nil, fmt.Errorf("view %q: transform event %q: %w", v.Name, ev.ID, err)
	}
	if in.Entity == "" {
		return nil, fmt.Errorf("view %q: event %q: %w", v.Name, ev.ID, ErrEmptyEntityKey)
	}
	if ev.Time.IsZero() {
		return nil, fmt.Errorf("%w: view %q: event %q has no event time", ErrInvalidValue, v.Name, ev.ID)
	}
	for i, f := range in.Fields {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: view %q: event %q: input %q is %v", ErrInvalidValue, v.Name, ev.ID, v.Inputs[i], f)
		}
	}
	for i, val := range in.Values {
		if err := val.check(v.Features[i]); err != nil {
			return nil, fmt.Errorf("view %q: event %q: %w", v.Name, ev.ID, err)
		}
	}
	return in, nil
}

// evaluate computes the entity's values as of t from its buckets into out. Each window
// starts from zero and combines its buckets oldest first, as the batch execution does.
// Windows are taken oldest start first: the first reads the entity's buckets in order from
// the front, and the others find their start from where it was.
func (a *Aggregator) evaluate(ks *keyState, t int64, out []Value) {
	p := a.plan
	bt := bucketOf(t, p.bucket)
	partial := false // a.part holds the bucket holding t, summed up to t
	j := 0
	for _, w := range p.order {
		win := &a.wins[w]
		win.reset()
		lo, hi := bt-p.back[w], bt-p.ahead[w]
		j = gallop(ks.heads, j, lo)
		end := len(ks.heads)
		for end > j && ks.heads[end-1].idx > hi {
			end--
		}
		if end > j && ks.heads[end-1].maxT > t {
			// Only the bucket holding t can contain later events; sum the earlier ones in
			// arrival order, as the batch execution does.
			end--
			if !partial {
				ks.partial(&a.part, ks.heads[end].idx, t, p.inputs)
				partial = true
			}
			ks.combineRange(win, j, end, p)
			win.combine(&a.part)
			continue
		}
		ks.combineRange(win, j, end, p)
	}
	p.finish(a.wins, out)
}

// maybeSweep closes and evicts buckets once the watermark enters a new bucket.
func (a *Aggregator) maybeSweep() {
	wm := a.maxT - int64(a.view.AllowedLateness)
	wb := bucketOf(wm, a.plan.bucket)
	if wb <= a.swept {
		return
	}
	a.swept = wb
	a.sweep(wm)
}

// sweep drops state no evaluation at or after the watermark wm can read. Only entities
// whose due bucket the watermark has reached have any; the others are not visited.
func (a *Aggregator) sweep(wm int64) {
	wb := bucketOf(wm, a.plan.bucket)
	for ks := a.expiry.popDue(wb); ks != nil; ks = a.expiry.popDue(wb) {
		a.sweepKey(ks, wb, wm)
		if len(ks.heads) == 0 {
			delete(a.keys, ks.entity)
			continue
		}
		ks.due = ks.heads[0].idx + a.plan.maxNeed // evicted when no window reaches it
		if open, ok := ks.firstOpen(); ok {
			ks.due = min(ks.due, open+1) // closed once passed
		}
		a.expiry.push(ks)
	}
	for id, ok := a.ids.popBefore(wm); ok; id, ok = a.ids.popBefore(wm) {
		delete(a.seen, id)
	}
}

// sweepKey evicts the entity's buckets older than every window as of the watermark bucket
// wb, closes those before wb, and forgets event times before wm.
func (a *Aggregator) sweepKey(ks *keyState, wb, wm int64) {
	ks.evict(wb-a.plan.maxNeed+1, a.plan.stride)
	ks.close(wb, a.plan.inputs)
	ks.forget(wm)
}

// StateSize reports the state held: entities, buckets and raw events kept.
func (a *Aggregator) StateSize() (entities, buckets, rawEvents, ids int) {
	for _, ks := range a.keys {
		buckets += len(ks.heads)
		rawEvents += len(ks.raw)
	}
	return len(a.keys), buckets, rawEvents, len(a.seen)
}
