package dp

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// Noise draws the random noise of the mechanisms. It is safe for concurrent use.
// Production uses NewCryptoNoise; tests use NewSeededNoise to be reproducible.
type Noise struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewSeededNoise is a ChaCha8 stream from a fixed seed: the same draws every run. Only for
// tests and reproducible demonstrations: anyone who knows the seed can subtract the noise.
func NewSeededNoise(seed uint64) *Noise {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &Noise{rng: rand.New(rand.NewChaCha8(s))}
}

// NewCryptoNoise is a ChaCha8 stream keyed from crypto/rand.
func NewCryptoNoise() (*Noise, error) {
	var s [32]byte
	if _, err := crand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("dp: seed noise: %w", err)
	}
	return &Noise{rng: rand.New(rand.NewChaCha8(s))}, nil
}

// Laplace draws from Laplace(0, b) by inverting its CDF.
func (n *Noise) Laplace(b float64) float64 {
	n.mu.Lock()
	u := n.rng.Float64() - 0.5 // [-0.5, 0.5)
	n.mu.Unlock()
	if u == -0.5 {
		u = 0 // the one value whose inverse is infinite; a zero draw is harmless
	}
	a := math.Abs(u)
	return -b * math.Copysign(1, u) * math.Log1p(-2*a)
}

// Gaussian draws from N(0, σ²).
func (n *Noise) Gaussian(sigma float64) float64 {
	n.mu.Lock()
	z := n.rng.NormFloat64()
	n.mu.Unlock()
	return sigma * z
}
