package ml

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
)

// FMConfig configures a factorization machine.
type FMConfig struct {
	// Factors is the embedding width k of every feature value.
	Factors int
	// HashBits sets the number of hashed buckets for categorical values to 2^HashBits.
	HashBits int
	// Epochs is the number of passes of AdaGrad SGD over the (seeded, shuffled) rows.
	Epochs int
	// LearningRate is AdaGrad's base step.
	LearningRate float64
	// L2 regularises weights and embeddings.
	L2 float64
	// InitStd is the standard deviation of the initial embeddings.
	InitStd float64
	// Seed makes initialisation and row order reproducible.
	Seed uint64
}

// DefaultFMConfig is 8 factors over 2^16 buckets.
func DefaultFMConfig() FMConfig {
	return FMConfig{Factors: 8, HashBits: 16, Epochs: 5, LearningRate: 0.1, L2: 1e-6, InitStd: 0.01, Seed: 1}
}

// Validate reports out-of-range settings.
func (c FMConfig) Validate() error {
	switch {
	case c.Factors <= 0 || c.Factors > 256:
		return configError("fm: Factors = %d, want 1..256", c.Factors)
	case c.HashBits < 4 || c.HashBits > 24:
		return configError("fm: HashBits = %d, want 4..24", c.HashBits)
	case c.Epochs <= 0:
		return configError("fm: Epochs = %d, want > 0", c.Epochs)
	case !(c.LearningRate > 0):
		return configError("fm: LearningRate = %v, want > 0", c.LearningRate)
	case c.L2 < 0 || c.InitStd < 0:
		return configError("fm: L2 and InitStd must be ≥ 0")
	}
	return nil
}

// FM is a second-order factorization machine for click prediction over sparse features.
// Each schema feature is a field. A categorical field's value is hashed with the field into
// one of 2^HashBits buckets (a one-hot of weight 1); a numeric field has its own slot and
// enters with its value. The logit is w0 + Σ w_i x_i + Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j, computed in
// O(fields × factors) with Rendle's identity.
type FM struct {
	schema  Schema
	cfg     FMConfig
	w0      float64
	w       []float64 // per slot
	v       []float64 // slot-major, Factors per slot
	buckets int
}

var _ Model = (*FM)(nil)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// encodeRow maps one row to (slot, value) per field.
func encodeFMRow(s Schema, buckets int, x []float64, slots []int32, vals []float64) {
	for f, v := range x {
		slots[f], vals[f] = encodeFMValue(s, buckets, f, v)
	}
}

// encodeFMValue maps field f's value to its slot and the value it enters with.
func encodeFMValue(s Schema, buckets, f int, v float64) (int32, float64) {
	if s.Features[f].Type == Categorical {
		h := splitmix(uint64(int64(v)) ^ uint64(f+1)*0x9e3779b97f4a7c15)
		return int32(s.Len() + int(h&uint64(buckets-1))), 1
	}
	return int32(f), v
}

// TrainFM fits a factorization machine with AdaGrad SGD, single-threaded so the result is
// exactly reproducible. Rows with an exposure (Dataset.Exposure) train as in
// TrainFMExposed.
func TrainFM(ctx context.Context, d Dataset, cfg FMConfig) (*FM, error) {
	return TrainFMExposed(ctx, d, d.Exposure, cfg)
}

// TrainFMExposed fits a factorization machine to rows that were each seen with a known
// probability, the examination model of position bias: row i's label was drawn with
// P(y=1) = exposure[i] · σ(logit), so the model learns the click probability of an ad that
// is seen, free of where it was shown, and a caller multiplies the position effect back per
// slot. A nil exposure is 1 for every row. Exposures must be in (0, 1]. (TrainFM passes
// the dataset's own Exposure column.)
func TrainFMExposed(ctx context.Context, d Dataset, exposure []float64, cfg FMConfig) (*FM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.Validate(true); err != nil {
		return nil, fmt.Errorf("train fm: %w", err)
	}
	if exposure != nil && len(exposure) != d.Rows() {
		return nil, fmt.Errorf("train fm: %w: %d exposures for %d rows", ErrShape, len(exposure), d.Rows())
	}
	for i, e := range exposure {
		if !(e > 0 && e <= 1) {
			return nil, fmt.Errorf("train fm: %w: row %d has exposure %v, want (0, 1]", ErrShape, i, e)
		}
	}
	k, n, nf := d.Schema.Len(), d.Rows(), cfg.Factors
	m := &FM{schema: d.Schema, cfg: cfg, buckets: 1 << cfg.HashBits}
	nslots := k + m.buckets
	m.w = make([]float64, nslots)
	m.v = make([]float64, nslots*nf)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xf4))
	for i := range m.v {
		m.v[i] = rng.NormFloat64() * cfg.InitStd
	}
	slots := make([]int32, n*k)
	vals := make([]float64, n*k)
	for i := 0; i < n; i++ {
		encodeFMRow(d.Schema, m.buckets, d.Row(i), slots[i*k:(i+1)*k], vals[i*k:(i+1)*k])
	}
	const eps = 1e-8
	var g0 float64
	gw := make([]float64, nslots)
	gv := make([]float64, nslots*nf)
	sum := make([]float64, nf)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	lr, l2 := cfg.LearningRate, cfg.L2
	for ep := 0; ep < cfg.Epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train fm: epoch %d: %w", ep, err)
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			sl, xv := slots[i*k:(i+1)*k], vals[i*k:(i+1)*k]
			z := m.logitEncoded(sl, xv, sum)
			p, y := sigmoid(z), d.Y[i]
			r := p - y // d(log loss)/d(logit)
			if exposure != nil && exposure[i] < 1 {
				// The loss is that of q = e·p: d/dz = −y(1−p) + (1−y)·e·p(1−p)/(1−q).
				e := exposure[i]
				r = -y*(1-p) + (1-y)*e*p*(1-p)/(1-e*p)
			}
			g0 += r * r
			m.w0 -= lr * r / math.Sqrt(g0+eps)
			for f, s := range sl {
				x := xv[f]
				g := r*x + l2*m.w[s]
				gw[s] += g * g
				m.w[s] -= lr * g / math.Sqrt(gw[s]+eps)
				vs := m.v[int(s)*nf : int(s+1)*nf]
				gs := gv[int(s)*nf : int(s+1)*nf]
				for j := range vs {
					g := r*x*(sum[j]-vs[j]*x) + l2*vs[j]
					gs[j] += g * g
					vs[j] -= lr * g / math.Sqrt(gs[j]+eps)
				}
			}
		}
	}
	return m, nil
}

// logitEncoded computes the logit and leaves Σ_i v_i x_i in sum.
func (m *FM) logitEncoded(slots []int32, vals []float64, sum []float64) float64 {
	nf := m.cfg.Factors
	clear(sum)
	z, sq := m.w0, 0.0
	for f, s := range slots {
		x := vals[f]
		z += m.w[s] * x
		vs := m.v[int(s)*nf : int(s+1)*nf]
		for j, v := range vs {
			vx := v * x
			sum[j] += vx
			sq += vx * vx
		}
	}
	inter := 0.0
	for _, s := range sum {
		inter += s * s
	}
	return z + 0.5*(inter-sq)
}

// Family implements Model.
func (m *FM) Family() Family { return FamilyFM }

// Schema implements Model.
func (m *FM) Schema() Schema { return m.schema }

// Predict implements Model.
func (m *FM) Predict(b Batch, out []float64) error {
	if err := checkBatch(m.schema, b, out); err != nil {
		return err
	}
	k := m.schema.Len()
	slots, vals, sum := make([]int32, k), make([]float64, k), make([]float64, m.cfg.Factors)
	for i := range b.Rows() {
		encodeFMRow(m.schema, m.buckets, b.X[i*k:(i+1)*k], slots, vals)
		out[i] = sigmoid(m.logitEncoded(slots, vals, sum))
	}
	return nil
}

// Explain implements Model exactly: field i gets its linear term plus half of each pairwise
// interaction it takes part in, so bias (w0) + Σ contributions is the logit.
func (m *FM) Explain(b Batch, row int) (Explanation, error) {
	x, err := checkRow(m.schema, b, row)
	if err != nil {
		return Explanation{}, err
	}
	k, nf := m.schema.Len(), m.cfg.Factors
	slots, vals, sum := make([]int32, k), make([]float64, k), make([]float64, nf)
	encodeFMRow(m.schema, m.buckets, x, slots, vals)
	z := m.logitEncoded(slots, vals, sum)
	e := Explanation{Method: MethodInteractionSplit, Bias: m.w0, Logit: z, Probability: sigmoid(z)}
	for f, s := range slots {
		xv := vals[f]
		c := m.w[s] * xv
		vs := m.v[int(s)*nf : int(s+1)*nf]
		for j, v := range vs {
			c += 0.5 * v * xv * (sum[j] - v*xv)
		}
		e.Contributions = append(e.Contributions, Contribution{Feature: m.schema.Features[f].Name, Value: c})
	}
	return e, nil
}

func floatsToBytes(vs []float64) []byte {
	out := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(v))
	}
	return out
}

func bytesToFloats(b []byte) ([]float64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of float64s", len(b))
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

type fmBody struct {
	Config FMConfig `json:"config"`
	W0     float64  `json:"w0"`
	// W and V are little-endian float64s (base64 in JSON): a 2^16 × 8 table is 4 MiB
	// this way and several times that as decimal text.
	W []byte `json:"w"`
	V []byte `json:"v"`
}

// MarshalBinary implements Model.
func (m *FM) MarshalBinary() ([]byte, error) {
	return marshal(FamilyFM, m.schema, fmBody{Config: m.cfg, W0: m.w0, W: floatsToBytes(m.w), V: floatsToBytes(m.v)})
}

func decodeFM(s Schema, raw []byte) (*FM, error) {
	var b fmBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	if err := b.Config.Validate(); err != nil {
		return nil, err
	}
	m := &FM{schema: s, cfg: b.Config, w0: b.W0, buckets: 1 << b.Config.HashBits}
	var err error
	if m.w, err = bytesToFloats(b.W); err != nil {
		return nil, err
	}
	if m.v, err = bytesToFloats(b.V); err != nil {
		return nil, err
	}
	nslots := s.Len() + m.buckets
	if len(m.w) != nslots || len(m.v) != nslots*b.Config.Factors {
		return nil, fmt.Errorf("tables hold %d/%d values, want %d/%d", len(m.w), len(m.v), nslots, nslots*b.Config.Factors)
	}
	return m, nil
}
