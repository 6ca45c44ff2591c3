package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// GBDTConfig configures gradient-boosted decision trees on log loss.
type GBDTConfig struct {
	// Trees is the number of boosting rounds.
	Trees int
	// MaxDepth bounds every path from root to leaf.
	MaxDepth int
	// MaxLeaves bounds the leaves per tree; trees grow best-gain leaf first.
	MaxLeaves int
	// LearningRate shrinks each tree's contribution.
	LearningRate float64
	// MinChildWeight is the least hessian sum a child may hold.
	MinChildWeight float64
	// L2 regularises leaf values: value = −G / (H + L2).
	L2 float64
	// MinSplitGain is the least loss reduction a split must bring.
	MinSplitGain float64
	// Subsample is the fraction of rows each tree sees (drawn per tree, seeded).
	Subsample float64
	// ColSample is the fraction of features each tree may split on.
	ColSample float64
	// ColSampleNode, when in (0, 1), is the fraction of the tree's features each split
	// chooses among, drawn anew at every leaf (a random forest's max_features); 0 or 1:
	// every feature.
	ColSampleNode float64 `json:"colsample_node,omitempty"`
	// PosWeight, when > 0, multiplies the gradient and hessian of every positive row
	// (XGBoost's scale_pos_weight): > 1 gives the rare class more say in the splits. 0 or
	// 1: unweighted. The base score stays the unweighted log odds.
	PosWeight float64 `json:"pos_weight,omitempty"`
	// MaxBins bounds the histogram bins per feature (≤ 256: bins are uint8).
	MaxBins int
	// Seed makes subsampling reproducible.
	Seed uint64
	// Workers builds histograms on this many goroutines (0 = GOMAXPROCS). Each feature's
	// histogram is summed by one goroutine in row order, so the result does not depend on
	// it, and it is not recorded in the artifact.
	Workers int `json:"-"`
}

// DefaultGBDTConfig is 100 trees of depth 6.
func DefaultGBDTConfig() GBDTConfig {
	return GBDTConfig{
		Trees: 100, MaxDepth: 6, MaxLeaves: 64, LearningRate: 0.1, MinChildWeight: 1,
		L2: 1, Subsample: 0.8, ColSample: 1, MaxBins: 255, Seed: 1,
	}
}

// Validate reports out-of-range settings.
func (c GBDTConfig) Validate() error {
	switch {
	case c.Trees <= 0:
		return configError("gbdt: Trees = %d, want > 0", c.Trees)
	case c.MaxDepth <= 0 || c.MaxDepth > 30:
		return configError("gbdt: MaxDepth = %d, want 1..30", c.MaxDepth)
	case c.MaxLeaves < 2:
		return configError("gbdt: MaxLeaves = %d, want ≥ 2", c.MaxLeaves)
	case !(c.LearningRate > 0 && c.LearningRate <= 1):
		return configError("gbdt: LearningRate = %v, want (0, 1]", c.LearningRate)
	case c.MinChildWeight < 0 || c.L2 < 0 || c.MinSplitGain < 0:
		return configError("gbdt: MinChildWeight, L2, MinSplitGain must be ≥ 0")
	case !(c.Subsample > 0 && c.Subsample <= 1):
		return configError("gbdt: Subsample = %v, want (0, 1]", c.Subsample)
	case !(c.ColSample > 0 && c.ColSample <= 1):
		return configError("gbdt: ColSample = %v, want (0, 1]", c.ColSample)
	case !(c.ColSampleNode >= 0 && c.ColSampleNode <= 1):
		return configError("gbdt: ColSampleNode = %v, want [0, 1]", c.ColSampleNode)
	case !(c.PosWeight >= 0) || math.IsInf(c.PosWeight, 0):
		return configError("gbdt: PosWeight = %v, want ≥ 0", c.PosWeight)
	case c.MaxBins < 2 || c.MaxBins > 256:
		return configError("gbdt: MaxBins = %d, want 2..256", c.MaxBins)
	}
	return nil
}

type gradPair struct{ G, H float64 }

type splitInfo struct {
	gain   float64
	feat   int
	bin    int
	gl, hl float64
}

type growLeaf struct {
	node       int32
	start, end int
	depth      int
	g, h       float64
	hist       []gradPair
	best       splitInfo
}

// growTree is one tree under construction, nodes in parallel slices. Children are
// appended in pairs, so right = left + 1.
type growTree struct {
	feat   []int32
	binThr []uint8
	left   []int32
	value  []float64
	cover  []float64 // training rows that reached the node, for TreeSHAP
}

func (t *growTree) add(v float64, rows int) int32 {
	t.feat = append(t.feat, -1)
	t.binThr = append(t.binThr, 0)
	t.left = append(t.left, -1)
	t.value = append(t.value, v)
	t.cover = append(t.cover, float64(rows))
	return int32(len(t.feat) - 1)
}

type trainer struct {
	cfg    GBDTConfig
	cols   [][]uint8
	offs   []int // histogram offset of each feature
	nbins  []int
	active []int // features this tree may split on
	gh     []gradPair
	ghBuf  []gradPair
	rows   []int32
	tmp    []int32
	pool   [][]gradPair
	gain   []float64
	splits []int
	rng    *rand.Rand // the current tree's, for ColSampleNode
	pick   []int      // the features a split may use (ColSampleNode)
}

// TrainGBDT fits gradient-boosted trees with histogram splits. Work is parallel over
// features (histograms) and fixed row chunks (gradients, scores); the artifact is
// byte-identical for the same data, config and seed.
func TrainGBDT(ctx context.Context, d Dataset, cfg GBDTConfig) (*GBDT, error) {
	if err := d.Validate(true); err != nil {
		return nil, fmt.Errorf("train gbdt: %w", err)
	}
	mean := 0.0
	for _, y := range d.Y {
		mean += y
	}
	n := d.Rows()
	pw := cfg.PosWeight
	if pw == 0 {
		pw = 1
	}
	return trainGBDT(ctx, d, cfg, logit(mean/float64(n)), func(scores []float64, gh []gradPair) {
		forChunks(n, cfg.Workers, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				p := sigmoid(scores[i])
				w := 1.0
				if d.Y[i] > 0.5 {
					w = pw
				}
				gh[i] = gradPair{G: w * (p - d.Y[i]), H: w * math.Max(p*(1-p), 1e-16)}
			}
		})
	})
}

// gradients fills gh (one pair per row) from the current scores.
type gradients func(scores []float64, gh []gradPair)

func trainGBDT(ctx context.Context, d Dataset, cfg GBDTConfig, base float64, grad gradients) (*GBDT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	k, n := d.Schema.Len(), d.Rows()
	cuts := fitCuts(d, cfg.MaxBins, cfg.Seed, cfg.Workers)
	tr := &trainer{cfg: cfg, cols: binColumns(d, cuts, cfg.Workers), offs: make([]int, k+1), nbins: make([]int, k),
		gh: make([]gradPair, n), ghBuf: make([]gradPair, n), rows: make([]int32, 0, n), tmp: make([]int32, n),
		gain: make([]float64, k), splits: make([]int, k)}
	for f := 0; f < k; f++ {
		tr.nbins[f] = len(cuts[f]) + 1
		tr.offs[f+1] = tr.offs[f] + tr.nbins[f]
	}
	scores := make([]float64, n)
	for i := range scores {
		scores[i] = base
	}
	m := &GBDT{schema: d.Schema, base: base, cfg: cfg}
	for t := 0; t < cfg.Trees; t++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train gbdt: tree %d: %w", t, err)
		}
		grad(scores, tr.gh)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(t)+1))
		tr.sample(rng, n)
		gt := tr.grow()
		// Update every row's score (sampled or not) by walking the binned tree.
		forChunks(n, cfg.Workers, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				nd := int32(0)
				for gt.feat[nd] >= 0 {
					if tr.cols[gt.feat[nd]][i] <= gt.binThr[nd] {
						nd = gt.left[nd]
					} else {
						nd = gt.left[nd] + 1
					}
				}
				scores[i] += gt.value[nd]
			}
		})
		m.appendTree(gt, cuts)
	}
	m.gain, m.splits = tr.gain, tr.splits
	m.finish()
	return m, nil
}

func (tr *trainer) sample(rng *rand.Rand, n int) {
	tr.rng = rng
	tr.rows = tr.rows[:0]
	for i := 0; i < n; i++ {
		if tr.cfg.Subsample >= 1 || rng.Float64() < tr.cfg.Subsample {
			tr.rows = append(tr.rows, int32(i))
		}
	}
	k := len(tr.cols)
	tr.active = tr.active[:0]
	if tr.cfg.ColSample >= 1 {
		for f := 0; f < k; f++ {
			tr.active = append(tr.active, f)
		}
		return
	}
	perm := rng.Perm(k)
	m := max(1, int(math.Round(tr.cfg.ColSample*float64(k))))
	tr.active = append(tr.active, perm[:m]...)
	slices.Sort(tr.active)
}

func (tr *trainer) newHist() []gradPair {
	if len(tr.pool) > 0 {
		h := tr.pool[len(tr.pool)-1]
		tr.pool = tr.pool[:len(tr.pool)-1]
		return h
	}
	return make([]gradPair, tr.offs[len(tr.offs)-1])
}

// buildHist sums gradients per bin over rows[start:end], one goroutine per feature.
func (tr *trainer) buildHist(h []gradPair, start, end int) {
	rows := tr.rows[start:end]
	buf := tr.ghBuf[:len(rows)]
	for i, r := range rows {
		buf[i] = tr.gh[r]
	}
	w := tr.cfg.Workers
	if len(rows)*len(tr.active) < 50_000 {
		w = 1
	}
	forEach(len(tr.active), w, func(i int) {
		f := tr.active[i]
		hf := h[tr.offs[f]:tr.offs[f+1]]
		clear(hf)
		col := tr.cols[f]
		for j, r := range rows {
			b := &hf[col[r]]
			b.G += buf[j].G
			b.H += buf[j].H
		}
	})
}

func (tr *trainer) score(g, h float64) float64 { return g * g / (h + tr.cfg.L2) }

func (tr *trainer) findSplit(l *growLeaf) {
	l.best = splitInfo{feat: -1}
	if l.depth >= tr.cfg.MaxDepth || l.h < 2*tr.cfg.MinChildWeight {
		return
	}
	parent := tr.score(l.g, l.h)
	feats := tr.active
	if c := tr.cfg.ColSampleNode; c > 0 && c < 1 && len(feats) > 1 {
		// A partial Fisher-Yates shuffle draws m of the tree's features for this split.
		m := max(1, int(math.Round(c*float64(len(feats)))))
		tr.pick = append(tr.pick[:0], feats...)
		for i := range m {
			j := i + tr.rng.IntN(len(tr.pick)-i)
			tr.pick[i], tr.pick[j] = tr.pick[j], tr.pick[i]
		}
		feats = tr.pick[:m]
	}
	for _, f := range feats {
		hf := l.hist[tr.offs[f]:tr.offs[f+1]]
		var gl, hl float64
		for b := 0; b+1 < len(hf); b++ {
			gl += hf[b].G
			hl += hf[b].H
			if hl < tr.cfg.MinChildWeight {
				continue
			}
			hr := l.h - hl
			if hr < tr.cfg.MinChildWeight {
				break
			}
			gain := tr.score(gl, hl) + tr.score(l.g-gl, hr) - parent
			if gain > l.best.gain && gain > tr.cfg.MinSplitGain {
				l.best = splitInfo{gain: gain, feat: f, bin: b, gl: gl, hl: hl}
			}
		}
	}
}

func (tr *trainer) leafValue(g, h float64) float64 { return -g / (h + tr.cfg.L2) * tr.cfg.LearningRate }

func (tr *trainer) grow() *growTree {
	gt := &growTree{}
	root := &growLeaf{start: 0, end: len(tr.rows), hist: tr.newHist()}
	tr.buildHist(root.hist, 0, len(tr.rows))
	f0 := tr.active[0]
	for _, b := range root.hist[tr.offs[f0]:tr.offs[f0+1]] {
		root.g += b.G
		root.h += b.H
	}
	root.node = gt.add(tr.leafValue(root.g, root.h), len(tr.rows))
	tr.findSplit(root)
	leaves := []*growLeaf{root}
	for len(leaves) < tr.cfg.MaxLeaves {
		bi := -1
		for i, l := range leaves {
			if l.best.feat >= 0 && (bi < 0 || l.best.gain > leaves[bi].best.gain) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		p := leaves[bi]
		s := p.best
		// Stable partition of the parent's rows: left first, then right.
		col := tr.cols[s.feat]
		rows := tr.rows[p.start:p.end]
		nl, nr := 0, 0
		for _, r := range rows {
			if int(col[r]) <= s.bin {
				rows[nl] = r
				nl++
			} else {
				tr.tmp[nr] = r
				nr++
			}
		}
		copy(rows[nl:], tr.tmp[:nr])

		ln := gt.add(tr.leafValue(s.gl, s.hl), nl)
		rn := gt.add(tr.leafValue(p.g-s.gl, p.h-s.hl), nr)
		gt.feat[p.node], gt.binThr[p.node], gt.left[p.node] = int32(s.feat), uint8(s.bin), ln
		_ = rn
		tr.gain[s.feat] += s.gain
		tr.splits[s.feat]++

		left := &growLeaf{node: ln, start: p.start, end: p.start + nl, depth: p.depth + 1, g: s.gl, h: s.hl}
		right := &growLeaf{node: rn, start: p.start + nl, end: p.end, depth: p.depth + 1, g: p.g - s.gl, h: p.h - s.hl}
		small, large := left, right
		if nl > nr {
			small, large = right, left
		}
		small.hist = tr.newHist()
		tr.buildHist(small.hist, small.start, small.end)
		large.hist = p.hist // subtraction trick: large = parent − small
		for _, f := range tr.active {
			for b := tr.offs[f]; b < tr.offs[f+1]; b++ {
				large.hist[b].G -= small.hist[b].G
				large.hist[b].H -= small.hist[b].H
			}
		}
		tr.findSplit(left)
		tr.findSplit(right)
		leaves[bi] = left
		leaves = append(leaves, right)
	}
	for _, l := range leaves {
		tr.pool = append(tr.pool, l.hist)
	}
	return gt
}
