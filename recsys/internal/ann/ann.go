// Package ann is the recommender's retrieval seam: an approximate nearest-neighbour index
// over float32 vectors under cosine similarity, with three implementations: Exact (a full
// scan, the ground truth every other index is gated against), HNSW (written here from
// Malkov & Yashunin, on flat slices) and Coder (github.com/coder/hnsw, kept as a backend
// that must pass the same recall gate as any other).
//
// Cosine only: the recommender turns its maximum-inner-product search into a cosine search
// by augmenting the vectors (see recsys/internal/retrieval), so one metric suffices here.
package ann

// Result is one neighbour: an item id and its cosine similarity with the query (higher is
// nearer).
type Result struct {
	ID    int64
	Score float32
}

// Index is the seam. Implementations are safe for concurrent use: Search may run while
// Add inserts (new items enter without a rebuild).
type Index interface {
	// Add inserts one vector under id. The vector is copied (and normalised); its length
	// must equal Dim. Adding an id already present is an error (ErrDuplicateID).
	Add(id int64, vec []float32) error
	// Search appends to dst up to k results, nearest first, and returns it.
	Search(q []float32, k int, dst []Result) []Result
	// Len is the number of vectors held.
	Len() int
	// Dim is the vector width.
	Dim() int
}
