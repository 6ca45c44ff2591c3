// Package inventory holds the campaigns and ads a bidder can serve and answers, for each
// request, which ads are eligible: an inverted index over the targeting attributes (geo,
// device, placement, interest segment, hour, creative size) kept as one bit set per
// attribute value, so a request's eligible set is the AND of a handful of bit sets (a few
// microseconds for 10,000 ads) instead of a scan of every campaign's rules.
//
// The index is a copy-on-write snapshot behind an atomic pointer: readers never lock, and
// a campaign change (new, paused, resumed, budget or bid moved) builds the next snapshot
// and swaps it in, so it takes effect on the next request without a restart.
package inventory

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/casebook-ml/casebook/adsranking/sim"
)

// Ad is an ad as the bidder scores it: its creative, its campaign's bid and what the
// click model needs to know about it.
type Ad struct {
	ID, Campaign, Advertiser int64
	Category, Format         int
	Quality                  float64
	CPC                      float64 // the campaign's bid per click
}

// Query is what a request offers, in index coordinates. A negative Geo or Device means the
// request did not say (or said something unknown): only ads that target any value match.
type Query struct {
	Geo, Device, Placement, Hour int
	Segments                     []int
	Formats                      []int // creative sizes the slot accepts
}

// dim is one targeting attribute: a bit set per value, plus one for "unknown" (the ads
// that do not restrict this attribute).
type dim [][]uint64

// Snapshot is one immutable state of the inventory.
type Snapshot struct {
	ads                                           []Ad
	campaigns                                     map[int64]*sim.Campaign
	adsOf                                         map[int64][]int // campaign → ad positions
	words                                         int
	geo, device, placement, segment, hour, format dim
	active                                        []uint64
	prior                                         []float64 // per ad: bid × prior CTR, to keep the best when more are eligible than asked for
	priorCTR                                      []float64
	version                                       uint64
}

// Index is the live inventory.
type Index struct {
	mu         sync.Mutex // serialises writers
	cur        atomic.Pointer[Snapshot]
	placements int
	priorCTR   map[int64]float64
	baseCTR    float64
}

// New indexes campaigns and their ads. placements is the number of placements (ids
// 0..placements-1).
func New(campaigns []sim.Campaign, ads []sim.Ad, placements int) (*Index, error) {
	if placements < 1 {
		return nil, fmt.Errorf("inventory: %d placements, want ≥ 1", placements)
	}
	ix := &Index{placements: placements, priorCTR: map[int64]float64{}, baseCTR: 0.02}
	s := &Snapshot{campaigns: make(map[int64]*sim.Campaign, len(campaigns)), adsOf: map[int64][]int{}}
	for i := range campaigns {
		c := campaigns[i]
		s.campaigns[c.ID] = &c
	}
	for _, a := range ads {
		c, ok := s.campaigns[a.Campaign]
		if !ok {
			return nil, fmt.Errorf("inventory: ad %d names campaign %d, which does not exist", a.ID, a.Campaign)
		}
		s.adsOf[c.ID] = append(s.adsOf[c.ID], len(s.ads))
		s.ads = append(s.ads, Ad{ID: a.ID, Campaign: c.ID, Advertiser: c.Advertiser, Category: c.Category, Format: a.Format, Quality: a.Quality, CPC: c.BidCPC()})
	}
	ix.rebuild(s)
	ix.cur.Store(s)
	return ix, nil
}

// Snapshot returns the current state; it never changes once returned.
func (ix *Index) Snapshot() *Snapshot { return ix.cur.Load() }

// rebuild fills every bit set of s from its campaigns and ads.
func (ix *Index) rebuild(s *Snapshot) {
	n := len(s.ads)
	s.words = (n + 63) / 64
	mk := func(values int) dim {
		d := make(dim, values+1)
		for i := range d {
			d[i] = make([]uint64, s.words)
		}
		return d
	}
	s.geo, s.device, s.placement = mk(len(sim.Geos)), mk(len(sim.Devices)), mk(ix.placements)
	s.segment, s.hour, s.format = mk(sim.NumSegments), mk(sim.Hours), mk(len(sim.Formats))
	s.active = make([]uint64, s.words)
	s.prior = make([]float64, n)
	s.priorCTR = make([]float64, n)
	for i := range s.ads {
		ix.setAd(s, i)
	}
}

func set(b []uint64, i int)    { b[i>>6] |= 1 << (i & 63) }
func clear1(b []uint64, i int) { b[i>>6] &^= 1 << (i & 63) }

// setAd writes ad i's bits from its campaign (clearing them first, so it also serves
// updates).
func (ix *Index) setAd(s *Snapshot, i int) {
	a := &s.ads[i]
	c := s.campaigns[a.Campaign]
	a.CPC = c.BidCPC()
	for _, d := range []dim{s.geo, s.device, s.placement, s.segment, s.hour, s.format} {
		for _, b := range d {
			clear1(b, i)
		}
	}
	fill := func(d dim, allowed []int) {
		if allowed == nil {
			for _, b := range d {
				set(b, i)
			}
			return
		}
		for _, v := range allowed {
			if v >= 0 && v < len(d)-1 {
				set(d[v], i)
			}
		}
	}
	t := c.Targeting
	fill(s.geo, t.Geos)
	fill(s.device, t.Devices)
	fill(s.placement, t.Placements)
	if t.Segments == nil {
		fill(s.segment, nil)
	} else {
		fill(s.segment, t.Segments)
	}
	for h := range sim.Hours {
		if t.Hours&(1<<h) != 0 {
			set(s.hour[h], i)
		}
	}
	set(s.format[a.Format], i)
	if c.Paused || c.Budget <= 0 {
		clear1(s.active, i)
	} else {
		set(s.active, i)
	}
	p, ok := ix.priorCTR[a.ID]
	if !ok {
		p = ix.baseCTR
	}
	s.prior[i], s.priorCTR[i] = a.CPC*p, p
}

// Prior is the prior click rate of the ad at position i: the cheapest click model there is.
func (s *Snapshot) Prior(i int32) float64 { return s.priorCTR[i] }

// Ads returns every ad of the snapshot, by position.
func (s *Snapshot) Ads() []Ad { return s.ads }

// Ad returns the ad at position i (a candidate).
func (s *Snapshot) Ad(i int32) *Ad { return &s.ads[i] }

// Campaign returns a campaign by id.
func (s *Snapshot) Campaign(id int64) (*sim.Campaign, bool) {
	c, ok := s.campaigns[id]
	return c, ok
}

// Campaigns returns how many campaigns the snapshot holds.
func (s *Snapshot) Campaigns() int { return len(s.campaigns) }

// Version counts the changes applied since New.
func (s *Snapshot) Version() uint64 { return s.version }

func (d dim) row(v int) []uint64 {
	if v < 0 || v >= len(d)-1 {
		// Unknown value: the ads that do not restrict the attribute are the ones whose bit
		// is set for every value; the last row holds exactly those.
		return d[len(d)-1]
	}
	return d[v]
}

// Scratch is a caller's reusable buffers for Candidates (one per goroutine).
type Scratch struct {
	words []uint64
	keys  []rankKey
}

// Candidates appends to dst the positions of the ads eligible for q, in ascending order:
// at most limit, the ones with the highest bid × prior CTR when more are eligible. It also
// returns how many were eligible before the cut.
func (s *Snapshot) Candidates(q Query, limit int, sc *Scratch, dst []int32) ([]int32, int) {
	if cap(sc.words) < s.words {
		sc.words = make([]uint64, s.words)
	}
	w := sc.words[:s.words]
	if q.Placement < 0 || q.Placement >= len(s.placement)-1 || q.Hour < 0 || q.Hour >= sim.Hours {
		return dst, 0
	}
	geo, dev, pl, hr := s.geo.row(q.Geo), s.device.row(q.Device), s.placement[q.Placement], s.hour[q.Hour]
	unknownSeg := s.segment[len(s.segment)-1]
	for i := range w {
		x := s.active[i] & geo[i] & dev[i] & pl[i] & hr[i]
		if x == 0 {
			w[i] = 0
			continue
		}
		seg := unknownSeg[i]
		for _, v := range q.Segments {
			if v >= 0 && v < len(s.segment)-1 {
				seg |= s.segment[v][i]
			}
		}
		var f uint64
		for _, v := range q.Formats {
			if v >= 0 && v < len(s.format)-1 {
				f |= s.format[v][i]
			}
		}
		w[i] = x & seg & f
	}
	n := 0
	for _, x := range w {
		n += bits.OnesCount64(x)
	}
	if limit <= 0 || n <= limit {
		// Grow once and write by index: an append per ad re-checked the capacity each time.
		at := len(dst)
		dst = slices.Grow(dst, n)[:at+n]
		out := dst[at:]
		j := 0
		for i, x := range w {
			for x != 0 {
				out[j] = int32(i<<6 + bits.TrailingZeros64(x))
				j++
				x &= x - 1
			}
		}
		return dst, n
	}
	// Keep the limit best by prior score (ties: the lower position): find the limit-th
	// best with a selection over the eligible ads' (score, position) pairs, then emit the
	// ads that rank at or above it in a second pass over the bits, so the result stays in
	// ascending position order (the scoring loop then walks the ad tables forwards). A
	// min-heap of the best so far cost more, with a random memory access per comparison,
	// and left the candidates in heap order.
	keys := sc.keys[:0]
	for i, x := range w {
		for x != 0 {
			a := int32(i<<6 + bits.TrailingZeros64(x))
			x &= x - 1
			keys = append(keys, rankKey{score: s.prior[a], pos: a})
		}
	}
	sc.keys = keys
	cut := selectNth(keys, limit-1)
	for i, x := range w {
		for x != 0 {
			a := int32(i<<6 + bits.TrailingZeros64(x))
			x &= x - 1
			if k := (rankKey{score: s.prior[a], pos: a}); k == cut || k.better(cut) {
				dst = append(dst, a)
			}
		}
	}
	return dst, n
}

// rankKey orders eligible ads: a higher bid × prior CTR first, then the lower position.
type rankKey struct {
	score float64
	pos   int32
}

func (k rankKey) better(o rankKey) bool {
	return k.score > o.score || (k.score == o.score && k.pos < o.pos)
}

// selectNth reorders keys so that keys[n] is the one that would be there if keys were
// sorted best first (Hoare's selection with median-of-three pivots, expected linear
// time), and returns it.
func selectNth(keys []rankKey, n int) rankKey {
	lo, hi := 0, len(keys)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if keys[mid].better(keys[lo]) {
			keys[lo], keys[mid] = keys[mid], keys[lo]
		}
		if keys[hi].better(keys[lo]) {
			keys[lo], keys[hi] = keys[hi], keys[lo]
		}
		if keys[hi].better(keys[mid]) {
			keys[mid], keys[hi] = keys[hi], keys[mid]
		}
		pivot := keys[mid]
		i, j := lo, hi
		for i <= j {
			for keys[i].better(pivot) {
				i++
			}
			for pivot.better(keys[j]) {
				j--
			}
			if i <= j {
				keys[i], keys[j] = keys[j], keys[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return keys[n]
		}
	}
	return keys[n]
}
