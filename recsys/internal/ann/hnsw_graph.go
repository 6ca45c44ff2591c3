package ann

import (
	"slices"
	"sync/atomic"
	"unsafe"
)

// scratch is one search's (or insert's) working memory, reused through HNSW.pool so a
// search allocates nothing once the pool is warm.
type scratch struct {
	// visited[i] == gen marks node i as seen by the current search; bumping gen clears
	// the whole set in O(1), and the array is only wiped when gen wraps.
	visited []uint32
	gen     uint32

	cand minHeap // candidates to expand, nearest first
	res  maxHeap // the ef best found, farthest on top

	batch   []int32   // an expansion's unvisited neighbours
	pushed  []int32   // those that became candidates
	q       []float32 // the normalised query
	sorted  []item    // res, nearest first (inserts)
	sel     []item    // the new node's selected neighbours
	pruned  []item    // candidates the heuristic dropped
	shrink  []item    // an over-full list being shrunk
	sel2    []item    // its selection
	pruned2 []item    // and what that dropped

	plan   []item               // an insert's chosen neighbours, layer after layer
	planAt [maxLevel + 1][2]int // layer lc's are plan[planAt[lc][0]:planAt[lc][1]]
}

func (h *HNSW) getScratch() *scratch {
	if s, ok := h.pool.Get().(*scratch); ok {
		return s
	}
	return &scratch{}
}

func (s *scratch) query(dim int) []float32 {
	if cap(s.q) < dim {
		s.q = make([]float32, dim)
	}
	return s.q[:dim]
}

// prepare readies the visited set for a search over n node slots.
func (s *scratch) prepare(n int) {
	if len(s.visited) < n {
		s.visited = make([]uint32, n)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.visited)
		s.gen = 1
	}
}

// neighbours returns node i's link slots on layer lc and how many are in use. Slots are
// read with atomic loads (see the concurrency note on HNSW). The caller holds mu for
// reading.
func (h *HNSW) neighbours(i int32, lc int) (slots []int32, n int) {
	if lc == 0 {
		o := int(i) * (1 + h.m0)
		slots = h.links0[o+1 : o+1+h.m0 : o+1+h.m0]
		n = int(atomic.LoadInt32(&h.links0[o]))
	} else {
		o := int(h.upperAt[i]) + (lc-1)*(h.m+1)
		slots = h.upper[o+1 : o+1+h.m : o+1+h.m]
		n = int(atomic.LoadInt32(&h.upper[o]))
	}
	return slots, min(n, len(slots))
}

// greedy walks layer lc from cur to a local minimum of the distance to q (the upper-layer
// search with ef = 1), prefetching each node's neighbours' vectors before it reads them.
// It never steps onto node skip (see searchLayer).
func (h *HNSW) greedy(q []float32, cur int32, curD float32, lc int, skip int32, s *scratch) (int32, float32) {
	vecBase, rowBytes := unsafe.Pointer(unsafe.SliceData(h.vecs)), 4*h.dim
	for changed := true; changed; {
		changed = false
		slots, n := h.neighbours(cur, lc)
		batch := s.batch[:0]
		for j := range n {
			if nb := atomic.LoadInt32(&slots[j]); nb != skip {
				batch = append(batch, nb)
			}
		}
		prefetchRows(vecBase, batch, rowBytes)
		for _, nb := range batch {
			if d := 1 - dot(q, h.vec(nb)); d < curD {
				cur, curD, changed = nb, d, true
			}
		}
		s.batch = batch
	}
	return cur, curD
}

// searchLayer is Algorithm 2 (SEARCH-LAYER) from entry ep on layer lc with beam width ef.
// It leaves the ef nearest nodes found in s.res. The caller has called s.prepare and holds
// mu for reading.
//
// Node skip (−1 for none) is never visited. An insert passes the node it is inserting, a
// guard: since it links only after all its searches (see insert), no other node can link
// to it yet, but were it reached it would sit at distance 0 with empty lists and stop the
// search there.
//
// Each expansion first gathers the unvisited neighbours, then prefetches all their vectors
// at once, then computes the distances: the cache misses overlap instead of queueing, which
// is most of the time a search spends once the vectors outgrow the cache. The link lists of
// the nodes that become candidates are prefetched the same way, ahead of their expansion.
//
// Ids in except (sorted; nil for none) are walked through but never kept in s.res: a
// search for the nearest items a user does not have yet keeps ef of those, however many
// of the user's own items lie nearer. They enter the candidates under the same bound as
// any node (nearer than the farthest result, or the results not full), so the graph is
// explored as without the exclusion.
func (h *HNSW) searchLayer(q []float32, ep int32, epD float32, ef, lc int, skip int32, except []int64, s *scratch) {
	visited, gen := s.visited, s.gen
	if skip >= 0 {
		visited[skip] = gen
	}
	cand, res := s.cand[:0], s.res[:0]
	batch, pushed := s.batch[:0], s.pushed[:0]
	visited[ep] = gen
	cand.push(item{d: epD, i: ep})
	if !excluded(except, h.ids[ep]) {
		res.push(item{d: epD, i: ep})
	}
	vecs, dim := h.vecs, h.dim
	vecBase, rowBytes := unsafe.Pointer(unsafe.SliceData(vecs)), 4*dim
	linkBase, linkBytes := unsafe.Pointer(unsafe.SliceData(h.links0)), 4*(1+h.m0)
	for len(cand) > 0 {
		c := cand[0]
		if len(res) >= ef && c.d > res[0].d {
			// The nearest unexpanded candidate is farther than the farthest of ef results.
			// With fewer than ef results the beam goes on: without exclusions every node
			// visited is a result, so this is the paper's rule; with them, stopping at the
			// farthest of a few results would leave the search short of k (a user whose
			// items surround the query got 1 item of 10).
			break
		}
		cand.pop()
		slots, n := h.neighbours(c.i, lc)
		batch = batch[:0]
		for j := range n {
			nb := atomic.LoadInt32(&slots[j])
			if visited[nb] != gen {
				visited[nb] = gen
				batch = append(batch, nb)
			}
		}
		prefetchRows(vecBase, batch, rowBytes)
		pushed = pushed[:0]
		for _, nb := range batch {
			o := int(nb) * dim
			d := 1 - dot(q, vecs[o:o+dim:o+dim])
			switch {
			case len(res) >= ef && d >= res[0].d:
				continue
			case except != nil && excluded(except, h.ids[nb]):
			case len(res) < ef:
				res.push(item{d: d, i: nb})
			default:
				res.replaceTop(item{d: d, i: nb})
			}
			cand.push(item{d: d, i: nb})
			pushed = append(pushed, nb)
		}
		if lc == 0 {
			prefetchRows(linkBase, pushed, linkBytes)
		}
	}
	s.cand, s.res, s.batch, s.pushed = cand, res, batch, pushed
}

// excluded reports whether id is in the sorted list except.
func excluded(except []int64, id int64) bool {
	if len(except) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(except, id)
	return ok
}

// insert links reserved node x of level lvl into the graph (Algorithm 1, INSERT). The
// caller holds mu for reading.
func (h *HNSW) insert(x int32, lvl int) {
	if h.done.Load() < int64(2*h.m0) {
		// While the graph is tiny, an insert that runs beside others sees almost none of
		// them (they are not linked yet), links to one or two nodes, and is orphaned as
		// soon as those prune it from their lists. The first 2·Mmax0 inserts therefore
		// run one at a time.
		h.smallMu.Lock()
		defer h.smallMu.Unlock()
	}
	e := h.entry.Load()
	if e == 0 || lvl > entryLevel(e) {
		h.topMu.Lock()
		e = h.entry.Load()
		if e == 0 {
			h.entry.Store(packEntry(x, lvl))
			h.topMu.Unlock()
			return
		}
		if lvl > entryLevel(e) {
			// x becomes the new entry point once linked; hold topMu until then so a
			// concurrent insert that also raises the top cannot publish a point that
			// skips x's layers.
			defer func() {
				h.entry.Store(packEntry(x, lvl))
				h.topMu.Unlock()
			}()
		} else {
			h.topMu.Unlock()
		}
	}
	s := h.getScratch()
	defer h.pool.Put(s)

	q := h.vec(x)
	cur, top := unpackEntry(e)
	curD := 1 - dot(q, h.vec(cur))
	for lc := top; lc > lvl; lc-- {
		cur, curD = h.greedy(q, cur, curD, lc, x, s)
	}
	// Find each layer's neighbours top-down (Algorithm 1), then link them.
	s.plan = s.plan[:0]
	for lc := min(top, lvl); lc >= 0; lc-- {
		s.prepare(h.capNodes)
		h.searchLayer(q, cur, curD, h.cfg.EfConstruction, lc, x, nil, s)
		// W, nearest first.
		s.sorted = slices.Grow(s.sorted[:0], len(s.res))[:len(s.res)]
		for j := len(s.res) - 1; j >= 0; j-- {
			s.sorted[j] = s.res.pop()
		}
		cur, curD = s.sorted[0].i, s.sorted[0].d

		s.sel, s.pruned = h.selectNeighbours(s.sorted, h.m, s.sel[:0], s.pruned[:0])
		s.planAt[lc] = [2]int{len(s.plan), len(s.plan) + len(s.sel)}
		s.plan = append(s.plan, s.sel...)
	}
	// Link bottom-up, so that once x can be reached on a layer (a neighbour links to it
	// there), its lists on every layer below are already in place. Linking top-down, as
	// the paper's single-threaded pseudo-code does, lets a concurrent insert reach x on
	// an upper layer, descend through it into x's still-empty lower lists and find nothing
	// else there: it then links only to x, and a few nodes of every concurrent build ended
	// up unreachable. (hnswlib avoids this by holding x's lock for its whole insert.)
	for lc := 0; lc <= min(top, lvl); lc++ {
		sel := s.plan[s.planAt[lc][0]:s.planAt[lc][1]]
		h.setLinks(x, lc, sel, s)
		for _, nb := range sel {
			h.addLink(nb.i, item{d: nb.d, i: x}, lc, s)
		}
	}
}

func entryLevel(e uint64) int {
	_, l := unpackEntry(e)
	return l
}

// selectNeighbours is Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC) without candidate
// extension: walking cands nearest first, it keeps a candidate only if it is nearer to the
// base than to every candidate kept so far, so links spread in different directions
// instead of bunching in one cluster. With KeepPrunedConnections the list is then filled up
// to m with the nearest pruned candidates. cands must be sorted nearest first; at most m
// candidates are returned as they are, as hnswlib does.
func (h *HNSW) selectNeighbours(cands []item, m int, out, pruned []item) ([]item, []item) {
	if len(cands) <= m {
		return append(out, cands...), pruned
	}
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		vc := h.vec(c.i)
		good := true
		for _, r := range out {
			if 1-dot(vc, h.vec(r.i)) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		} else if h.cfg.KeepPrunedConnections {
			pruned = append(pruned, c)
		}
	}
	for _, p := range pruned {
		if len(out) >= m {
			break
		}
		out = append(out, p)
	}
	return out, pruned
}

// maxLinks is the list capacity on layer lc: Mmax0 = 2M on layer 0, M above.
func (h *HNSW) maxLinks(lc int) int {
	if lc == 0 {
		return h.m0
	}
	return h.m
}

// countSlot returns the address of node i's link count on layer lc.
func (h *HNSW) countSlot(i int32, lc int) *int32 {
	if lc == 0 {
		return &h.links0[int(i)*(1+h.m0)]
	}
	return &h.upper[int(h.upperAt[i])+(lc-1)*(h.m+1)]
}

// setLinks gives new node x the links sel on layer lc. Usually x's list is still empty;
// when concurrent inserts have already linked to x, their links are merged in and the
// union shrunk by the heuristic.
func (h *HNSW) setLinks(x int32, lc int, sel []item, s *scratch) {
	mu := &h.locks[int(x)%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	slots, n := h.neighbours(x, lc)
	if n == 0 {
		h.writeLinks(x, lc, slots, sel)
		return
	}
	all := s.shrink[:0]
	q := h.vec(x)
	for _, nb := range slots[:n] {
		all = append(all, item{d: 1 - dot(q, h.vec(nb)), i: nb})
	}
	for _, it := range sel {
		if !slices.Contains(slots[:n], it.i) {
			all = append(all, it)
		}
	}
	s.shrink = all
	h.shrinkInto(x, lc, slots, s)
}

// addLink adds the back link nb → it.i (it.d is their distance) on layer lc, shrinking
// nb's list with the heuristic when it is full (the paper's shrinking of eConn).
func (h *HNSW) addLink(nb int32, it item, lc int, s *scratch) {
	mu := &h.locks[int(nb)%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	slots, n := h.neighbours(nb, lc)
	if slices.Contains(slots[:n], it.i) {
		return
	}
	if n < len(slots) {
		atomic.StoreInt32(&slots[n], it.i)
		atomic.StoreInt32(h.countSlot(nb, lc), int32(n+1))
		return
	}
	all := s.shrink[:0]
	q := h.vec(nb)
	for _, o := range slots[:n] {
		all = append(all, item{d: 1 - dot(q, h.vec(o)), i: o})
	}
	all = append(all, it)
	s.shrink = all
	h.shrinkInto(nb, lc, slots, s)
}

// shrinkInto sorts s.shrink (node x's candidate links with their distances to x), selects
// at most the layer's capacity with the heuristic and writes them as x's list. The caller
// holds x's stripe lock.
func (h *HNSW) shrinkInto(x int32, lc int, slots []int32, s *scratch) {
	slices.SortFunc(s.shrink, func(a, b item) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return int(a.i - b.i)
	})
	s.sel2, s.pruned2 = h.selectNeighbours(s.shrink, h.maxLinks(lc), s.sel2[:0], s.pruned2[:0])
	h.writeLinks(x, lc, slots, s.sel2)
}

// writeLinks stores links into x's slots on layer lc with atomic stores, the count last.
func (h *HNSW) writeLinks(x int32, lc int, slots []int32, links []item) {
	n := min(len(links), len(slots))
	for j := range n {
		atomic.StoreInt32(&slots[j], links[j].i)
	}
	atomic.StoreInt32(h.countSlot(x, lc), int32(n))
}
