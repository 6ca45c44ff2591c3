package train

import "github.com/casebook-ml/casebook/platform/ml"

// ColdStart gives an item with no interactions a place in the embedding space from its
// attributes: the mean embedding (and bias) of the trained items that share each of its
// genres, averaged over its genres. Such an item can be retrieved (and ranked) before
// anyone has touched it; a retrain later learns its own vector.
type ColdStart struct {
	centroid [][]float64 // per genre bit; nil when no trained item has the genre
	bias     []float64
	mean     []float64 // every item's mean, for an item without known genres
	meanBias float64
}

// NewColdStart computes the genre centroids of m's items; genres maps an item to its genre
// bits (bit g set: genre g).
func NewColdStart(m *ml.MF, genres map[int64]uint32) *ColdStart {
	ids, vecs, biases := m.ItemVectors()
	k := m.Config().Factors
	c := &ColdStart{centroid: make([][]float64, 32), bias: make([]float64, 32), mean: make([]float64, k)}
	counts := make([]float64, 32)
	for i, id := range ids {
		for f, x := range vecs[i] {
			c.mean[f] += x / float64(len(ids))
		}
		c.meanBias += biases[i] / float64(len(ids))
		g := genres[id]
		for b := 0; b < 32; b++ {
			if g&(1<<b) == 0 {
				continue
			}
			if c.centroid[b] == nil {
				c.centroid[b] = make([]float64, k)
			}
			for f, x := range vecs[i] {
				c.centroid[b][f] += x
			}
			c.bias[b] += biases[i]
			counts[b]++
		}
	}
	for b := range c.centroid {
		if counts[b] > 0 {
			for f := range c.centroid[b] {
				c.centroid[b][f] /= counts[b]
			}
			c.bias[b] /= counts[b]
		}
	}
	return c
}

// Vector returns the embedding and bias for a new item with these genre bits.
func (c *ColdStart) Vector(genres uint32) ([]float64, float64) {
	out := make([]float64, len(c.mean))
	var bias float64
	n := 0.0
	for b := 0; b < 32; b++ {
		if genres&(1<<b) == 0 || c.centroid[b] == nil {
			continue
		}
		for f, x := range c.centroid[b] {
			out[f] += x
		}
		bias += c.bias[b]
		n++
	}
	if n == 0 {
		copy(out, c.mean)
		return out, c.meanBias
	}
	for f := range out {
		out[f] /= n
	}
	return out, bias / n
}
