package ml

import "math"

// maxPerfectDepth bounds the depth for which trees are laid out as perfect binary arrays;
// deeper ensembles predict by walking the node array instead.
const maxPerfectDepth = 10

// perfectForest stores every tree as a complete binary tree of the ensemble's maximum
// depth D, in heap order: node i has children 2i+1 and 2i+2. A leaf shallower than D
// becomes pass-through nodes (threshold +Inf, always left) above copies of its value. Every
// prediction then takes exactly D steps per tree, with no leaf test and a branch-free child
// choice, so the CPU can overlap the trees' independent load chains.
type perfectForest struct {
	depth    int
	internal int // 2^D − 1 per tree
	feat     []int32
	thr      []float64
	leaf     []float64 // 2^D per tree
}

func (m *GBDT) treeDepth(n int32) int {
	nd := m.nodes[n]
	if nd.feat < 0 {
		return 0
	}
	return 1 + max(m.treeDepth(nd.left), m.treeDepth(nd.left+1))
}

// compile builds the perfect layout, or leaves m.flat nil when a tree is too deep.
func (m *GBDT) compile() {
	m.flat = nil
	d := 0
	for _, r := range m.roots {
		d = max(d, m.treeDepth(r))
	}
	if d > maxPerfectDepth {
		return
	}
	f := &perfectForest{depth: d, internal: 1<<d - 1}
	nt := len(m.roots)
	f.feat = make([]int32, nt*f.internal)
	f.thr = make([]float64, nt*f.internal)
	f.leaf = make([]float64, nt*(1<<d))
	for t, r := range m.roots {
		feat := f.feat[t*f.internal : (t+1)*f.internal]
		thr := f.thr[t*f.internal : (t+1)*f.internal]
		leaf := f.leaf[t*(1<<d) : (t+1)*(1<<d)]
		var fill func(n int32, pos int, leafValue float64, isLeaf bool)
		fill = func(n int32, pos int, leafValue float64, isLeaf bool) {
			if pos >= f.internal {
				if !isLeaf {
					leafValue = m.nodes[n].thr
				}
				leaf[pos-f.internal] = leafValue
				return
			}
			if !isLeaf && m.nodes[n].feat < 0 {
				isLeaf, leafValue = true, m.nodes[n].thr
			}
			if isLeaf {
				feat[pos], thr[pos] = 0, math.Inf(1)
				fill(n, 2*pos+1, leafValue, true)
				fill(n, 2*pos+2, leafValue, true)
				return
			}
			nd := m.nodes[n]
			feat[pos], thr[pos] = nd.feat, nd.thr
			fill(nd.left, 2*pos+1, 0, false)
			fill(nd.left+1, 2*pos+2, 0, false)
		}
		fill(r, 0, 0, false)
	}
	m.flat = f
}

func (f *perfectForest) logit(base float64, x []float64) float64 {
	s := base
	nl := f.internal + 1
	nt := len(f.leaf) / nl
	for t := 0; t < nt; t++ {
		feat := f.feat[t*f.internal : (t+1)*f.internal]
		thr := f.thr[t*f.internal : (t+1)*f.internal]
		i := 0
		for d := 0; d < f.depth; d++ {
			// x > thr exactly when thr − x is negative; its sign bit picks the right child
			// without a branch (thr − x is +0 when equal, +Inf for pass-through nodes).
			i = 2*i + 1 + int(math.Float64bits(thr[i]-x[feat[i]])>>63)
		}
		s += f.leaf[t*nl+i-f.internal]
	}
	return s
}

// logitBlock is how many rows logits walks through one tree together.
const logitBlock = 16

// logits scores many rows tree-major: a block of rows walks one tree before the next, so
// the tree's nodes stay in L1 and the rows' independent paths overlap in the CPU, where
// logit walks all trees for one row (each tree's nodes fetched again per row). Each row still
// adds the trees in order, so the results equal logit's bit for bit (a test checks).
func (f *perfectForest) logits(base float64, xs []float64, k int, out []float64) {
	nl := f.internal + 1
	nt := len(f.leaf) / nl
	var idx [logitBlock]int
	var s [logitBlock]float64
	for lo := 0; lo < len(out); lo += logitBlock {
		n := min(logitBlock, len(out)-lo)
		rows := xs[lo*k : (lo+n)*k]
		for r := range n {
			s[r] = base
		}
		for t := 0; t < nt; t++ {
			feat := f.feat[t*f.internal : (t+1)*f.internal]
			thr := f.thr[t*f.internal : (t+1)*f.internal]
			for r := range n {
				idx[r] = 0
			}
			for d := 0; d < f.depth; d++ {
				for r := range n {
					i := idx[r]
					idx[r] = 2*i + 1 + int(math.Float64bits(thr[i]-rows[r*k+int(feat[i])])>>63)
				}
			}
			leaf := f.leaf[t*nl : (t+1)*nl]
			for r := range n {
				s[r] += leaf[idx[r]-f.internal]
			}
		}
		copy(out[lo:lo+n], s[:n])
	}
}
