package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// LogRegConfig configures logistic regression training.
type LogRegConfig struct {
	// L2 is the ridge penalty on the standardized weights (not on the bias), added to the
	// mean log loss as L2/2 · ‖w‖².
	L2 float64
	// MaxIterations bounds L-BFGS major iterations.
	MaxIterations int
	// GradientTolerance stops when the gradient's infinity norm falls below it.
	GradientTolerance float64
	// Workers computes the loss on this many goroutines (0 = GOMAXPROCS). The result does
	// not depend on it.
	Workers int
}

// DefaultLogRegConfig is a light ridge penalty and a generous iteration budget.
func DefaultLogRegConfig() LogRegConfig {
	return LogRegConfig{L2: 1e-4, MaxIterations: 200, GradientTolerance: 1e-7}
}

// Validate reports a negative penalty or non-positive limits.
func (c LogRegConfig) Validate() error {
	if c.L2 < 0 || math.IsNaN(c.L2) {
		return configError("logreg: L2 = %v, want ≥ 0", c.L2)
	}
	if c.MaxIterations <= 0 {
		return configError("logreg: MaxIterations = %d, want > 0", c.MaxIterations)
	}
	if c.GradientTolerance <= 0 {
		return configError("logreg: GradientTolerance = %v, want > 0", c.GradientTolerance)
	}
	return nil
}

// LogReg is an L2-regularised logistic regression. Features are standardized with the
// training set's mean and standard deviation, which the artifact stores; the weights are
// those of the standardized features, so their magnitudes are comparable.
type LogReg struct {
	schema  Schema
	mean    []float64
	std     []float64
	weights []float64 // standardized space
	bias    float64   // standardized space
	// raw-space weights folded from the above, for predicting without standardizing.
	rawW []float64
	rawB float64
}

var _ Model = (*LogReg)(nil)

// TrainLogReg fits a logistic regression by minimising the penalised mean log loss with
// gonum's L-BFGS. The gradient pass runs over fixed row chunks in parallel.
func TrainLogReg(ctx context.Context, d Dataset, cfg LogRegConfig) (*LogReg, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.Validate(true); err != nil {
		return nil, fmt.Errorf("train logreg: %w", err)
	}
	k, n := d.Schema.Len(), d.Rows()
	mean, std := standardize(d)

	chunks := (n + chunkRows - 1) / chunkRows
	// Per chunk: loss, Σr, Σ r·x_j (j < k).
	partial := make([][]float64, chunks)
	for i := range partial {
		partial[i] = make([]float64, k+2)
	}
	rawW := make([]float64, k)
	lastX := make([]float64, k+1)
	lastF, lastG := math.NaN(), make([]float64, k+1)
	var ctxErr error

	eval := func(x []float64) {
		if ctxErr == nil {
			ctxErr = ctx.Err()
		}
		if ctxErr != nil {
			// gonum takes no context: an infinite loss makes the line search give up at once.
			lastF = math.Inf(1)
			clear(lastG)
			copy(lastX, x)
			return
		}
		// Fold standardization into raw-space weights: z = b' + Σ w'_j x_j.
		b := x[k]
		for j := 0; j < k; j++ {
			rawW[j] = x[j] / std[j]
			b -= x[j] * mean[j] / std[j]
		}
		forChunks(n, cfg.Workers, func(c, lo, hi int) {
			p := partial[c]
			clear(p)
			for i := lo; i < hi; i++ {
				row := d.X[i*k : (i+1)*k]
				z := b
				for j, v := range row {
					z += rawW[j] * v
				}
				y := d.Y[i]
				// log(1+e^z) - y z, stably.
				if z > 0 {
					p[0] += z + math.Log1p(math.Exp(-z)) - y*z
				} else {
					p[0] += math.Log1p(math.Exp(z)) - y*z
				}
				r := sigmoid(z) - y
				p[1] += r
				for j, v := range row {
					p[2+j] += r * v
				}
			}
		})
		tot := make([]float64, k+2)
		for _, p := range partial {
			for j := range p {
				tot[j] += p[j]
			}
		}
		fn := float64(n)
		f := tot[0] / fn
		for j := 0; j < k; j++ {
			// ∂/∂w_j of mean loss, in standardized space.
			lastG[j] = (tot[2+j] - mean[j]*tot[1]) / std[j] / fn
			lastG[j] += cfg.L2 * x[j]
			f += cfg.L2 / 2 * x[j] * x[j]
		}
		lastG[k] = tot[1] / fn
		lastF = f
		copy(lastX, x)
	}
	same := func(x []float64) bool {
		if math.IsNaN(lastF) {
			return false
		}
		for i := range x {
			if x[i] != lastX[i] {
				return false
			}
		}
		return true
	}
	problem := optimize.Problem{
		Func: func(x []float64) float64 {
			if !same(x) {
				eval(x)
			}
			return lastF
		},
		Grad: func(g, x []float64) {
			if !same(x) {
				eval(x)
			}
			copy(g, lastG)
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: cfg.GradientTolerance,
		MajorIterations:   cfg.MaxIterations,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 20},
	}
	x0 := make([]float64, k+1)
	res, err := optimize.Minimize(problem, x0, settings, &optimize.LBFGS{})
	if ctxErr != nil {
		return nil, fmt.Errorf("train logreg: %w", ctxErr)
	}
	if err != nil && res == nil {
		return nil, fmt.Errorf("train logreg: %w", err)
	}
	// An iteration limit still leaves a usable optimum-so-far. A line search that fails
	// at the optimum (no further decrease representable in float64) is also fine: accept
	// the result when its gradient is small; report anything else.
	if err != nil && res.Status != optimize.IterationLimit {
		eval(res.X)
		g := 0.0
		for _, v := range lastG {
			g = math.Max(g, math.Abs(v))
		}
		if !(g < 1e-4) {
			return nil, fmt.Errorf("train logreg: L-BFGS %v (gradient %.3g): %w", res.Status, g, err)
		}
	}
	m := &LogReg{schema: d.Schema, mean: mean, std: std, weights: res.X[:k:k], bias: res.X[k]}
	m.fold()
	return m, nil
}

// standardize returns per-feature mean and standard deviation (1 for a constant column),
// summed in fixed chunk order.
func standardize(d Dataset) (mean, std []float64) {
	k, n := d.Schema.Len(), d.Rows()
	mean, std = make([]float64, k), make([]float64, k)
	for i := 0; i < n; i++ {
		for j, v := range d.Row(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, v := range d.Row(i) {
			dv := v - mean[j]
			std[j] += dv * dv
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(n))
		if std[j] < 1e-12 {
			std[j] = 1
		}
	}
	return mean, std
}

func (m *LogReg) fold() {
	k := len(m.weights)
	m.rawW = make([]float64, k)
	m.rawB = m.bias
	for j := 0; j < k; j++ {
		m.rawW[j] = m.weights[j] / m.std[j]
		m.rawB -= m.weights[j] * m.mean[j] / m.std[j]
	}
}

// Family implements Model.
func (m *LogReg) Family() Family { return FamilyLogReg }

// Schema implements Model.
func (m *LogReg) Schema() Schema { return m.schema }

// Coefficients returns the weights and intercept in the raw (unstandardized) feature space,
// the ones a generator z = b + Σ w_j x_j would have used.
func (m *LogReg) Coefficients() (weights []float64, intercept float64) {
	return append([]float64(nil), m.rawW...), m.rawB
}

// Predict implements Model.
func (m *LogReg) Predict(b Batch, out []float64) error {
	if err := checkBatch(m.schema, b, out); err != nil {
		return err
	}
	k := len(m.rawW)
	w := m.rawW
	for i := range b.Rows() {
		row := b.X[i*k : (i+1)*k]
		z := m.rawB
		for j, v := range row {
			z += w[j] * v
		}
		out[i] = sigmoid(z)
	}
	return nil
}

// Explain implements Model: contribution_j = w_j · (x_j − mean_j) / std_j exactly, and the
// bias is the standardized intercept (the logit of an average row).
func (m *LogReg) Explain(b Batch, row int) (Explanation, error) {
	x, err := checkRow(m.schema, b, row)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Method: MethodLinear, Bias: m.bias, Logit: m.bias}
	for j, v := range x {
		c := m.weights[j] * (v - m.mean[j]) / m.std[j]
		e.Contributions = append(e.Contributions, Contribution{Feature: m.schema.Features[j].Name, Value: c})
		e.Logit += c
	}
	e.Probability = sigmoid(e.Logit)
	return e, nil
}

type logRegBody struct {
	Mean    []float64 `json:"mean"`
	Std     []float64 `json:"std"`
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// MarshalBinary implements Model.
func (m *LogReg) MarshalBinary() ([]byte, error) {
	return marshal(FamilyLogReg, m.schema, logRegBody{Mean: m.mean, Std: m.std, Weights: m.weights, Bias: m.bias})
}

func decodeLogReg(s Schema, raw []byte) (*LogReg, error) {
	var b logRegBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	k := s.Len()
	if len(b.Mean) != k || len(b.Std) != k || len(b.Weights) != k {
		return nil, fmt.Errorf("%d features but %d/%d/%d parameters", k, len(b.Mean), len(b.Std), len(b.Weights))
	}
	m := &LogReg{schema: s, mean: b.Mean, std: b.Std, weights: b.Weights, bias: b.Bias}
	m.fold()
	return m, nil
}
