package ml

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	covers []float64 // training rows that reached each node (TreeSHAP); nil in artifacts that predate it
	expect []float64 // per tree: its cover-weighted mean leaf value (TreeSHAP's base)
	depth  int       // the deepest leaf, sizing TreeSHAP's path buffer
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
		m.covers = append(m.covers, gt.cover[i])
	}
}

func (m *GBDT) finish() {
	m.compile()
	if m.covers != nil {
		m.expect = make([]float64, len(m.roots))
		for t, r := range m.roots {
			m.expect[t] = m.expected(r)
			m.depth = max(m.depth, m.nodeDepth(r))
		}
	}
}

func (m *GBDT) nodeDepth(n int32) int {
	if m.nodes[n].feat < 0 {
		return 0
	}
	return 1 + max(m.nodeDepth(m.nodes[n].left), m.nodeDepth(m.nodes[n].left+1))
}

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
	if rows := b.Rows(); m.flat != nil && rows > 1 {
		m.flat.logits(m.base, b.X[:rows*k], k, out[:rows])
		for i := range rows {
			out[i] = sigmoid(out[i])
		}
		return nil
	}
	for i := range b.Rows() {
		out[i] = sigmoid(m.logit(b.X[i*k : (i+1)*k]))
	}
	return nil
}

// Explain implements Model with TreeSHAP (Lundberg, Erion and Lee 2018, the path-dependent
// algorithm): each tree's contributions are its exact Shapley values when the expectation of
// a tree given a subset of features follows the known features and splits the rest by the
// fraction of training rows that went each way (the node covers). The bias is the base score
// plus each tree's cover-weighted mean leaf value, so bias + Σ contributions equals the logit.
// An artifact written before covers were recorded falls back to path attribution (Saabas),
// which sums to the logit too; Explanation.Method says which answered.
func (m *GBDT) Explain(b Batch, row int) (Explanation, error) {
	x, err := checkRow(m.schema, b, row)
	if err != nil {
		return Explanation{}, err
	}
	contrib := make([]float64, m.schema.Len())
	e := Explanation{Bias: m.base, Method: MethodTreeSHAP}
	if m.covers == nil {
		e.Method = MethodSaabas
		for _, r := range m.roots {
			e.Bias += m.values[r]
			m.saabas(r, x, contrib)
		}
	} else {
		// One buffer for every level's path: level d holds at most d+1 elements.
		buf := make([]shapElem, (m.depth+2)*(m.depth+3)/2)
		for t, r := range m.roots {
			e.Bias += m.expect[t]
			m.treeSHAP(r, x, contrib, nil, buf, 1, 1, -1)
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

// saabas credits the change in node value at each split along x's path to the split's feature.
func (m *GBDT) saabas(n int32, x, contrib []float64) {
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

// expected is the cover-weighted mean leaf value under node n: the tree's output when no
// feature is known.
func (m *GBDT) expected(n int32) float64 {
	nd := m.nodes[n]
	if nd.feat < 0 {
		return nd.thr
	}
	l, r := nd.left, nd.left+1
	cl, cr := m.covers[l], m.covers[r]
	if cl+cr == 0 {
		return (m.expected(l) + m.expected(r)) / 2
	}
	return (cl*m.expected(l) + cr*m.expected(r)) / (cl + cr)
}

// shapElem is one feature on the current path: the fraction of "zero" (feature unknown)
// paths and "one" (feature known, following x) paths that flow through, and the
// permutation weight of the subsets of that size.
type shapElem struct {
	feat      int32
	zero, one float64
	w         float64
}

// treeSHAP is Algorithm 2 of the paper. parent is the path of unique features from the
// root to n's parent; this call copies it to the front of buf, extends it by (pz, po, pi)
// and hands the rest of buf to its children, so no call allocates.
func (m *GBDT) treeSHAP(n int32, x, contrib []float64, parent, buf []shapElem, pz, po float64, pi int32) {
	path := buf[:len(parent)]
	copy(path, parent)
	path = shapExtend(path, pz, po, pi)
	rest := buf[len(path):]
	nd := m.nodes[n]
	if nd.feat < 0 {
		for i := 1; i < len(path); i++ {
			contrib[path[i].feat] += shapUnwoundSum(path, i) * (path[i].one - path[i].zero) * nd.thr
		}
		return
	}
	hot, cold := nd.left, nd.left+1
	if x[nd.feat] > nd.thr {
		hot, cold = cold, hot
	}
	iz, io := 1.0, 1.0
	for k := 1; k < len(path); k++ {
		if path[k].feat == nd.feat {
			iz, io = path[k].zero, path[k].one
			path = shapUnwind(path, k)
			break
		}
	}
	fh, fc := 0.5, 0.5 // a node no training row reached (possible only in a hand-made artifact)
	if cover := m.covers[n]; cover > 0 {
		fh, fc = m.covers[hot]/cover, m.covers[cold]/cover
	}
	m.treeSHAP(hot, x, contrib, path, rest, iz*fh, io, nd.feat)
	m.treeSHAP(cold, x, contrib, path, rest, iz*fc, 0, nd.feat)
}

func shapExtend(path []shapElem, pz, po float64, pi int32) []shapElem {
	l := len(path)
	w := 0.0
	if l == 0 {
		w = 1
	}
	path = append(path, shapElem{feat: pi, zero: pz, one: po, w: w})
	for i := l - 1; i >= 0; i-- {
		path[i+1].w += po * path[i].w * float64(i+1) / float64(l+1)
		path[i].w = pz * path[i].w * float64(l-i) / float64(l+1)
	}
	return path
}

// shapUnwind removes element i from path, undoing its shapExtend.
func shapUnwind(path []shapElem, i int) []shapElem {
	l := len(path) - 1
	one, zero := path[i].one, path[i].zero
	n := path[l].w
	for j := l - 1; j >= 0; j-- {
		if one != 0 {
			t := path[j].w
			path[j].w = n * float64(l+1) / (float64(j+1) * one)
			n = t - path[j].w*zero*float64(l-j)/float64(l+1)
		} else {
			path[j].w = path[j].w * float64(l+1) / (zero * float64(l-j))
		}
	}
	for j := i; j < l; j++ {
		path[j].feat, path[j].zero, path[j].one = path[j+1].feat, path[j+1].zero, path[j+1].one
	}
	return path[:l]
}

// shapUnwoundSum is the total weight path would have with element i unwound, without
// modifying it.
func shapUnwoundSum(path []shapElem, i int) float64 {
	l := len(path) - 1
	one, zero := path[i].one, path[i].zero
	total := 0.0
	if one != 0 {
		n := path[l].w
		for j := l - 1; j >= 0; j-- {
			t := n * float64(l+1) / (float64(j+1) * one)
			total += t
			n = path[j].w - t*zero*float64(l-j)/float64(l+1)
		}
	} else {
		for j := l - 1; j >= 0; j-- {
			total += path[j].w * float64(l+1) / (zero * float64(l-j))
		}
	}
	return total
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

// gbdtTree holds one tree's node arrays, little-endian (base64 in JSON): decoding a
// 100-tree model this way is several times faster than parsing decimal numbers, which
// matters when a server reloads its champion.
type gbdtTree struct {
	Feature   []byte `json:"feature"`         // int32 per node
	Threshold []byte `json:"threshold"`       // float64 per node
	Left      []byte `json:"left"`            // int32 per node
	Value     []byte `json:"value"`           // float64 per node
	Cover     []byte `json:"cover,omitempty"` // float64 per node: training rows that reached it
}

func int32sToBytes(vs []int32) []byte {
	out := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
	}
	return out
}

func bytesToInt32s(b []byte) ([]int32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of int32s", len(b))
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
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
	body, err := m.body()
	if err != nil {
		return nil, err
	}
	return marshal(FamilyGBDT, m.schema, json.RawMessage(body))
}

// body is the GBDT artifact's body (also a forest's trees).
func (m *GBDT) body() (json.RawMessage, error) {
	body := gbdtBody{Config: m.cfg, Base: m.base, Gain: m.gain, Splits: m.splits,
		FormatNote: "per tree: feature<0 marks a leaf; x[feature] <= threshold goes to left, else left+1"}
	for t, r := range m.roots {
		end := int32(len(m.nodes))
		if t+1 < len(m.roots) {
			end = m.roots[t+1]
		}
		var feat, left []int32
		var thr, val, cov []float64
		for n := r; n < end; n++ {
			nd := m.nodes[n]
			feat = append(feat, nd.feat)
			val = append(val, m.values[n])
			if m.covers != nil {
				cov = append(cov, m.covers[n])
			}
			if nd.feat >= 0 {
				thr = append(thr, nd.thr)
				left = append(left, nd.left-r)
			} else {
				thr = append(thr, 0)
				left = append(left, -1)
			}
		}
		body.Trees = append(body.Trees, gbdtTree{Feature: int32sToBytes(feat), Threshold: floatsToBytes(thr), Left: int32sToBytes(left), Value: floatsToBytes(val), Cover: floatsToBytes(cov)})
	}
	return json.Marshal(body)
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
	withCover := len(b.Trees) > 0 && len(b.Trees[0].Cover) > 0
	for ti, enc := range b.Trees {
		var tr struct {
			Feature, Left    []int32
			Threshold, Value []float64
		}
		var errs [4]error
		tr.Feature, errs[0] = bytesToInt32s(enc.Feature)
		tr.Left, errs[1] = bytesToInt32s(enc.Left)
		tr.Threshold, errs[2] = bytesToFloats(enc.Threshold)
		tr.Value, errs[3] = bytesToFloats(enc.Value)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("tree %d: %w", ti, err)
		}
		nn := len(tr.Feature)
		if nn == 0 || len(tr.Threshold) != nn || len(tr.Left) != nn || len(tr.Value) != nn {
			return nil, fmt.Errorf("tree %d: ragged node arrays", ti)
		}
		if withCover {
			cov, err := bytesToFloats(enc.Cover)
			if err != nil || len(cov) != nn {
				return nil, fmt.Errorf("tree %d: %d covers for %d nodes (%v)", ti, len(cov), nn, err)
			}
			for _, c := range cov {
				if !(c >= 0) || math.IsInf(c, 0) {
					return nil, fmt.Errorf("tree %d: cover %v is not a finite count", ti, c)
				}
			}
			m.covers = append(m.covers, cov...)
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
