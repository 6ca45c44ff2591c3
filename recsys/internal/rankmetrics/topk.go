package rankmetrics

import (
	"container/heap"
	"math"
)

// TopK returns the indices of the k highest scores, best first, skipping every index for
// which exclude (if not nil) is true. Ties go to the lower index and NaN ranks below every
// number, so the result is deterministic. It keeps a bounded heap of k entries: O(n log k)
// time for n scores. Fewer than k indices come back when fewer remain.
func TopK[E float32 | float64](scores []E, exclude func(int) bool, k int) []int {
	if k <= 0 {
		return nil
	}
	h := &minHeap[E]{scores: scores, idx: make([]int, 0, min(k, len(scores)))}
	for i := range scores {
		if exclude != nil && exclude(i) {
			continue
		}
		if len(h.idx) < k {
			heap.Push(h, i)
		} else if better(scores, i, h.idx[0]) {
			h.idx[0] = i
			heap.Fix(h, 0)
		}
	}
	out := make([]int, len(h.idx))
	for j := len(out) - 1; j >= 0; j-- {
		out[j] = heap.Pop(h).(int)
	}
	return out
}

// better says whether index i ranks above index j.
func better[E float32 | float64](s []E, i, j int) bool {
	a, b := s[i], s[j]
	an, bn := math.IsNaN(float64(a)), math.IsNaN(float64(b))
	switch {
	case an != bn:
		return bn
	case !an && a != b:
		return a > b
	}
	return i < j
}

// minHeap keeps the worst retained index at the root.
type minHeap[E float32 | float64] struct {
	scores []E
	idx    []int
}

func (h *minHeap[E]) Len() int           { return len(h.idx) }
func (h *minHeap[E]) Less(a, b int) bool { return better(h.scores, h.idx[b], h.idx[a]) }
func (h *minHeap[E]) Swap(a, b int)      { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *minHeap[E]) Push(x any)         { h.idx = append(h.idx, x.(int)) }
func (h *minHeap[E]) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}
