package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
)

// FamilyForest is a random forest of classification trees.
const FamilyForest Family = "forest"

// ForestConfig configures a random forest (Breiman 2001): every tree is grown on a
// bootstrap sample of the rows and chooses each split among a random subset of the
// features; the prediction is the mean of the trees' leaf fractions of positives.
type ForestConfig struct {
	Trees int
	// MaxDepth and MaxLeaves bound every tree (leaves grow best-gain first).
	MaxDepth, MaxLeaves int
	// MinLeaf is the least number of (bootstrap-weighted) rows a leaf may hold.
	MinLeaf float64
	// MaxFeatures is the fraction of the features each split chooses among (0 < f ≤ 1;
	// scikit-learn's "sqrt" on 15 features is about 0.27).
	MaxFeatures float64
	// PosWeight, when > 0, counts every positive row that many times in the splits and
	// leaves (scikit-learn's class_weight); leaf values are then weighted fractions,
	// still ordered like the unweighted ones' odds. 0 or 1: unweighted.
	PosWeight float64
	MaxBins   int
	Seed      uint64
	Workers   int `json:"-"`
}

// DefaultForestConfig is 100 trees of depth 10 choosing each split among a third of the
// features.
func DefaultForestConfig() ForestConfig {
	return ForestConfig{Trees: 100, MaxDepth: 10, MaxLeaves: 1 << 10, MinLeaf: 1, MaxFeatures: 0.33, MaxBins: 255, Seed: 1}
}

// gbdt is the tree grower's configuration that grows the forest's trees: squared loss on
// the label with gradient −w·y and hessian w (w the row's bootstrap count times its class
// weight), no L2, so a leaf's value is its weighted fraction of positives; the learning
// rate 1/Trees makes the ensemble's sum the mean over trees.
func (c ForestConfig) gbdt() GBDTConfig {
	return GBDTConfig{Trees: c.Trees, MaxDepth: c.MaxDepth, MaxLeaves: c.MaxLeaves, LearningRate: 1 / float64(max(c.Trees, 1)),
		MinChildWeight: c.MinLeaf, Subsample: 1, ColSample: 1, ColSampleNode: c.MaxFeatures, PosWeight: c.PosWeight,
		MaxBins: c.MaxBins, Seed: c.Seed, Workers: c.Workers}
}

// Validate reports out-of-range settings.
func (c ForestConfig) Validate() error {
	switch {
	case c.Trees <= 0:
		return configError("forest: Trees = %d, want > 0", c.Trees)
	case !(c.MaxFeatures > 0 && c.MaxFeatures <= 1):
		return configError("forest: MaxFeatures = %v, want (0, 1]", c.MaxFeatures)
	case !(c.MinLeaf >= 0):
		return configError("forest: MinLeaf = %v, want ≥ 0", c.MinLeaf)
	}
	if err := c.gbdt().Validate(); err != nil {
		return fmt.Errorf("forest: %w", err)
	}
	return nil
}

// Forest is a random forest. It is stored and predicted as a tree ensemble (the same
// nodes, flat layout and TreeSHAP as GBDT) whose output is the sum of its leaves, with no
// logistic link: each leaf already holds a fraction of positives divided by the number of
// trees.
type Forest struct {
	trees *GBDT
	cfg   ForestConfig
}

var _ Model = (*Forest)(nil)

// TrainForest fits a random forest. Each tree's bootstrap sample is drawn as a
// Poisson(1) count per row (seeded per tree), the usual stand-in for n draws with
// replacement; rows drawn zero times weigh nothing in that tree.
func TrainForest(ctx context.Context, d Dataset, cfg ForestConfig) (*Forest, error) {
	if err := d.Validate(true); err != nil {
		return nil, fmt.Errorf("train forest: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pw := cfg.PosWeight
	if pw == 0 {
		pw = 1
	}
	tree := 0
	counts := make([]float64, d.Rows())
	g, err := trainGBDT(ctx, d, cfg.gbdt(), 0, func(_ []float64, gh []gradPair) {
		// One call per tree, in order: draw that tree's bootstrap counts.
		rng := rand.New(rand.NewPCG(cfg.Seed^0x9e3779b97f4a7c15, uint64(tree)+1))
		tree++
		poisson1(rng, counts)
		for i, c := range counts {
			w := c
			if d.Y[i] > 0.5 {
				w *= pw
			}
			gh[i] = gradPair{G: -w * d.Y[i], H: w}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("train forest: %w", err)
	}
	return &Forest{trees: g, cfg: cfg}, nil
}

// poisson1 fills out with Poisson(1) draws by inversion.
func poisson1(rng *rand.Rand, out []float64) {
	for i := range out {
		u, k, p := rng.Float64(), 0.0, math.Exp(-1)
		cum := p
		for u > cum && k < 20 {
			k++
			p /= k
			cum += p
		}
		out[i] = k
	}
}

// Family implements Model.
func (m *Forest) Family() Family { return FamilyForest }

// Schema implements Model.
func (m *Forest) Schema() Schema { return m.trees.schema }

// Trees is the number of trees.
func (m *Forest) Trees() int { return m.trees.Trees() }

// Config is the configuration the forest was trained with.
func (m *Forest) Config() ForestConfig { return m.cfg }

// Predict implements Model: the mean over trees of the leaf's fraction of positives.
func (m *Forest) Predict(b Batch, out []float64) error {
	if err := checkBatch(m.trees.schema, b, out); err != nil {
		return err
	}
	g, k := m.trees, m.trees.schema.Len()
	rows := b.Rows()
	if g.flat != nil && rows > 1 {
		g.flat.logits(g.base, b.X[:rows*k], k, out[:rows])
		return nil
	}
	for i := range rows {
		out[i] = g.logit(b.X[i*k : (i+1)*k])
	}
	return nil
}

// Explain implements Model with TreeSHAP over the trees' sum: bias + Σ contributions is
// the prediction itself (no link), reported as both Logit and Probability.
func (m *Forest) Explain(b Batch, row int) (Explanation, error) {
	e, err := m.trees.Explain(b, row)
	if err != nil {
		return e, err
	}
	e.Probability = e.Logit
	return e, nil
}

// Importance implements Model (the GBDT's split gain and counts).
func (m *Forest) Importance() []FeatureImportance { return m.trees.Importance() }

type forestBody struct {
	Config ForestConfig    `json:"forest"`
	Trees  json.RawMessage `json:"trees"`
}

// MarshalBinary implements Model: the forest's configuration and its trees in the GBDT
// body layout.
func (m *Forest) MarshalBinary() ([]byte, error) {
	body, err := m.trees.body()
	if err != nil {
		return nil, err
	}
	return marshal(FamilyForest, m.trees.schema, forestBody{Config: m.cfg, Trees: body})
}

func decodeForest(s Schema, raw []byte) (*Forest, error) {
	var b forestBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	g, err := decodeGBDT(s, b.Trees)
	if err != nil {
		return nil, err
	}
	if g.base != 0 {
		return nil, fmt.Errorf("forest: base %v, want 0", g.base)
	}
	return &Forest{trees: g, cfg: b.Config}, nil
}
