// Package ease is EASE, the item-item linear autoencoder of Steck, "Embarrassingly shallow
// autoencoders for sparse data" (WWW 2019): one closed-form ridge regression predicting
// each item from all the others, the recommender's strongest candidate scorer on
// MovieLens-sized catalogues.
package ease

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Config configures Train.
type Config struct {
	// Lambda is the L2 penalty added to the diagonal of the item Gram matrix XᵀX. It is in
	// the hundreds for MovieLens-100K-sized data (Steck used 500 on ML-20M).
	Lambda float64
	// MaxItems bounds the catalogue. Training holds about three items × items float64
	// matrices (20,000 items: ~10 GB at the peak) and the model one float32 matrix.
	MaxItems int
}

// DefaultConfig is λ = 500 and at most 20,000 items. On MovieLens-100K-shaped data from
// recsys/sim (see TestTuneLambda) NDCG@10 rises steeply up to λ ≈ 300 and is flat within
// 0.01 from 500 to 1,500; 500 is also where the literature's ML-100K settings lie.
func DefaultConfig() Config { return Config{Lambda: 500, MaxItems: 20_000} }

// Validate reports out-of-range settings.
func (c Config) Validate() error {
	switch {
	case !(c.Lambda > 0) || math.IsInf(c.Lambda, 1):
		return fmt.Errorf("%w: Lambda = %v, want finite and > 0", ErrInvalidConfig, c.Lambda)
	case c.MaxItems <= 0 || c.MaxItems > maxArtifactItems:
		return fmt.Errorf("%w: MaxItems = %d, want 1..%d", ErrInvalidConfig, c.MaxItems, maxArtifactItems)
	}
	return nil
}

// Model scores items for a user from the items the user has interacted with:
// score_j = Σ_{i ∈ user's items} B_ij, with B the item × item weight matrix
// B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, whose diagonal is zero (an item does not
// predict itself). A Model is immutable and safe for concurrent use.
type Model struct {
	lambda float64
	ids    []int64   // item ids, ascending; an item's index is its position
	w      []float32 // B row-major: row i is what item i adds to every item's score
}

// Train fits EASE to implicit feedback: users[k] interacted with items[k]. Repeated pairs
// count once (X is binary). It refuses more than cfg.MaxItems distinct items. The
// context is checked while the Gram matrix is built and between the factorisation and the
// inverse; each of those two dense steps runs to completion once started.
func Train(ctx context.Context, users, items []int64, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(users) != len(items) {
		return nil, fmt.Errorf("%w: %d users for %d items", ErrInvalidInput, len(users), len(items))
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: no interactions", ErrInvalidInput)
	}
	ids := slices.Compact(slices.Sorted(slices.Values(items)))
	n := len(ids)
	if n > cfg.MaxItems {
		return nil, fmt.Errorf("%w: %d distinct items, MaxItems is %d", ErrTooManyItems, n, cfg.MaxItems)
	}
	type pair struct {
		u int64
		i int
	}
	ps := make([]pair, len(users))
	for k := range users {
		i, _ := slices.BinarySearch(ids, items[k])
		ps[k] = pair{users[k], i}
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := cmp.Compare(a.u, b.u); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	ps = slices.Compact(ps)

	// G = XᵀX + λI, upper triangle: each user adds 1 to every pair of their items.
	g := make([]float64, n*n)
	row := make([]int, 0, 64)
	for lo, seen := 0, 0; lo < len(ps); seen++ {
		if seen%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("ease: gram matrix: %w", err)
			}
		}
		hi := lo
		row = row[:0]
		for ; hi < len(ps) && ps[hi].u == ps[lo].u; hi++ {
			row = append(row, ps[hi].i)
		}
		for a, i := range row { // ascending, so (i, j) with j ≥ i is the upper triangle
			gi := g[i*n : (i+1)*n]
			for _, j := range row[a:] {
				gi[j]++
			}
		}
		lo = hi
	}
	for i := range n {
		g[i*n+i] += cfg.Lambda
	}
	var chol mat.Cholesky
	if !chol.Factorize(mat.NewSymDense(n, g)) {
		return nil, fmt.Errorf("ease: XᵀX + λI is not positive definite (λ = %v)", cfg.Lambda)
	}
	g = nil // the factorisation holds its own copy
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ease: after factorisation: %w", err)
	}
	var p mat.SymDense
	if err := chol.InverseTo(&p); err != nil {
		return nil, fmt.Errorf("ease: invert XᵀX + λI: %w", err)
	}
	raw := p.RawSymmetric() // the upper triangle holds P
	at := func(i, j int) float64 {
		if i > j {
			i, j = j, i
		}
		return raw.Data[i*raw.Stride+j]
	}
	m := &Model{lambda: cfg.Lambda, ids: ids, w: make([]float32, n*n)}
	for i := range n {
		wi := m.w[i*n : (i+1)*n]
		for j := range n {
			if i != j {
				wi[j] = float32(-at(i, j) / at(j, j))
			}
		}
	}
	return m, nil
}

// Len is the number of items the model scores.
func (m *Model) Len() int { return len(m.ids) }

// Lambda is the regularisation the model was trained with.
func (m *Model) Lambda() float64 { return m.lambda }

// ItemIDs returns the item ids in index order (a copy): Scores' dst[k] is ItemIDs()[k]'s.
func (m *Model) ItemIDs() []int64 { return slices.Clone(m.ids) }

// ItemID is the id of the item at index k, which must be in [0, Len()).
func (m *Model) ItemID(k int) int64 { return m.ids[k] }

// ItemIndex is an item id's index, or -1 for an item the model was not trained on.
func (m *Model) ItemIndex(id int64) int {
	k, ok := slices.BinarySearch(m.ids, id)
	if !ok {
		return -1
	}
	return k
}

// Scores writes every item's score for a user whose distinct interacted items are
// userItems (indexes, as from ItemIndex) into dst, grown if short, and returns it. Indexes
// outside [0, Len()), such as ItemIndex's -1 for an item newer than the model, are
// skipped. The user's own items get scores too; a caller recommending new items excludes
// them.
func (m *Model) Scores(userItems []int, dst []float64) []float64 {
	n := len(m.ids)
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	clear(dst)
	for _, i := range userItems {
		if i < 0 || i >= n {
			continue
		}
		wi := m.w[i*n : (i+1)*n]
		for j, v := range wi {
			dst[j] += float64(v)
		}
	}
	return dst
}
