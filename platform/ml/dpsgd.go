package ml

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Bound is a feature's public range [Lo, Hi]: chosen from what is known about the feature
// without looking at the training data (a rate lies in [0, 1], a count of a customer's
// transactions in a day rarely passes 20), so that it leaks nothing.
type Bound struct{ Lo, Hi float64 }

// DPLogRegConfig configures differentially private logistic regression (DP-SGD).
type DPLogRegConfig struct {
	// Epsilon is the target ε; the noise multiplier is the smallest the accountant finds to
	// stay within it. +Inf trains with clipping but no noise (no privacy: for comparison).
	Epsilon float64
	// Delta is the δ the ε is stated at; 0 means min(1e-5, 1/N).
	Delta float64
	// Bounds are the public per-feature ranges. Features are clamped into them and mapped
	// to [−1, 1] with these fixed bounds, not with the data's mean and standard deviation,
	// which would themselves leak (they are not computed under DP).
	Bounds []Bound
	// Epochs is the expected number of passes: steps = Epochs / SampleRate.
	Epochs int
	// BatchSize is the expected batch size: each row joins a step with probability
	// BatchSize/N (Poisson subsampling, which the accountant assumes).
	BatchSize int
	// Clip is the per-example gradient norm C; the noise on the summed gradient is N(0, (σC)²).
	Clip float64
	// LearningRate is the SGD step on the noisy mean gradient.
	LearningRate float64
	// L2 is a ridge penalty on the weights (computed on the model, not the data: free).
	L2 float64
	// Seed fixes the sampling and noise for tests; 0 seeds from crypto/rand, as a real
	// release must (a known seed lets anyone subtract the noise).
	Seed uint64
}

// DefaultDPLogRegConfig trains for ε = 1 over 10 epochs of expected batches of 512.
func DefaultDPLogRegConfig() DPLogRegConfig {
	return DPLogRegConfig{Epsilon: 1, Epochs: 10, BatchSize: 512, Clip: 1, LearningRate: 1, L2: 1e-4}
}

// Validate reports the first field out of range; k is the number of features.
func (c DPLogRegConfig) Validate(k int) error {
	switch {
	case !(c.Epsilon > 0):
		return configError("dp-sgd: Epsilon = %v, want > 0", c.Epsilon)
	case !(c.Delta >= 0 && c.Delta < 1):
		return configError("dp-sgd: Delta = %v, want in [0, 1)", c.Delta)
	case len(c.Bounds) != k:
		return configError("dp-sgd: %d bounds for %d features: DP training needs a public range for every feature", len(c.Bounds), k)
	case c.Epochs < 1:
		return configError("dp-sgd: Epochs = %d, want ≥ 1", c.Epochs)
	case c.BatchSize < 1:
		return configError("dp-sgd: BatchSize = %d, want ≥ 1", c.BatchSize)
	case !(c.Clip > 0) || math.IsInf(c.Clip, 0):
		return configError("dp-sgd: Clip = %v, want finite > 0", c.Clip)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return configError("dp-sgd: LearningRate = %v, want finite > 0", c.LearningRate)
	case !(c.L2 >= 0):
		return configError("dp-sgd: L2 = %v, want ≥ 0", c.L2)
	}
	for j, b := range c.Bounds {
		if !(b.Lo < b.Hi) || math.IsInf(b.Lo, 0) || math.IsInf(b.Hi, 0) {
			return configError("dp-sgd: bound %d is [%v, %v], want finite Lo < Hi", j, b.Lo, b.Hi)
		}
	}
	return nil
}

// DPReport is what a DP-SGD run spent. Mechanism, Epsilon, Delta and Accountant are the
// fields of registry.DPGuarantee, which the caller stores in Version.Privacy.DP (this
// package cannot name the registry's type: the registry imports it).
type DPReport struct {
	Mechanism  string  `json:"mechanism"` // "dp-sgd"
	Epsilon    float64 `json:"epsilon"`   // spent, by the accountant; +Inf without noise
	Delta      float64 `json:"delta"`
	Accountant string  `json:"accountant"` // "rdp"; "none" without noise
	// TargetEpsilon is the configured ε; Epsilon ≤ TargetEpsilon.
	TargetEpsilon   float64 `json:"target_epsilon"`
	NoiseMultiplier float64 `json:"noise_multiplier"` // σ: the noise's standard deviation is σ·Clip
	SampleRate      float64 `json:"sample_rate"`      // q
	Steps           int     `json:"steps"`
	Order           int     `json:"rdp_order"` // the Rényi order α that gave the ε
	Clip            float64 `json:"clip"`
	// ClippedShare is the share of per-example gradients longer than Clip.
	ClippedShare float64 `json:"clipped_share"`
	// MeanBatch and BatchVariance describe the sampled batch sizes (expected qN and qN(1−q)).
	MeanBatch     float64 `json:"mean_batch"`
	BatchVariance float64 `json:"batch_variance"`
}

// TrainDPLogReg fits a logistic regression with DP-SGD (Abadi et al. 2016): at each step
// every row joins the batch with probability q, each row's gradient of the log loss is
// clipped to norm Clip, the sum gets N(0, (σ·Clip)²) noise on each coordinate, and is
// divided by the expected batch size qN. The (ε, δ) spent is computed by an RDP accountant
// for the subsampled Gaussian mechanism. Neighbouring datasets differ by one row (added or
// removed). The model is an ordinary *LogReg whose standardization is the public bounds'
// midpoint and half-width, so it serves, explains and serializes like any other; at
// prediction, values outside the bounds are not clamped.
func TrainDPLogReg(ctx context.Context, d Dataset, cfg DPLogRegConfig) (*LogReg, DPReport, error) {
	if err := d.Validate(true); err != nil {
		return nil, DPReport{}, fmt.Errorf("train dp logreg: %w", err)
	}
	k, n := d.Schema.Len(), d.Rows()
	if err := cfg.Validate(k); err != nil {
		return nil, DPReport{}, err
	}
	delta := cfg.Delta
	if delta == 0 {
		delta = math.Min(1e-5, 1/float64(n))
	}
	q := math.Min(1, float64(cfg.BatchSize)/float64(n))
	steps := int(math.Ceil(float64(cfg.Epochs) / q))
	rep := DPReport{Mechanism: "dp-sgd", Delta: delta, TargetEpsilon: cfg.Epsilon, SampleRate: q, Steps: steps, Clip: cfg.Clip}
	if math.IsInf(cfg.Epsilon, 1) {
		rep.Epsilon, rep.Accountant = math.Inf(1), "none"
	} else {
		sigma, err := DPSGDNoiseMultiplier(q, steps, cfg.Epsilon, delta)
		if err != nil {
			return nil, DPReport{}, err
		}
		rep.NoiseMultiplier = sigma
		rep.Epsilon, rep.Order = DPSGDEpsilon(q, sigma, steps, delta)
		rep.Accountant = "rdp"
	}
	rng, err := dpRand(cfg.Seed)
	if err != nil {
		return nil, DPReport{}, err
	}

	// Clamp and scale once: x' = (clamp(x) − mid)/half ∈ [−1, 1].
	mid, half := make([]float64, k), make([]float64, k)
	for j, b := range cfg.Bounds {
		mid[j], half[j] = (b.Lo+b.Hi)/2, (b.Hi-b.Lo)/2
	}
	xs := make([]float64, n*k)
	for i := range n {
		for j, v := range d.Row(i) {
			v = math.Min(cfg.Bounds[j].Hi, math.Max(cfg.Bounds[j].Lo, v))
			xs[i*k+j] = (v - mid[j]) / half[j]
		}
	}

	theta := make([]float64, k+1) // weights, then bias
	g := make([]float64, k+1)
	expected := q * float64(n)
	noiseSD := rep.NoiseMultiplier * cfg.Clip
	clipped, seen := 0, 0
	var sumB, sumB2 float64
	for step := range steps {
		if step%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, DPReport{}, fmt.Errorf("train dp logreg: %w", err)
			}
		}
		clear(g)
		batch := 0
		// Poisson sampling: each row joins with probability q. The gaps between chosen rows
		// are geometric, so drawing them costs qN draws a step instead of N.
		for i := nextRow(rng, -1, q); i < n; i = nextRow(rng, i, q) {
			row := xs[i*k : (i+1)*k]
			z := theta[k]
			norm2 := 1.0
			for j, v := range row {
				z += theta[j] * v
				norm2 += v * v
			}
			r := sigmoid(z) - d.Y[i]
			// ‖r·(x, 1)‖ = |r|·√(‖x‖²+1)
			gn := math.Abs(r) * math.Sqrt(norm2)
			scale := 1.0
			if gn > cfg.Clip {
				scale = cfg.Clip / gn
				clipped++
			}
			seen++
			batch++
			r *= scale
			for j, v := range row {
				g[j] += r * v
			}
			g[k] += r
		}
		sumB += float64(batch)
		sumB2 += float64(batch) * float64(batch)
		for j := range g {
			if noiseSD > 0 {
				g[j] += noiseSD * rng.NormFloat64()
			}
			g[j] /= expected
			if j < k {
				g[j] += cfg.L2 * theta[j]
			}
			theta[j] -= cfg.LearningRate * g[j]
		}
	}
	if seen > 0 {
		rep.ClippedShare = float64(clipped) / float64(seen)
	}
	rep.MeanBatch = sumB / float64(steps)
	rep.BatchVariance = sumB2/float64(steps) - rep.MeanBatch*rep.MeanBatch
	m := &LogReg{schema: d.Schema, mean: mid, std: half, weights: theta[:k:k], bias: theta[k]}
	m.fold()
	return m, rep, nil
}

// nextRow is the next row after i that joins a batch sampled with probability q per row:
// i + 1 + G with G ~ Geometric(q) (failures before the first success).
func nextRow(rng *rand.Rand, i int, q float64) int {
	if q >= 1 {
		return i + 1
	}
	u := 1 - rng.Float64() // (0, 1]
	g := math.Floor(math.Log(u) / math.Log1p(-q))
	if g > math.MaxInt32 {
		return math.MaxInt
	}
	return i + 1 + int(g)
}

func dpRand(seed uint64) (*rand.Rand, error) {
	var s [32]byte
	if seed == 0 {
		if _, err := crand.Read(s[:]); err != nil {
			return nil, fmt.Errorf("train dp logreg: seed: %w", err)
		}
	} else {
		binary.LittleEndian.PutUint64(s[:], seed)
	}
	return rand.New(rand.NewChaCha8(s)), nil
}
