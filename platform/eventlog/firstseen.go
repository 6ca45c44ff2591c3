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
// Cost: one pointer-free open-addressing table of 16-byte slots, at most half full (32–128
// bytes per id of the last one or two horizons, and the table it is being moved from while
// it grows or a generation ends), which the garbage collector does not scan; a new id
// costs one probe, usually one cache line (a Go map per generation needed three lookups,
// each a cache miss once the table outgrows the cache). The table is moved to a new one
// when it grows and when a generation starts, a few slots per call (incremental
// rehashing), so no call stops the reader for the length of a whole copy. An id is kept as
// a 64-bit hash under a per-process random seed: a new id is taken for a copy of another
// with probability about 2⁻⁶³ (a few probes compared), 10⁻¹⁰ over a billion ids.
//
// It is not safe for concurrent use: one per ordered reader, as ConsumeOrdered has.
type FirstSeen struct {
	horizon int64 // ns
	seed    maphash.Seed
	gen     int64 // the current generation: stored time / horizon
	started bool
	slots   []seenSlot // where ids go; len is a power of two
	used    int        // ids in slots
	count   [2]int     // of those, by generation parity
	// old is the table being moved into slots (nil when none): its slots before oldNext
	// are moved, and of the rest only the ids of parity oldKeep are live (all of them when
	// oldAll). It is only read: an id is looked up in slots first, then here.
	old     []seenSlot
	oldNext int
	oldKeep uint64
	oldAll  bool
}

// seenSlot is an id's first copy: its hash, and meta = its sequence << 2 | the parity of
// its generation << 1 | 1 (0 marks an empty slot). Every live id is of the current or the
// previous generation; the parity tells them apart when the next starts.
type seenSlot struct{ h, meta uint64 }

func (s seenSlot) seq() uint64    { return s.meta >> 2 }
func (s seenSlot) parity() uint64 { return s.meta >> 1 & 1 }

const (
	minSeenSlots = 64
	// moveStep is how many old slots each call moves: with a new table at least twice the
	// old one's ids, the move ends long before the new table fills.
	moveStep = 16
)

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
	f.move(moveStep)
	h := maphash.String(f.seed, id)
	if s, ok := f.lookup(h); ok {
		return s.seq() == seq
	}
	f.put(seenSlot{h: h, meta: seq<<2 | uint64(f.gen&1)<<1 | 1})
	if 2*f.used > len(f.slots) {
		f.moveAll()
		f.start(len(f.slots)*2, 0, true)
	}
	return true
}

// FirstSeq is the sequence of id's first copy, if it is remembered.
func (f *FirstSeen) FirstSeq(id string) (uint64, bool) {
	if s, ok := f.lookup(maphash.String(f.seed, id)); ok {
		return s.seq(), true
	}
	return 0, false
}

// Len is how many ids are remembered. It reads the whole table: for tests and reports.
func (f *FirstSeen) Len() int {
	n := f.used
	for _, s := range f.old[f.oldNext:] {
		if f.liveOld(s) {
			n++
		}
	}
	return n
}

func (f *FirstSeen) liveOld(s seenSlot) bool {
	return s.meta != 0 && (f.oldAll || s.parity() == f.oldKeep)
}

// lookup finds the id hashed h in slots, then among the live ids not yet moved from old.
func (f *FirstSeen) lookup(h uint64) (seenSlot, bool) {
	if s := probe(f.slots, h); s.meta != 0 {
		return s, true
	}
	if f.old == nil {
		return seenSlot{}, false
	}
	mask := uint64(len(f.old) - 1)
	for i := h & mask; f.old[i].meta != 0; i = (i + 1) & mask {
		if s := f.old[i]; s.h == h {
			// Moved ones are in slots already; a dead one is as good as absent.
			return s, int(i) >= f.oldNext && f.liveOld(s)
		}
	}
	return seenSlot{}, false
}

// probe returns the slot of the id hashed h in t, or an empty slot.
func probe(t []seenSlot, h uint64) seenSlot {
	mask := uint64(len(t) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if s := t[i]; s.meta == 0 || s.h == h {
			return s
		}
	}
}

// put inserts s into slots (its id is not there).
func (f *FirstSeen) put(s seenSlot) {
	mask := uint64(len(f.slots) - 1)
	i := s.h & mask
	for f.slots[i].meta != 0 {
		i = (i + 1) & mask
	}
	f.slots[i] = s
	f.used++
	f.count[s.parity()]++
}

// start begins moving the ids of slots (those of parity keep, or all) into a new table of
// size slots.
func (f *FirstSeen) start(size int, keep uint64, all bool) {
	f.old, f.oldNext, f.oldKeep, f.oldAll = f.slots, 0, keep, all
	f.slots, f.used, f.count = make([]seenSlot, max(minSeenSlots, size)), 0, [2]int{}
}

// move moves up to n old slots' live ids.
func (f *FirstSeen) move(n int) {
	if f.old == nil {
		return
	}
	end := min(f.oldNext+n, len(f.old))
	for _, s := range f.old[f.oldNext:end] {
		if f.liveOld(s) {
			f.put(s)
		}
	}
	if f.oldNext = end; end == len(f.old) {
		f.old, f.oldNext = nil, 0
	}
}

func (f *FirstSeen) moveAll() {
	if f.old != nil {
		f.move(len(f.old))
	}
}

// advance moves to generation g if it is newer: the ids of the generation before the
// current one are dropped (left behind while the table moves), and all of them after a gap
// of more than one generation.
func (f *FirstSeen) advance(g int64) {
	switch {
	case !f.started:
		f.gen, f.started = g, true
	case g == f.gen+1:
		f.moveAll() // a generation shorter than a move: finish it first
		keep := uint64(f.gen & 1)
		kept := f.count[keep]
		f.gen = g
		// Room for the kept ids and as many new ones: no growth on the way.
		f.start(1<<bits.Len(uint(4*kept)), keep, false)
	case g > f.gen:
		f.gen = g
		f.old, f.oldNext = nil, 0
		f.slots, f.used, f.count = make([]seenSlot, minSeenSlots), 0, [2]int{}
	}
}
