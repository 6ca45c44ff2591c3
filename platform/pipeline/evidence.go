package pipeline

import (
	"fmt"
	"math"
	"strconv"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// DefaultImportanceRows is how many holdout rows the global importance explains.
const DefaultImportanceRows = 500

// Slice cuts rows into segments by one feature: Cuts c1 < c2 < … make the bands
// "f < c1", "c1 ≤ f < c2", …, "f ≥ ck"; a 0/1 flag is Cuts {0.5}. Labels, when set, name
// the bands in order (len(Cuts)+1 of them).
type Slice struct {
	Name    string
	Feature string
	Cuts    []float64
	Labels  []string
}

func (s Slice) validate(schema ml.Schema) (int, error) {
	j := schema.Index(s.Feature)
	switch {
	case s.Name == "":
		return 0, fmt.Errorf("pipeline: slice on %q has no name", s.Feature)
	case j < 0:
		return 0, fmt.Errorf("pipeline: slice %s: no feature %q in the schema", s.Name, s.Feature)
	case len(s.Cuts) == 0:
		return 0, fmt.Errorf("pipeline: slice %s: no cuts", s.Name)
	case len(s.Labels) != 0 && len(s.Labels) != len(s.Cuts)+1:
		return 0, fmt.Errorf("pipeline: slice %s: %d labels for %d bands", s.Name, len(s.Labels), len(s.Cuts)+1)
	}
	for i := 1; i < len(s.Cuts); i++ {
		if !(s.Cuts[i] > s.Cuts[i-1]) {
			return 0, fmt.Errorf("pipeline: slice %s: cuts must increase", s.Name)
		}
	}
	return j, nil
}

func (s Slice) label(band int) string {
	if len(s.Labels) > 0 {
		return s.Labels[band]
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case band == 0:
		return s.Feature + " < " + f(s.Cuts[0])
	case band == len(s.Cuts):
		return s.Feature + " ≥ " + f(s.Cuts[band-1])
	}
	return f(s.Cuts[band-1]) + " ≤ " + s.Feature + " < " + f(s.Cuts[band])
}

// EvaluateSlices evaluates m on each segment of d for every slice, bands in order; a
// segment with no rows is left out, and undefined metrics (an AUC on one class) are
// dropped as for the whole set.
func EvaluateSlices(m ml.Model, d ml.Dataset, slices []Slice) ([]registry.SliceMetrics, error) {
	var out []registry.SliceMetrics
	for _, s := range slices {
		j, err := s.validate(d.Schema)
		if err != nil {
			return nil, err
		}
		bands := make([][]int, len(s.Cuts)+1)
		for i := range d.Rows() {
			v, b := d.Row(i)[j], 0
			for b < len(s.Cuts) && v >= s.Cuts[b] {
				b++
			}
			bands[b] = append(bands[b], i)
		}
		for b, rows := range bands {
			if len(rows) == 0 {
				continue
			}
			sub := d.Subset(rows)
			ms, err := ml.Evaluate(m, sub)
			if err != nil {
				return nil, fmt.Errorf("slice %s band %s: %w", s.Name, s.label(b), err)
			}
			pos := 0
			for _, y := range sub.Y {
				if y >= 0.5 {
					pos++
				}
			}
			out = append(out, registry.SliceMetrics{Slice: s.Name, Segment: s.label(b), Rows: len(rows), Positives: pos, Metrics: finiteMetrics(ms)})
		}
	}
	return out, nil
}

// GlobalImportance is the mean |contribution| of each feature over the first n rows of d
// (all of them if fewer), from the model's own per-prediction explanations.
func GlobalImportance(m ml.Model, d ml.Dataset, set string, n int) (*registry.Importance, error) {
	n = min(n, d.Rows())
	if n == 0 {
		return nil, nil
	}
	sum := make([]float64, d.Schema.Len())
	method := ""
	b := d.Batch()
	for i := range n {
		e, err := m.Explain(b, i)
		if err != nil {
			return nil, fmt.Errorf("importance: explain row %d: %w", i, err)
		}
		method = e.Method
		for j, c := range e.Contributions {
			sum[j] += math.Abs(c.Value)
		}
	}
	imp := &registry.Importance{Method: method, Set: set, Rows: n}
	for j, f := range d.Schema.Features {
		imp.Features = append(imp.Features, registry.FeatureImportance{Feature: f.Name, MeanAbs: sum[j] / float64(n)})
	}
	return imp, nil
}
