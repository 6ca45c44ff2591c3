package features

import (
	"errors"
	"slices"
	"sort"
	"time"
)

// BatchOptions tunes the batch execution.
type BatchOptions struct {
	// IgnoreLateness applies every event in the input, however late it reached the log.
	// The default applies the view's late-event policy exactly as the streaming execution
	// does (a watermark that follows log order), so both produce the same rows; a backfill
	// sets it to repair what the stream dropped.
	IgnoreLateness bool
	// AsOfSeq, when set, stamps every row with this Seq instead of the newest log position
	// among its events: a recomputation that has read the log up to AsOfSeq supersedes any
	// row the stream emitted for the same instant from less of the log. Backfill sets it.
	AsOfSeq uint64
	// EachEvent emits one row per applied event instead of one per entity and instant:
	// the values as of the event's instant and log position, counting every event of an
	// earlier instant and, of its own instant, only those up to it in log order. Each row
	// carries its event's Seq. For events in time order these are the rows the streaming
	// execution emits as each event arrives, so a point-in-time join that also bounds the
	// log position (Labels.Seq) sees simultaneous events in arrival order, as a scorer
	// reading its features after each event does. Not with AsOfSeq.
	EachEvent bool
}

// BatchResult is what the batch execution computed.
type BatchResult struct {
	// Rows holds, for every entity and every distinct event time of an applied event, the
	// values as of that time, ordered by entity then time.
	Rows  []Row
	Stats Stats
	// Errors holds the first few events the transform rejected; they are skipped, as the
	// streaming execution dead-letters them.
	Errors []error
}

// ComputeBatch is the batch (offline) execution of a view over events in log order. It
// evaluates the window rule from scratch for every row, using the same transform and the
// same arithmetic as Aggregator, so that a parity test can require identical values.
func ComputeBatch(v *FeatureView, events []Event, opts BatchOptions) (BatchResult, error) {
	var res BatchResult
	if opts.EachEvent && opts.AsOfSeq > 0 {
		return res, errors.New("compute batch: EachEvent and AsOfSeq cannot be combined")
	}
	in := Input{Fields: make([]float64, len(v.Inputs))}
	if !v.IsAggregation() {
		in.Values = make([]Value, len(v.Features))
	}
	type rec struct {
		t      int64
		seq    uint64
		fields []float64
	}
	perKey := map[string][]rec{}
	seen := map[string]bool{}
	var maxT int64
	started := false
	for _, ev := range events {
		got, err := runTransform(v, ev, &in)
		if errors.Is(err, ErrSkip) {
			res.Stats.Skipped++
			continue
		}
		if err != nil {
			res.Stats.Invalid++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, err)
			}
			continue
		}
		t := ev.Time.UnixNano()
		if !v.IsAggregation() {
			res.Rows = append(res.Rows, Row{Entity: got.Entity, Time: ev.Time.UTC(), Seq: StreamSeq(ev.Seq), Values: slices.Clone(got.Values)})
			res.Stats.Applied++
			continue
		}
		if !opts.IgnoreLateness && started && t < maxT-int64(v.AllowedLateness) {
			res.Stats.Dropped++
			continue
		}
		if seen[ev.ID] {
			res.Stats.Duplicate++
			continue
		}
		seen[ev.ID] = true
		if started && t < maxT {
			res.Stats.Late++
		} else {
			res.Stats.Applied++
		}
		if !started || t > maxT {
			maxT, started = t, true
		}
		perKey[got.Entity] = append(perKey[got.Entity], rec{t: t, seq: ev.Seq, fields: slices.Clone(got.Fields)})
	}
	if !v.IsAggregation() {
		sortRows(res.Rows)
		return res, nil
	}
	p := newPlan(v)
	keys := make([]string, 0, len(perKey))
	for k := range perKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wins := make([]acc, len(p.windows))
	for i := range wins {
		wins[i] = newAcc(p.inputs)
	}
	part := newAcc(p.inputs)
	for _, k := range keys {
		recs := perKey[k] // log order
		// Group by bucket, keeping log order inside each bucket.
		byBucket := map[int64][]int{}
		var idxs []int64
		for i, r := range recs {
			b := bucketOf(r.t, p.bucket)
			if _, ok := byBucket[b]; !ok {
				idxs = append(idxs, b)
			}
			byBucket[b] = append(byBucket[b], i)
		}
		slices.Sort(idxs)
		// Distinct instants, each with the newest log position among events at or before it.
		order := make([]int, len(recs))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return recs[order[i]].t < recs[order[j]].t })
		var maxSeq uint64
		for oi, ri := range order {
			r := recs[ri]
			maxSeq = max(maxSeq, r.seq)
			if !opts.EachEvent && oi+1 < len(order) && recs[order[oi+1]].t == r.t {
				continue
			}
			for wi, w := range p.windows {
				wins[wi].reset()
				lo, hi := windowBuckets(r.t, p.bucket, w)
				for j := sort.Search(len(idxs), func(i int) bool { return idxs[i] >= lo }); j < len(idxs) && idxs[j] <= hi; j++ {
					part.reset()
					for _, e := range byBucket[idxs[j]] {
						// Of r's own instant, EachEvent counts the events up to r in log
						// order (recs are in log order).
						if recs[e].t < r.t || (recs[e].t == r.t && (!opts.EachEvent || e <= ri)) {
							part.add(recs[e].fields)
						}
					}
					wins[wi].combine(&part)
				}
			}
			vals := make([]Value, len(p.aggs))
			p.finish(wins, vals)
			seq := StreamSeq(maxSeq)
			if opts.EachEvent {
				seq = StreamSeq(r.seq)
			}
			if opts.AsOfSeq > 0 {
				seq = RecomputedSeq(opts.AsOfSeq)
			}
			res.Rows = append(res.Rows, Row{Entity: k, Time: time.Unix(0, r.t).UTC(), Seq: seq, Values: vals})
		}
	}
	return res, nil
}

// sortRows orders rows by entity, then time, then seq.
func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Entity != rows[j].Entity {
			return rows[i].Entity < rows[j].Entity
		}
		if !rows[i].Time.Equal(rows[j].Time) {
			return rows[i].Time.Before(rows[j].Time)
		}
		return rows[i].Seq < rows[j].Seq
	})
}
