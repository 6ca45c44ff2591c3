package eventlog

import (
	"hash/maphash"
	"math/bits"
	"time"
)

// FirstSeen tells the first copy of each event id in a stream from later ones, for at least
// a horizon of log time. A stream's duplicates window drops a re-published event only
// while the server remembers its id (seconds, where the rate is high: the server holds
// every id of the window in memory). A producer that retries later has its event stored
// twice, under two sequences, and a reader that must apply each event once (decide it,
// count it in a feature) asks FirstSeen and applies only the first copy.
//
// It is exact within the horizon and survives a crash without storing anything: its state
// is a function of the stream's contents (ids, sequences, stored times) read in order, so a
// reader that restarts rebuilds it by offering the messages again (a replay from the start,
// or from at least twice the horizon before its ack floor) and then classifies every copy
// exactly as the crashed process did, or would have. Offering the same message again (same
// sequence: a redelivery) answers true again.
//
// The horizon: ids are kept in generations of Horizon of log time, aligned to multiples of
// it (so the boundaries do not depend on where a replay starts), the current one and the
// one before. A copy stored within Horizon of the first is always recognised; one stored
// between Horizon and twice that may be; later ones count as first copies.
//
// Cost: one pointer-free open-addressing table of 16-byte slots, at most half full (so 32–128
// bytes per id of the last one or two horizons), which the garbage collector
// does not scan; a new id costs one probe, usually one cache line (a Go map per generation
// needed three lookups, each a cache miss once the table outgrows the cache). The table
// is rebuilt with the live ids when a generation starts. An id is kept as a 64-bit hash
// under a per-process random seed: a new id is taken for a copy of another with probability
// about 2⁻⁶³ (a few probes compared), 10⁻¹⁰ over a billion ids.
//
// It is not safe for concurrent use: one per ordered reader, as ConsumeOrdered has.
type FirstSeen struct {
	horizon int64 // ns
	seed    maphash.Seed
	gen     int64 // the current generation: stored time / horizon
	started bool
	slots   []seenSlot // len is a power of two
	live    int        // ids of the current and the previous generation
}

// seenSlot is an id's first copy: its hash, and meta = its sequence << 2 | the parity of
// its generation << 1 | 1 (0 marks an empty slot). Every slot in the table is of the
// current or the previous generation; the parity tells them apart when the next starts.
type seenSlot struct{ h, meta uint64 }

func (s seenSlot) seq() uint64    { return s.meta >> 2 }
func (s seenSlot) parity() uint64 { return s.meta >> 1 & 1 }

const minSeenSlots = 64

// NewFirstSeen remembers ids for at least horizon (at least a nanosecond) of log time.
func NewFirstSeen(horizon time.Duration) *FirstSeen {
	return &FirstSeen{horizon: int64(max(horizon, 1)), seed: maphash.MakeSeed(), slots: make([]seenSlot, minSeenSlots)}
}

// Horizon is how long after the first copy a later one is surely still recognised.
func (f *FirstSeen) Horizon() time.Duration { return time.Duration(f.horizon) }

// First reports whether the message at seq (below 2⁶²), stored at stored, is the first copy
// of id in the stream (or the first copy offered again). Messages are offered in stream
// order.
func (f *FirstSeen) First(id string, seq uint64, stored time.Time) bool {
	f.advance(stored.UnixNano() / f.horizon)
	h := maphash.String(f.seed, id)
	i, s := f.find(h)
	if s != nil {
		return s.seq() == seq
	}
	f.slots[i] = seenSlot{h: h, meta: seq<<2 | uint64(f.gen&1)<<1 | 1}
	if f.live++; 2*f.live > len(f.slots) {
		f.rebuild(uint64(f.gen&1), 3)
	}
	return true
}

// FirstSeq is the sequence of id's first copy, if it is remembered.
func (f *FirstSeen) FirstSeq(id string) (uint64, bool) {
	if _, s := f.find(maphash.String(f.seed, id)); s != nil {
		return s.seq(), true
	}
	return 0, false
}

// Len is how many ids are remembered.
func (f *FirstSeen) Len() int { return f.live }

// find returns the slot of the id hashed h, or the empty slot where it goes.
func (f *FirstSeen) find(h uint64) (int, *seenSlot) {
	mask := uint64(len(f.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &f.slots[i]
		switch {
		case s.meta == 0:
			return int(i), nil
		case s.h == h:
			return int(i), s
		}
	}
}

// advance moves to generation g if it is newer: the ids of the generation before the
// current one are dropped, and all of them after a gap of more than one generation.
func (f *FirstSeen) advance(g int64) {
	switch {
	case !f.started:
		f.gen, f.started = g, true
	case g == f.gen+1:
		keep := uint64(f.gen & 1)
		f.gen = g
		f.rebuild(keep, 4) // room for as many new ids as the generation kept: no growth on the way
	case g > f.gen:
		f.gen = g
		f.slots, f.live = make([]seenSlot, minSeenSlots), 0
	}
}

// rebuild rehashes the ids of parity keep (and of the other parity when keep is the
// current generation's: a table that only grows) into a table room to twice room times
// their number.
func (f *FirstSeen) rebuild(keep uint64, room int) {
	all := keep == uint64(f.gen&1)
	live := 0
	for _, s := range f.slots {
		if s.meta != 0 && (all || s.parity() == keep) {
			live++
		}
	}
	old := f.slots
	f.slots = make([]seenSlot, max(minSeenSlots, 1<<bits.Len(uint(room*live))))
	mask := uint64(len(f.slots) - 1)
	for _, s := range old {
		if s.meta == 0 || !(all || s.parity() == keep) {
			continue
		}
		i := s.h & mask
		for f.slots[i].meta != 0 {
			i = (i + 1) & mask
		}
		f.slots[i] = s
	}
	f.live = live
}
