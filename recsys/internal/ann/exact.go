package ann

import (
	"fmt"
	"sync"
)

var _ Index = (*Exact)(nil)

// Exact is a full scan over every stored vector: the ground truth that approximate
// indexes are measured against, and the fallback when an index is small enough that a scan
// is cheap. Vectors are normalised on Add and stored back to back in one flat slice, so a
// search is one linear pass of dot products with a bounded heap holding the best k.
type Exact struct {
	dim int

	mu   sync.RWMutex // guards everything below: Add writes, Search reads
	vecs []float32    // Len()×dim, normalised
	ids  []int64
	pos  map[int64]int32 // id → row, for duplicate detection
}

// NewExact returns an empty exact index for vectors of width dim.
func NewExact(dim int) (*Exact, error) {
	if dim <= 0 {
		return nil, configError("dim %d, want > 0", dim)
	}
	return &Exact{dim: dim, pos: make(map[int64]int32)}, nil
}

// Add stores a normalised copy of vec under id.
func (e *Exact) Add(id int64, vec []float32) error {
	if err := checkVector(e.dim, vec); err != nil {
		return fmt.Errorf("exact add %d: %w", id, err)
	}
	v := make([]float32, e.dim)
	if err := normalizeInto(v, vec); err != nil {
		return fmt.Errorf("exact add %d: %w", id, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.pos[id]; ok {
		return fmt.Errorf("exact add %d: %w", id, ErrDuplicateID)
	}
	e.pos[id] = int32(len(e.ids))
	e.ids = append(e.ids, id)
	e.vecs = append(e.vecs, v...)
	return nil
}

// Search appends the k stored vectors with the highest cosine similarity to q, best first.
// A q of the wrong width, or a zero or non-finite q, finds nothing.
func (e *Exact) Search(q []float32, k int, dst []Result) []Result {
	if k <= 0 || len(q) != e.dim {
		return dst
	}
	qn := make([]float32, e.dim)
	if normalizeInto(qn, q) != nil {
		return dst
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := len(e.ids)
	if k > n {
		k = n
	}
	if k == 0 {
		return dst
	}
	// top is a min-heap on score: its root is the worst of the best k seen so far.
	top := make(minHeap, 0, k)
	vecs, dim := e.vecs, e.dim
	for i := range n {
		s := dot(qn, vecs[i*dim:(i+1)*dim])
		if len(top) < k {
			top.push(item{d: s, i: int32(i)})
		} else if s > top[0].d {
			top[0] = item{d: s, i: int32(i)}
			top.down(0)
		}
	}
	start := len(dst)
	dst = append(dst, make([]Result, len(top))...)
	for j := len(top) - 1; j >= 0; j-- {
		it := top.pop()
		dst[start+j] = Result{ID: e.ids[it.i], Score: it.d}
	}
	return dst
}

// Len is the number of vectors held.
func (e *Exact) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.ids)
}

// Dim is the vector width.
func (e *Exact) Dim() int { return e.dim }

// MemoryBytes estimates the bytes held: the vectors, the ids and the id map.
func (e *Exact) MemoryBytes() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return int64(cap(e.vecs))*4 + int64(cap(e.ids))*8 + int64(len(e.pos))*mapEntryBytes
}
