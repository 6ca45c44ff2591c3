package features

// Expiry queues for Aggregator. With fine buckets the watermark enters a new bucket at
// almost every event; walking every entity then costs O(entities) per event. Instead each
// entity waits in a min-heap keyed by the first watermark bucket at which it has a bucket to
// close or evict, and each applied event id waits in a queue by its event time, so a sweep
// touches only what expires. Every entity popped closes or evicts at least one bucket, so
// the work is O(log n) per bucket created, amortised.

// keyQueue is a min-heap of entities by keyState.due; keyState.qi is each one's position.
type keyQueue []*keyState

func (q keyQueue) less(i, j int) bool { return q[i].due < q[j].due }

func (q keyQueue) swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].qi, q[j].qi = i, j
}

func (q *keyQueue) push(ks *keyState) {
	ks.qi = len(*q)
	*q = append(*q, ks)
	q.up(ks.qi)
}

// lower moves ks up after its due became smaller.
func (q keyQueue) lower(ks *keyState) { q.up(ks.qi) }

// popDue removes and returns the entity with the smallest due if that is at most b.
func (q *keyQueue) popDue(b int64) *keyState {
	h := *q
	if len(h) == 0 || h[0].due > b {
		return nil
	}
	ks := h[0]
	n := len(h) - 1
	h.swap(0, n)
	h[n] = nil
	*q = h[:n]
	q.down(0)
	ks.qi = -1
	return ks
}

func (q keyQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q keyQueue) down(i int) {
	n := len(q)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && q.less(r, c) {
			c = r
		}
		if !q.less(c, i) {
			return
		}
		q.swap(i, c)
		i = c
	}
}

// idQueue holds applied event ids by event time. Most events arrive in time order, so
// those go to a FIFO, which pushes and pops in O(1) and reads memory in order; an event
// older than the newest queued goes to a min-heap instead. The oldest id is the older of
// the two heads.
type idQueue struct {
	fifo []seenID // ascending by t
	late idHeap
}

type seenID struct {
	t  int64
	id string
}

func (q *idQueue) push(t int64, id string) {
	if n := len(q.fifo); n == 0 || q.fifo[n-1].t <= t {
		q.fifo = append(q.fifo, seenID{t, id})
		return
	}
	q.late.push(seenID{t, id})
}

// popBefore removes and returns the id with the oldest time if that is before t.
func (q *idQueue) popBefore(t int64) (string, bool) {
	fifo := len(q.fifo) > 0 && q.fifo[0].t < t
	late := len(q.late) > 0 && q.late[0].t < t
	switch {
	case fifo && (!late || q.fifo[0].t <= q.late[0].t):
		id := q.fifo[0].id
		q.fifo[0] = seenID{} // let the id be collected
		q.fifo = dropFront(q.fifo, 1)
		return id, true
	case late:
		return q.late.pop().id, true
	}
	return "", false
}

// idHeap is a min-heap of ids by event time.
type idHeap []seenID

func (q *idHeap) push(e seenID) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].t <= h[i].t {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *idHeap) pop() seenID {
	h := *q
	e := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = seenID{}
	h = h[:n]
	*q = h
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].t < h[c].t {
			c = r
		}
		if h[i].t <= h[c].t {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	return e
}
