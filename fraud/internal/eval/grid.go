package eval

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/casebook-ml/casebook/platform/ml"
)

// GBDTCandidate trains boosted trees with c, named name.
func GBDTCandidate(name string, c ml.GBDTConfig) Candidate {
	return Candidate{Name: name, Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainGBDT(ctx, d, c)
	}}
}

// ForestCandidate trains a random forest with c, named name.
func ForestCandidate(name string, c ml.ForestConfig) Candidate {
	return Candidate{Name: name, Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainForest(ctx, d, c)
	}}
}

// LogRegCandidate is logistic regression with the default configuration.
func LogRegCandidate() Candidate {
	return Candidate{Name: "logreg", Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	}}
}

// GBDTGrid is the boosted trees' search space: number of trees, depth, learning rate and
// the weight of the positive class (XGBoost's scale_pos_weight).
type GBDTGrid struct {
	Trees, Depths []int
	Rates         []float64
	PosWeights    []float64
}

// ForestGrid is the random forest's: number of trees, depth, the fraction of features each
// split draws, the least rows per leaf and the weight of the positive class.
type ForestGrid struct {
	Trees, Depths []int
	MaxFeatures   []float64
	MinLeaf       []float64
	PosWeights    []float64
}

// Candidates are every combination of the grid, named gbdt_t<trees>_d<depth>_lr<rate>_w<weight>.
func (g GBDTGrid) Candidates() []Candidate {
	var out []Candidate
	for _, n := range g.Trees {
		for _, d := range g.Depths {
			for _, lr := range g.Rates {
				for _, w := range g.PosWeights {
					c := ml.DefaultGBDTConfig()
					c.Trees, c.MaxDepth, c.MaxLeaves, c.LearningRate, c.PosWeight = n, d, 1<<d, lr, w
					out = append(out, GBDTCandidate(fmt.Sprintf("gbdt_t%d_d%d_lr%s_w%s", n, d, num(lr), num(w)), c))
				}
			}
		}
	}
	return out
}

// Candidates are every combination of the grid, named rf_t<trees>_d<depth>_f<features>_l<leaf>_w<weight>.
func (g ForestGrid) Candidates() []Candidate {
	var out []Candidate
	for _, n := range g.Trees {
		for _, d := range g.Depths {
			for _, f := range g.MaxFeatures {
				for _, l := range g.MinLeaf {
					for _, w := range g.PosWeights {
						c := ml.DefaultForestConfig()
						c.Trees, c.MaxDepth, c.MaxLeaves, c.MaxFeatures, c.MinLeaf, c.PosWeight = n, d, 1<<min(d, 16), f, l, w
						out = append(out, ForestCandidate(fmt.Sprintf("rf_t%d_d%d_f%s_l%s_w%s", n, d, num(f), num(l), num(w)), c))
					}
				}
			}
		}
	}
	return out
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Grids are the named candidate sets of fraud eval --grid.
var Grids = map[string]func() []Candidate{
	// default: logistic regression and two boosted-tree depths, quick enough for the demo.
	"default": DefaultCandidates,
	// small: the default and one random forest.
	"small": func() []Candidate {
		return append(DefaultCandidates(), ForestGrid{Trees: []int{100}, Depths: []int{10}, MaxFeatures: []float64{0.33}, MinLeaf: []float64{1}, PosWeights: []float64{1}}.Candidates()...)
	},
	// full: the model selection the handbook runs, over boosted trees and random forests.
	"full": FullGrid,
}

// GridNames lists Grids' keys, sorted.
func GridNames() string {
	var n []string
	for k := range Grids {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// FullGrid is logistic regression, 24 boosted-tree and 8 random-forest configurations.
func FullGrid() []Candidate {
	out := []Candidate{LogRegCandidate()}
	out = append(out, GBDTGrid{Trees: []int{100, 300}, Depths: []int{3, 4, 6}, Rates: []float64{0.05, 0.1}, PosWeights: []float64{1, 5}}.Candidates()...)
	out = append(out, ForestGrid{Trees: []int{100}, Depths: []int{8, 16}, MaxFeatures: []float64{0.33, 0.66}, MinLeaf: []float64{5}, PosWeights: []float64{1, 5}}.Candidates()...)
	return out
}
