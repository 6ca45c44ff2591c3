package features

import (
	"cmp"
	"math"
	"slices"
)

// Per-entity state of Aggregator. Evaluation reads every bucket of the longest window for
// every row, so an entity's buckets are stored contiguously rather than one heap object
// each: a window scan is a sequential pass over two flat slices, which the hardware
// prefetches, instead of a chase through scattered pointers.

type keyState struct {
	entity string
	heads  []bucketHead // ascending by idx; sparse: only buckets with events
	stats  []float64    // plan.stride per bucket, parallel to heads: sums, mins, maxes
	// raw holds the events of the buckets the watermark had not passed at the entity's
	// last sweep (the open buckets), by bucket and in arrival order within a bucket; rawF
	// their input fields, flattened. Only a bucket holding events later than an evaluation
	// time needs them, to sum its earlier events alone.
	raw   []rawEvent
	rawF  []float64
	times []int64 // distinct event times at or after the watermark, ascending
	// due is the first watermark bucket at which a bucket of this entity is to be closed
	// or evicted; qi is the entity's position in Aggregator.expiry.
	due int64
	qi  int
}

type bucketHead struct {
	idx   int64
	count int64
	maxT  int64 // newest event time in the bucket
}

type rawEvent struct {
	t, bucket int64
}

// bucket returns the position of bucket idx in ks.heads, adding it if it has no events yet.
// Events in order land in the last bucket or a new one after it.
func (ks *keyState) bucket(idx int64, p *plan) int {
	n := len(ks.heads)
	i := n
	if n > 0 && ks.heads[n-1].idx >= idx {
		if i = searchBuckets(ks.heads, idx); ks.heads[i].idx == idx {
			return i
		}
	}
	ks.heads = slices.Insert(ks.heads, i, bucketHead{idx: idx, maxT: math.MinInt64})
	at := i * p.stride
	ks.stats = slices.Insert(ks.stats, at, make([]float64, p.stride)...)
	s := ks.stats[at : at+p.stride]
	mins := s[len(p.sums) : len(p.sums)+len(p.mins)]
	maxs := s[len(p.sums)+len(p.mins):]
	for k := range mins {
		mins[k] = math.Inf(1)
	}
	for k := range maxs {
		maxs[k] = math.Inf(-1)
	}
	return i
}

// add adds an event's fields to bucket i the way acc.add does, for the statistics kept.
func (ks *keyState) add(i int, t int64, fields []float64, p *plan) {
	h := &ks.heads[i]
	h.count++
	h.maxT = max(h.maxT, t)
	s := ks.stats[i*p.stride : (i+1)*p.stride]
	for k, in := range p.sums {
		s[k] += fields[in]
	}
	mins := s[len(p.sums):]
	for k, in := range p.mins {
		mins[k] = min(mins[k], fields[in])
	}
	maxs := s[len(p.sums)+len(p.mins):]
	for k, in := range p.maxs {
		maxs[k] = max(maxs[k], fields[in])
	}
	// Keep raw grouped by bucket: an event in order goes at the end, a late one after the
	// last event of its bucket.
	idx, in := ks.heads[i].idx, len(fields)
	k := len(ks.raw)
	for k > 0 && ks.raw[k-1].bucket > idx {
		k--
	}
	ks.raw = slices.Insert(ks.raw, k, rawEvent{t: t, bucket: idx})
	ks.rawF = slices.Insert(ks.rawF, k*in, fields...)
}

// combineRange combines buckets [j, end) into w, oldest first, as w.combine would combine
// their accs.
func (ks *keyState) combineRange(w *acc, j, end int, p *plan) {
	if p.stride == 0 || len(p.sums) == 1 && p.stride == 1 {
		// The common cases (counts, and sums, means or a ratio of one input) as tight loops.
		for _, h := range ks.heads[j:end] {
			w.count += h.count
		}
		if p.stride == 1 {
			sum := &w.v[3*p.sums[0]]
			for _, s := range ks.stats[j:end] {
				*sum += s
			}
		}
		return
	}
	for i := j; i < end; i++ {
		w.count += ks.heads[i].count
		s := ks.stats[i*p.stride : (i+1)*p.stride]
		for k, in := range p.sums {
			w.v[3*in] += s[k]
		}
		mins := s[len(p.sums):]
		for k, in := range p.mins {
			w.v[3*in+1] = min(w.v[3*in+1], mins[k])
		}
		maxs := s[len(p.sums)+len(p.mins):]
		for k, in := range p.maxs {
			w.v[3*in+2] = max(w.v[3*in+2], maxs[k])
		}
	}
}

// partial sums, in arrival order, the events of bucket idx at or before t into part.
func (ks *keyState) partial(part *acc, idx, t int64, inputs int) {
	part.reset()
	k, _ := slices.BinarySearchFunc(ks.raw, idx, func(e rawEvent, idx int64) int { return cmp.Compare(e.bucket, idx) })
	for ; k < len(ks.raw) && ks.raw[k].bucket == idx; k++ {
		if ks.raw[k].t <= t {
			part.add(ks.rawF[k*inputs : (k+1)*inputs])
		}
	}
}

// evict drops the buckets before idx. Reslicing rather than shifting keeps eviction
// O(dropped); append reallocates, and so reclaims the space, once the capacity left runs
// out.
func (ks *keyState) evict(idx int64, stride int) {
	drop := 0
	for drop < len(ks.heads) && ks.heads[drop].idx < idx {
		drop++
	}
	ks.heads = ks.heads[drop:]
	ks.stats = ks.stats[drop*stride:]
}

// close forgets the raw events of the buckets before idx, which no evaluation at or after
// the watermark can need: they hold no event later than the watermark.
func (ks *keyState) close(idx int64, inputs int) {
	drop := 0
	for drop < len(ks.raw) && ks.raw[drop].bucket < idx {
		drop++
	}
	ks.raw = dropFront(ks.raw, drop)
	ks.rawF = dropFront(ks.rawF, drop*inputs)
}

// forget drops the event times before t.
func (ks *keyState) forget(t int64) {
	i, _ := slices.BinarySearch(ks.times, t)
	ks.times = dropFront(ks.times, i)
}

// firstOpen returns the first bucket whose raw events are kept.
func (ks *keyState) firstOpen() (int64, bool) {
	if len(ks.raw) == 0 {
		return 0, false
	}
	return ks.raw[0].bucket, true
}

// dropFront drops s's first n elements. When no more are left than were dropped it shifts
// them down, which costs no more than dropping did and keeps the capacity for appends (the
// common case: one open bucket replaced by the next); otherwise it reslices.
func dropFront[S ~[]E, E any](s S, n int) S {
	if n == 0 {
		return s
	}
	if len(s)-n <= n {
		return s[:copy(s, s[n:])]
	}
	return s[n:]
}

// gallop returns the position of the first bucket at or after idx, searching from from,
// which must be at most that position. It probes from+1, from+2, from+4, ... before a
// binary search, so it reads few cache lines when the answer is near from: the oldest
// buckets kept are usually the first the longest window reads.
func gallop(heads []bucketHead, from int, idx int64) int {
	lo, step := from, 1
	for lo < len(heads) && heads[lo].idx < idx {
		next := lo + step
		if next >= len(heads) || heads[next].idx >= idx {
			return lo + 1 + searchBuckets(heads[lo+1:min(next, len(heads))], idx)
		}
		lo, step = next, 2*step
	}
	return lo
}

// searchBuckets returns the position of the first bucket at or after idx.
func searchBuckets(heads []bucketHead, idx int64) int {
	lo, hi := 0, len(heads)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if heads[m].idx < idx {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
