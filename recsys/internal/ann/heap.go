package ann

// item is a node (or row) index with a key: a distance in the HNSW heaps, a similarity in
// Exact's. Eight bytes, so heaps of them stay in a few cache lines.
type item struct {
	d float32
	i int32
}

// minHeap and maxHeap are binary heaps on item.d, written out by hand rather than through
// container/heap: its interface calls and boxing cost more than the comparisons on the
// search path.
type minHeap []item

func (h *minHeap) push(x item) {
	s := append(*h, x)
	j := len(s) - 1
	for j > 0 {
		p := (j - 1) / 2
		if s[p].d <= x.d {
			break
		}
		s[j] = s[p]
		j = p
	}
	s[j] = x
	*h = s
}

func (h *minHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	*h = s
	if n > 1 {
		s.down(0)
	}
	return top
}

func (h minHeap) down(j int) {
	n := len(h)
	x := h[j]
	for {
		c := 2*j + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].d < h[c].d {
			c = r
		}
		if x.d <= h[c].d {
			break
		}
		h[j] = h[c]
		j = c
	}
	h[j] = x
}

type maxHeap []item

func (h *maxHeap) push(x item) {
	s := append(*h, x)
	j := len(s) - 1
	for j > 0 {
		p := (j - 1) / 2
		if s[p].d >= x.d {
			break
		}
		s[j] = s[p]
		j = p
	}
	s[j] = x
	*h = s
}

func (h *maxHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	*h = s
	if n > 1 {
		s.down(0)
	}
	return top
}

// replaceTop swaps the root (the largest) for x and restores the heap: one sift instead of
// a pop and a push.
func (h maxHeap) replaceTop(x item) {
	h[0] = x
	h.down(0)
}

func (h maxHeap) down(j int) {
	n := len(h)
	x := h[j]
	for {
		c := 2*j + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].d > h[c].d {
			c = r
		}
		if x.d >= h[c].d {
			break
		}
		h[j] = h[c]
		j = c
	}
	h[j] = x
}
