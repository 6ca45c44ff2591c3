package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// FamilyMF is logistic matrix factorization.
const FamilyMF Family = "mf"

// MFConfig configures matrix factorization.
type MFConfig struct {
	// Factors is the embedding width.
	Factors int
	// Epochs is the number of AdaGrad SGD passes over the seeded, shuffled rows.
	Epochs       int
	LearningRate float64
	// L2 regularises biases and embeddings.
	L2      float64
	InitStd float64
	Seed    uint64

	// Trainer is how the factors were fitted: empty for TrainMF (logistic loss over
	// labelled rows, configured by the fields above), TrainerBPR or TrainerIALS for the
	// implicit-feedback trainers, whose configuration is then in BPR or IALS and of the
	// fields above only Factors and Seed are set. All three are omitted from JSON when
	// empty, so logistic MF artifacts are byte-for-byte what they were before.
	Trainer string      `json:",omitempty"`
	BPR     *BPRConfig  `json:",omitempty"`
	IALS    *IALSConfig `json:",omitempty"`
}

// DefaultMFConfig is 16 factors, 8 epochs.
func DefaultMFConfig() MFConfig {
	return MFConfig{Factors: 16, Epochs: 8, LearningRate: 0.1, L2: 1e-5, InitStd: 0.05, Seed: 1}
}

// Validate reports out-of-range settings.
func (c MFConfig) Validate() error {
	switch c.Trainer {
	case "":
	case TrainerBPR:
		if c.BPR == nil || c.IALS != nil {
			return configError("mf: trainer %q needs the BPR configuration alone", c.Trainer)
		}
		if c.BPR.Factors != c.Factors {
			return configError("mf: Factors = %d but BPR.Factors = %d", c.Factors, c.BPR.Factors)
		}
		return c.BPR.Validate()
	case TrainerIALS:
		if c.IALS == nil || c.BPR != nil {
			return configError("mf: trainer %q needs the IALS configuration alone", c.Trainer)
		}
		if c.IALS.Factors != c.Factors {
			return configError("mf: Factors = %d but IALS.Factors = %d", c.Factors, c.IALS.Factors)
		}
		return c.IALS.Validate()
	default:
		return configError("mf: unknown Trainer %q, want empty, %q or %q", c.Trainer, TrainerBPR, TrainerIALS)
	}
	switch {
	case c.BPR != nil || c.IALS != nil:
		return configError("mf: a BPR or IALS configuration needs its Trainer set")
	case c.Factors <= 0 || c.Factors > 512:
		return configError("mf: Factors = %d, want 1..512", c.Factors)
	case c.Epochs <= 0 || !(c.LearningRate > 0):
		return configError("mf: Epochs and LearningRate must be > 0")
	case c.L2 < 0 || c.InitStd < 0:
		return configError("mf: L2 and InitStd must be ≥ 0")
	}
	return nil
}

// MF is logistic matrix factorization for implicit feedback: p(y=1 | u, i) =
// σ(b + b_u + b_i + ⟨p_u, q_i⟩). The schema is two categorical features, the user id then
// the item id. Unlike the factorization machine, ids are not hashed: every id seen in
// training has its own row, so item vectors can be exported to build a retrieval (ANN)
// index. An id never seen in training gets a zero vector and bias (the cold-start answer:
// the global and the other side's bias).
//
// TrainBPR and TrainIALS fit the same model from positive interactions alone (a pairwise
// ranking loss, weighted least squares); the global and user biases are then zero, and
// Predict's σ of the sum ranks items correctly but is not a calibrated probability.
type MF struct {
	schema       Schema
	cfg          MFConfig
	bias         float64
	users, items []int64 // sorted ids
	ub, ib       []float64
	uv, iv       []float64 // row-major, Factors per id
}

var _ Model = (*MF)(nil)

func checkMFSchema(s Schema) error {
	if s.Len() != 2 || s.Features[0].Type != Categorical || s.Features[1].Type != Categorical {
		return fmt.Errorf("%w: matrix factorization needs [user categorical, item categorical], got %v", ErrInvalidSchema, s.Features)
	}
	return nil
}

func sortedIDs(x []float64, col int) []int64 {
	ids := make([]int64, 0, len(x)/2)
	for i := col; i < len(x); i += 2 {
		ids = append(ids, int64(x[i]))
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func index(ids []int64, id int64) int {
	i, ok := slices.BinarySearch(ids, id)
	if !ok {
		return -1
	}
	return i
}

// TrainMF fits the factorization with AdaGrad SGD, single-threaded for exact reproducibility.
func TrainMF(ctx context.Context, d Dataset, cfg MFConfig) (*MF, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Trainer != "" {
		return nil, configError("train mf: Trainer = %q; use TrainBPR or TrainIALS", cfg.Trainer)
	}
	if err := checkMFSchema(d.Schema); err != nil {
		return nil, fmt.Errorf("train mf: %w", err)
	}
	if err := d.Validate(true); err != nil {
		return nil, fmt.Errorf("train mf: %w", err)
	}
	k, n := cfg.Factors, d.Rows()
	m := &MF{schema: d.Schema, cfg: cfg, users: sortedIDs(d.X, 0), items: sortedIDs(d.X, 1)}
	m.ub, m.ib = make([]float64, len(m.users)), make([]float64, len(m.items))
	m.uv, m.iv = make([]float64, len(m.users)*k), make([]float64, len(m.items)*k)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x3f))
	for _, t := range [][]float64{m.uv, m.iv} {
		for i := range t {
			t[i] = rng.NormFloat64() * cfg.InitStd
		}
	}
	mean := 0.0
	for _, y := range d.Y {
		mean += y
	}
	m.bias = logit(mean / float64(n))
	u, it := make([]int32, n), make([]int32, n)
	for r := 0; r < n; r++ {
		u[r], it[r] = int32(index(m.users, int64(d.X[2*r]))), int32(index(m.items, int64(d.X[2*r+1])))
	}
	gub, gib := make([]float64, len(m.ub)), make([]float64, len(m.ib))
	guv, giv := make([]float64, len(m.uv)), make([]float64, len(m.iv))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	const eps = 1e-8
	lr, l2 := cfg.LearningRate, cfg.L2
	step := func(p, acc []float64, j int, grad float64) {
		acc[j] += grad * grad
		p[j] -= lr * grad / math.Sqrt(acc[j]+eps)
	}
	for ep := 0; ep < cfg.Epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train mf: epoch %d: %w", ep, err)
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, r := range order {
			ui, ii := int(u[r]), int(it[r])
			pu, qi := m.uv[ui*k:(ui+1)*k], m.iv[ii*k:(ii+1)*k]
			z := m.bias + m.ub[ui] + m.ib[ii]
			for f := range pu {
				z += pu[f] * qi[f]
			}
			e := sigmoid(z) - d.Y[r]
			step(m.ub, gub, ui, e+l2*m.ub[ui])
			step(m.ib, gib, ii, e+l2*m.ib[ii])
			for f := range pu {
				gp, gq := e*qi[f]+l2*pu[f], e*pu[f]+l2*qi[f]
				step(m.uv, guv, ui*k+f, gp)
				step(m.iv, giv, ii*k+f, gq)
			}
		}
	}
	return m, nil
}

// Family implements Model.
func (m *MF) Family() Family { return FamilyMF }

// Schema implements Model.
func (m *MF) Schema() Schema { return m.schema }

// parts returns the bias terms and the interaction for one (user, item) row.
func (m *MF) parts(x []float64) (ub, ib, dot float64) {
	k := m.cfg.Factors
	ui, ii := index(m.users, int64(x[0])), index(m.items, int64(x[1]))
	if ui >= 0 {
		ub = m.ub[ui]
	}
	if ii >= 0 {
		ib = m.ib[ii]
	}
	if ui >= 0 && ii >= 0 {
		pu, qi := m.uv[ui*k:(ui+1)*k], m.iv[ii*k:(ii+1)*k]
		for f := range pu {
			dot += pu[f] * qi[f]
		}
	}
	return ub, ib, dot
}

// Predict implements Model.
func (m *MF) Predict(b Batch, out []float64) error {
	if err := checkBatch(m.schema, b, out); err != nil {
		return err
	}
	for i := range b.Rows() {
		ub, ib, dot := m.parts(b.X[2*i : 2*i+2])
		out[i] = sigmoid(m.bias + ub + ib + dot)
	}
	return nil
}

// Explain implements Model exactly: each side gets its bias and half the interaction.
func (m *MF) Explain(b Batch, row int) (Explanation, error) {
	x, err := checkRow(m.schema, b, row)
	if err != nil {
		return Explanation{}, err
	}
	ub, ib, dot := m.parts(x)
	e := Explanation{Method: MethodInteractionSplit, Bias: m.bias, Logit: m.bias + ub + ib + dot, Contributions: []Contribution{
		{Feature: m.schema.Features[0].Name, Value: ub + dot/2},
		{Feature: m.schema.Features[1].Name, Value: ib + dot/2},
	}}
	e.Probability = sigmoid(e.Logit)
	return e, nil
}

// ItemVectors returns every trained item id with its embedding (a copy), the input of a
// retrieval index: items scored for a user by ⟨UserVector, item vector⟩ + item bias.
func (m *MF) ItemVectors() (ids []int64, vectors [][]float64, biases []float64) {
	k := m.cfg.Factors
	ids = slices.Clone(m.items)
	vectors = make([][]float64, len(ids))
	for i := range ids {
		vectors[i] = slices.Clone(m.iv[i*k : (i+1)*k])
	}
	return ids, vectors, slices.Clone(m.ib)
}

// ItemIndex is the position of an item id in ItemVectors and ScoreAll, or -1 for an id
// not seen in training.
func (m *MF) ItemIndex(id int64) int { return index(m.items, id) }

// ScoreAll writes into dst (grown if short) every trained item's retrieval score for a
// user, item bias + ⟨user vector, item vector⟩, in the order of ItemVectors, and returns
// it. Ranking by it is ranking by Predict for that user, without the global and user
// terms, which are the same for every item. A user not seen in training gets the item
// biases alone (the popularity answer for a model that learned biases).
func (m *MF) ScoreAll(userID int64, dst []float64) []float64 {
	n, k := len(m.items), m.cfg.Factors
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	copy(dst, m.ib)
	u := index(m.users, userID)
	if u < 0 {
		return dst
	}
	pu := m.uv[u*k : (u+1)*k]
	for i := range dst {
		dst[i] += vdot(pu, m.iv[i*k:(i+1)*k])
	}
	return dst
}

// Config is the configuration the model was trained with, Trainer saying by which trainer.
func (m *MF) Config() MFConfig {
	c := m.cfg
	if c.BPR != nil {
		b := *c.BPR
		c.BPR = &b
	}
	if c.IALS != nil {
		a := *c.IALS
		c.IALS = &a
	}
	return c
}

// UserVector returns a user's embedding, or false for an id not seen in training.
func (m *MF) UserVector(id int64) ([]float64, bool) {
	i := index(m.users, id)
	if i < 0 {
		return nil, false
	}
	k := m.cfg.Factors
	return slices.Clone(m.uv[i*k : (i+1)*k]), true
}

type mfBody struct {
	Config MFConfig `json:"config"`
	Bias   float64  `json:"bias"`
	Users  []int64  `json:"users"`
	Items  []int64  `json:"items"`
	// Biases and vectors as little-endian float64 (base64 in JSON).
	UserBias []byte `json:"user_bias"`
	ItemBias []byte `json:"item_bias"`
	UserVec  []byte `json:"user_vectors"`
	ItemVec  []byte `json:"item_vectors"`
}

// MarshalBinary implements Model.
func (m *MF) MarshalBinary() ([]byte, error) {
	return marshal(FamilyMF, m.schema, mfBody{Config: m.cfg, Bias: m.bias, Users: m.users, Items: m.items,
		UserBias: floatsToBytes(m.ub), ItemBias: floatsToBytes(m.ib), UserVec: floatsToBytes(m.uv), ItemVec: floatsToBytes(m.iv)})
}

func decodeMF(s Schema, raw []byte) (*MF, error) {
	if err := checkMFSchema(s); err != nil {
		return nil, err
	}
	var b mfBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	if err := b.Config.Validate(); err != nil {
		return nil, err
	}
	m := &MF{schema: s, cfg: b.Config, bias: b.Bias, users: b.Users, items: b.Items}
	var err error
	for _, p := range []struct {
		dst *[]float64
		src []byte
		n   int
	}{{&m.ub, b.UserBias, len(b.Users)}, {&m.ib, b.ItemBias, len(b.Items)},
		{&m.uv, b.UserVec, len(b.Users) * b.Config.Factors}, {&m.iv, b.ItemVec, len(b.Items) * b.Config.Factors}} {
		if *p.dst, err = bytesToFloats(p.src); err != nil {
			return nil, err
		}
		if len(*p.dst) != p.n {
			return nil, fmt.Errorf("table holds %d values, want %d", len(*p.dst), p.n)
		}
	}
	if !slices.IsSorted(m.users) || !slices.IsSorted(m.items) {
		return nil, fmt.Errorf("id lists are not sorted")
	}
	return m, nil
}
