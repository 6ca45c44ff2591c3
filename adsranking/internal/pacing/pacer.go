package pacing

import (
	"maps"
	"math"
	"sync/atomic"
	"time"
)

// Pacer decides, per request and candidate campaign, whether the campaign takes part and
// what share of its value it bids. Decide is the hot path: safe for concurrent use, no
// allocation, no lock. Update is the control step, run periodically (every Interval of
// the pacer's configuration) by one goroutine; it reads spend from the SpendSource and
// moves the per-campaign controls that Decide reads atomically.
type Pacer interface {
	// Decide: participate reports whether the campaign bids on this request at all;
	// multiplier (in (0, 1]) scales its bid. request identifies the request (the same
	// request and campaign always get the same coin flip, so decisions are reproducible).
	// A campaign the pacer has not seen in an Update yet participates at multiplier 1.
	Decide(campaign int64, request uint64, now time.Time) (participate bool, multiplier float64)
	// Update runs one control step at now.
	Update(now time.Time)
	// State reports the campaign's current participation rate and bid multiplier.
	State(campaign int64) (participation, multiplier float64)
	// Name is a short label for reports.
	Name() string
}

// SpendSource is what pacers read at each control step; a Ledger is one.
type SpendSource interface {
	// Campaigns appends the campaign ids to dst.
	Campaigns(dst []int64) []int64
	// Spent reports the campaign's budget and the spend to pace on (counted at decision
	// time: committed plus billed).
	Spent(campaign int64) (budget, spent Micros, ok bool)
}

var (
	_ Pacer       = None{}
	_ Pacer       = (*Throttle)(nil)
	_ Pacer       = (*PID)(nil)
	_ SpendSource = (*Ledger)(nil)
)

// None does not pace: every campaign bids its full value on every request until the
// ledger refuses it, which with a budget below its demand happens early in the day.
type None struct{}

// Decide always participates at multiplier 1.
func (None) Decide(int64, uint64, time.Time) (bool, float64) { return true, 1 }

// Update does nothing.
func (None) Update(time.Time) {}

// State is always full participation at multiplier 1.
func (None) State(int64) (float64, float64) { return 1, 1 }

// Name is "none".
func (None) Name() string { return "none" }

// table maps campaign ids to per-campaign control state. Readers load an immutable map
// through an atomic pointer and never lock; the one writer (Update, under its pacer's
// lock) copies the map when a campaign is added, which happens rarely.
type table[T any] struct {
	m atomic.Pointer[map[int64]*T]
}

func (t *table[T]) get(id int64) *T {
	m := t.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// addAll inserts the states of ids (vs[i] for ids[i]) in one copy of the map; the caller
// serialises writers. One copy per Update rather than one per new campaign: a first
// Update over 6,000 campaigns copied a growing map 6,000 times (8% of a load test's CPU).
func (t *table[T]) addAll(ids []int64, vs []*T) {
	if len(ids) == 0 {
		return
	}
	var next map[int64]*T
	if cur := t.m.Load(); cur != nil {
		next = make(map[int64]*T, len(*cur)+len(ids))
		maps.Copy(next, *cur)
	} else {
		next = make(map[int64]*T, len(ids))
	}
	for i, id := range ids {
		next[id] = vs[i]
	}
	t.m.Store(&next)
}

// maxDenseID bounds the dense control tables (one slot per id below it); campaigns with
// larger or negative ids are read from the map.
const maxDenseID = 1 << 20

// dense is a lock-free copy of each campaign's control value (a multiplier, a
// participation threshold) at the index of its id, republished after every Update. Decide
// runs once per candidate, about a thousand times a request, and a slice read is several
// times cheaper than a map probe and a pointer chase per campaign.
type dense[V any] struct {
	p atomic.Pointer[[]denseSlot[V]]
}

type denseSlot[V any] struct {
	v  V
	ok bool // the campaign has a state
}

// get returns id's value; inRange is false when the table does not cover id (the caller
// reads its map), ok false when the campaign has no state yet.
func (d *dense[V]) get(id int64) (v V, ok, inRange bool) {
	t := d.p.Load()
	if t == nil || id < 0 || id >= int64(len(*t)) {
		return v, false, false
	}
	s := (*t)[id]
	return s.v, s.ok, true
}

// publish replaces the table with the values of ids (val reports false for a campaign
// without state); the caller serialises publishers.
func (d *dense[V]) publish(ids []int64, val func(int64) (V, bool)) {
	var top int64 = -1
	for _, id := range ids {
		if id >= 0 && id < maxDenseID {
			top = max(top, id)
		}
	}
	t := make([]denseSlot[V], top+1)
	for _, id := range ids {
		if id >= 0 && id < maxDenseID {
			t[id].v, t[id].ok = val(id)
		}
	}
	d.p.Store(&t)
}

// atomicFloat is a float64 read and written atomically.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *atomicFloat) Store(v float64) { f.bits.Store(math.Float64bits(v)) }

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }
