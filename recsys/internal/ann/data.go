package ann

import (
	"fmt"
	"math/rand/v2"
)

// Defaults of Clustered.
const (
	DefaultClusters = 100
	// DefaultSpread is the per-component standard deviation around a unit-length centre:
	// at 64 dimensions a point lies about 0.8 from its centre, so clusters are distinct
	// but not tight.
	DefaultSpread = 0.1
)

// Uniform returns n vectors of width dim with independent standard normal components:
// their directions are uniform on the sphere, the hardest case for a graph index (no
// structure to exploit). The same seed gives the same vectors.
func Uniform(n, dim int, seed uint64) ([][]float32, error) {
	if n < 0 || dim <= 0 {
		return nil, fmt.Errorf("%w: uniform %d × %d", ErrInvalidArgument, n, dim)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d))
	out := rows(n, dim)
	for _, v := range out {
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
	}
	return out, nil
}

// Clustered returns n vectors of width dim drawn around clusters centres (uniform on the
// unit sphere) with independent normal noise of standard deviation spread per component;
// each vector picks its cluster uniformly. clusters ≤ 0 means DefaultClusters and
// spread ≤ 0 DefaultSpread. The centres depend only on the seed, so to draw queries from
// the same clusters, generate data and queries in one call and split the result.
func Clustered(n, dim, clusters int, spread float64, seed uint64) ([][]float32, error) {
	if n < 0 || dim <= 0 {
		return nil, fmt.Errorf("%w: clustered %d × %d", ErrInvalidArgument, n, dim)
	}
	if clusters <= 0 {
		clusters = DefaultClusters
	}
	if spread <= 0 {
		spread = DefaultSpread
	}
	rng := rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb))
	centres := rows(clusters, dim)
	for _, c := range centres {
		for j := range c {
			c[j] = float32(rng.NormFloat64())
		}
		_ = normalizeInto(c, c) // a normal draw is never all zeros in practice
	}
	out := rows(n, dim)
	for _, v := range out {
		c := centres[rng.IntN(clusters)]
		for j := range v {
			v[j] = c[j] + float32(spread*rng.NormFloat64())
		}
	}
	return out, nil
}

// rows is n slices of width dim over one backing array.
func rows(n, dim int) [][]float32 {
	flat := make([]float32, n*dim)
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out
}
