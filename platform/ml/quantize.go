package ml

import (
	"encoding/json"
	"fmt"
	"math"
)

// FMInt8 is a factorization machine whose weights and embeddings are quantized to int8
// with one symmetric scale per table: 8× less memory (and cache) than float64, at the cost
// of a rounding error of at most scale/2 per parameter. Predictions dequantize on the fly.
type FMInt8 struct {
	schema         Schema
	cfg            FMConfig
	w0             float64
	w, v           []int8
	wScale, vScale float64
	buckets        int
}

var _ Model = (*FMInt8)(nil)

func quantize(vs []float64) ([]int8, float64) {
	mx := 0.0
	for _, v := range vs {
		mx = math.Max(mx, math.Abs(v))
	}
	scale := mx / 127
	if scale == 0 {
		scale = 1
	}
	q := make([]int8, len(vs))
	for i, v := range vs {
		q[i] = int8(math.Max(-127, math.Min(127, math.Round(v/scale))))
	}
	return q, scale
}

// Quantize returns the int8 version of a trained factorization machine.
func (m *FM) Quantize() *FMInt8 {
	q := &FMInt8{schema: m.schema, cfg: m.cfg, w0: m.w0, buckets: m.buckets}
	q.w, q.wScale = quantize(m.w)
	q.v, q.vScale = quantize(m.v)
	return q
}

// Family implements Model.
func (m *FMInt8) Family() Family { return FamilyFMInt8 }

// Schema implements Model.
func (m *FMInt8) Schema() Schema { return m.schema }

func (m *FMInt8) logitEncoded(slots []int32, vals []float64, sum []float64) float64 {
	nf := m.cfg.Factors
	clear(sum)
	z, sq := m.w0, 0.0
	for f, s := range slots {
		x := vals[f]
		z += float64(m.w[s]) * m.wScale * x
		xs := x * m.vScale
		for j, v := range m.v[int(s)*nf : int(s+1)*nf] {
			vx := float64(v) * xs
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

// Predict implements Model.
func (m *FMInt8) Predict(b Batch, out []float64) error {
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

// Explain implements Model with the same exact decomposition as FM, on the dequantized values.
func (m *FMInt8) Explain(b Batch, row int) (Explanation, error) {
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
		c := float64(m.w[s]) * m.wScale * xv
		for j, q := range m.v[int(s)*nf : int(s+1)*nf] {
			v := float64(q) * m.vScale
			c += 0.5 * v * xv * (sum[j] - v*xv)
		}
		e.Contributions = append(e.Contributions, Contribution{Feature: m.schema.Features[f].Name, Value: c})
	}
	return e, nil
}

type fmInt8Body struct {
	Config FMConfig `json:"config"`
	W0     float64  `json:"w0"`
	WScale float64  `json:"w_scale"`
	VScale float64  `json:"v_scale"`
	W      []byte   `json:"w"`
	V      []byte   `json:"v"`
}

func int8sToBytes(q []int8) []byte {
	out := make([]byte, len(q))
	for i, v := range q {
		out[i] = byte(v)
	}
	return out
}

func bytesToInt8s(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}

// MarshalBinary implements Model.
func (m *FMInt8) MarshalBinary() ([]byte, error) {
	return marshal(FamilyFMInt8, m.schema, fmInt8Body{Config: m.cfg, W0: m.w0, WScale: m.wScale, VScale: m.vScale,
		W: int8sToBytes(m.w), V: int8sToBytes(m.v)})
}

func decodeFMInt8(s Schema, raw []byte) (*FMInt8, error) {
	var b fmInt8Body
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	if err := b.Config.Validate(); err != nil {
		return nil, err
	}
	m := &FMInt8{schema: s, cfg: b.Config, w0: b.W0, wScale: b.WScale, vScale: b.VScale, buckets: 1 << b.Config.HashBits,
		w: bytesToInt8s(b.W), v: bytesToInt8s(b.V)}
	nslots := s.Len() + m.buckets
	if len(m.w) != nslots || len(m.v) != nslots*b.Config.Factors {
		return nil, fmt.Errorf("tables hold %d/%d values, want %d/%d", len(m.w), len(m.v), nslots, nslots*b.Config.Factors)
	}
	return m, nil
}

// Dequantize returns the float factorization machine with the int8 model's parameters:
// every rounding error kept, so its predictions are exactly the int8 model's, and it can
// be scored by FMScorer or cached with Partial. This is how a caller measures what the
// quantization costs in quality on a path built for *FM.
func (m *FMInt8) Dequantize() *FM {
	f := &FM{schema: m.schema, cfg: m.cfg, w0: m.w0, buckets: m.buckets, w: make([]float64, len(m.w)), v: make([]float64, len(m.v))}
	for i, q := range m.w {
		f.w[i] = float64(q) * m.wScale
	}
	for i, q := range m.v {
		f.v[i] = float64(q) * m.vScale
	}
	return f
}
