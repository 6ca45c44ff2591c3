// Package retrieval is the recommender's first stage: it turns a factorization model's
// embeddings into an ANN index, gates each index on its recall against exact search before
// the registry will hold it, and answers "the few hundred items this user is most likely to
// want" in well under a millisecond.
//
// # From inner product to cosine
//
// The factorization scores an item for a user as s(u, i) = ⟨p_u, q_i⟩ + b_i: a maximum
// inner-product search (MIPS), which an index built for cosine similarity does not answer
// directly (a long item vector beats a well-aligned short one). The reduction of Bachrach
// et al. (2014) fixes that with one extra dimension: every item becomes
//
//	x_i = [q_i, b_i, sqrt(Φ² − ‖q_i‖² − b_i²)] / Φ,   Φ = max_i ‖(q_i, b_i)‖
//
// which has norm 1, and the user's query becomes y_u = [p_u, 1, 0]. Then
// cos(y_u, x_i) = s(u, i) / (Φ ‖y_u‖): for a fixed user, ranking by cosine is ranking by
// the model's score, exactly. An item added later with a longer vector than Φ is scaled
// down to Φ (its score is then slightly understated); Augmenter.Clamped counts them.
package retrieval

import (
	"fmt"
	"math"
)

// Augmenter maps factorization vectors to the unit sphere (items) and to queries (users).
type Augmenter struct {
	// Factors is the embedding width; augmented vectors have Factors+2 components.
	Factors int
	// Phi is the largest ‖(q_i, b_i)‖ over the items the index was built from.
	Phi float64
}

// NewAugmenter sizes the transform for these item vectors and biases.
func NewAugmenter(vectors [][]float64, biases []float64) (Augmenter, error) {
	if len(vectors) == 0 || len(vectors) != len(biases) {
		return Augmenter{}, fmt.Errorf("augment: %d vectors and %d biases; want the same, more than 0", len(vectors), len(biases))
	}
	a := Augmenter{Factors: len(vectors[0])}
	for i, v := range vectors {
		if len(v) != a.Factors {
			return Augmenter{}, fmt.Errorf("augment: vector %d has %d components, want %d", i, len(v), a.Factors)
		}
		a.Phi = math.Max(a.Phi, math.Sqrt(sq(v)+biases[i]*biases[i]))
	}
	if !(a.Phi > 0) || math.IsInf(a.Phi, 0) {
		return Augmenter{}, fmt.Errorf("augment: the item vectors' largest norm is %v", a.Phi)
	}
	return a, nil
}

// Dim is the augmented width.
func (a Augmenter) Dim() int { return a.Factors + 2 }

// Item returns the augmented item vector, and whether it had to be scaled down to Phi.
func (a Augmenter) Item(q []float64, bias float64, dst []float32) ([]float32, bool) {
	n2 := sq(q) + bias*bias
	scale, clamped := 1/a.Phi, false
	// A relative tolerance: the longest item of the build must not read as clamped because
	// its squared norm rounds a hair above Φ².
	if n2 > a.Phi*a.Phi*(1+1e-12) {
		scale, clamped = 1/math.Sqrt(n2), true
		n2 = a.Phi * a.Phi
	}
	dst = dst[:0]
	for _, x := range q {
		dst = append(dst, float32(x*scale))
	}
	rest := math.Sqrt(math.Max(0, a.Phi*a.Phi-n2)) / a.Phi
	if clamped {
		rest = 0
	}
	return append(dst, float32(bias*scale), float32(rest)), clamped
}

// Query returns the augmented query for a user vector.
func (a Augmenter) Query(p []float64, dst []float32) []float32 {
	dst = dst[:0]
	for _, x := range p {
		dst = append(dst, float32(x))
	}
	return append(dst, 1, 0)
}

func sq(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}
