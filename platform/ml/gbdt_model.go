package ml

import (
	"encoding/json"
	"fmt"
	"slices"
)

// pnode is one node of the flattened ensemble. An internal node sends x to left when
// x[feat] ≤ thr and to left+1 otherwise; a leaf has feat = −1 and carries its value in thr.
// 16 bytes, so four nodes share a cache line.
type pnode struct {
	thr  float64
	feat int32
	left int32
}

// GBDT is a gradient-boosted tree ensemble, predicted from one flat node array.
type GBDT struct {
	schema Schema
	cfg    GBDTConfig
	base   float64
	nodes  []pnode
	values []float64 // every node's value (leaf or not), for path explanations
	roots  []int32
	gain   []float64
	splits []int
	flat   *perfectForest // nil when too deep for the perfect layout
}

var _ Model = (*GBDT)(nil)

func (m *GBDT) appendTree(gt *growTree, cuts [][]float64) {
	off := int32(len(m.nodes))
	m.roots = append(m.roots, off)
	for i := range gt.feat {
		nd := pnode{feat: gt.feat[i], left: -1}
		if nd.feat >= 0 {
			nd.thr = cuts[nd.feat][gt.binThr[i]]
			nd.left = gt.left[i] + off
		} else {
			nd.thr = gt.value[i]
		}
		m.nodes = append(m.nodes, nd)
		m.values = append(m.values, gt.value[i])
	}
}

func (m *GBDT) finish() { m.compile() }

// Family implements Model.
func (m *GBDT) Family() Family { return FamilyGBDT }

// Schema implements Model.
func (m *GBDT) Schema() Schema { return m.schema }

// Trees is the number of trees.
func (m *GBDT) Trees() int { return len(m.roots) }

// Config is the configuration the model was trained with.
func (m *GBDT) Config() GBDTConfig { return m.cfg }

func (m *GBDT) logit(x []float64) float64 {
	if m.flat != nil {
		return m.flat.logit(m.base, x)
	}
	s := m.base
	nodes := m.nodes
	for _, r := range m.roots {
		n := r
		for {
			nd := &nodes[n]
			if nd.feat < 0 {
				s += nd.thr
				break
			}
			if x[nd.feat] <= nd.thr {
				n = nd.left
			} else {
				n = nd.left + 1
			}
		}
	}
	return s
}

// Predict implements Model.
func (m *GBDT) Predict(b Batch, out []float64) error {
	if err := checkBatch(m.schema, b, out); err != nil {
		return err
	}
	k := m.schema.Len()
	for i := range b.Rows() {
		out[i] = sigmoid(m.logit(b.X[i*k : (i+1)*k]))
	}
	return nil
}

// Explain implements Model with path attributions (Saabas): along each tree's decision
// path, the change in node value at a split is credited to the split's feature. The bias is
// the base score plus every root's value; bias + Σ contributions equals the logit exactly.
func (m *GBDT) Explain(b Batch, row int) (Explanation, error) {
	x, err := checkRow(m.schema, b, row)
	if err != nil {
		return Explanation{}, err
	}
	contrib := make([]float64, m.schema.Len())
	e := Explanation{Bias: m.base}
	for _, r := range m.roots {
		n := r
		e.Bias += m.values[n]
		for m.nodes[n].feat >= 0 {
			nd := m.nodes[n]
			next := nd.left
			if x[nd.feat] > nd.thr {
				next++
			}
			contrib[nd.feat] += m.values[next] - m.values[n]
			n = next
		}
	}
	e.Logit = e.Bias
	for j, c := range contrib {
		e.Contributions = append(e.Contributions, Contribution{Feature: m.schema.Features[j].Name, Value: c})
		e.Logit += c
	}
	e.Probability = sigmoid(e.Logit)
	return e, nil
}

// FeatureImportance is one feature's total split gain and split count over the ensemble.
type FeatureImportance struct {
	Feature string  `json:"feature"`
	Gain    float64 `json:"gain"`
	Splits  int     `json:"splits"`
}

// Importance returns every feature's importance, highest total gain first.
func (m *GBDT) Importance() []FeatureImportance {
	out := make([]FeatureImportance, m.schema.Len())
	for j, f := range m.schema.Features {
		out[j] = FeatureImportance{Feature: f.Name, Gain: m.gain[j], Splits: m.splits[j]}
	}
	slices.SortStableFunc(out, func(a, b FeatureImportance) int {
		switch {
		case a.Gain > b.Gain:
			return -1
		case a.Gain < b.Gain:
			return 1
		}
		return 0
	})
	return out
}

type gbdtTree struct {
	Feature   []int32   `json:"feature"`
	Threshold []float64 `json:"threshold"`
	Left      []int32   `json:"left"`
	Value     []float64 `json:"value"`
}

type gbdtBody struct {
	Config     GBDTConfig `json:"config"`
	Base       float64    `json:"base"`
	Trees      []gbdtTree `json:"trees"`
	Gain       []float64  `json:"importance_gain"`
	Splits     []int      `json:"importance_splits"`
	FormatNote string     `json:"layout"`
}

// MarshalBinary implements Model. Each tree is stored with tree-local node indexes.
func (m *GBDT) MarshalBinary() ([]byte, error) {
	body := gbdtBody{Config: m.cfg, Base: m.base, Gain: m.gain, Splits: m.splits,
		FormatNote: "per tree: feature<0 marks a leaf; x[feature] <= threshold goes to left, else left+1"}
	for t, r := range m.roots {
		end := int32(len(m.nodes))
		if t+1 < len(m.roots) {
			end = m.roots[t+1]
		}
		var tr gbdtTree
		for n := r; n < end; n++ {
			nd := m.nodes[n]
			tr.Feature = append(tr.Feature, nd.feat)
			tr.Value = append(tr.Value, m.values[n])
			if nd.feat >= 0 {
				tr.Threshold = append(tr.Threshold, nd.thr)
				tr.Left = append(tr.Left, nd.left-r)
			} else {
				tr.Threshold = append(tr.Threshold, 0)
				tr.Left = append(tr.Left, -1)
			}
		}
		body.Trees = append(body.Trees, tr)
	}
	return marshal(FamilyGBDT, m.schema, body)
}

func decodeGBDT(s Schema, raw []byte) (*GBDT, error) {
	var b gbdtBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	k := s.Len()
	if len(b.Gain) != k || len(b.Splits) != k {
		return nil, fmt.Errorf("importance has %d/%d entries for %d features", len(b.Gain), len(b.Splits), k)
	}
	m := &GBDT{schema: s, cfg: b.Config, base: b.Base, gain: b.Gain, splits: b.Splits}
	for ti, tr := range b.Trees {
		nn := len(tr.Feature)
		if nn == 0 || len(tr.Threshold) != nn || len(tr.Left) != nn || len(tr.Value) != nn {
			return nil, fmt.Errorf("tree %d: ragged node arrays", ti)
		}
		off := int32(len(m.nodes))
		m.roots = append(m.roots, off)
		for i := 0; i < nn; i++ {
			nd := pnode{feat: tr.Feature[i], left: -1}
			if nd.feat >= 0 {
				if int(nd.feat) >= k || tr.Left[i] <= int32(i) || int(tr.Left[i])+1 >= nn {
					return nil, fmt.Errorf("tree %d node %d: bad feature or child", ti, i)
				}
				nd.thr, nd.left = tr.Threshold[i], tr.Left[i]+off
			} else {
				nd.thr = tr.Value[i]
			}
			m.nodes = append(m.nodes, nd)
			m.values = append(m.values, tr.Value[i])
		}
	}
	m.finish()
	return m, nil
}
