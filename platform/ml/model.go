package ml

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Family names a model family; it is recorded in every artifact.
type Family string

// The model families.
const (
	FamilyLogReg Family = "logreg"
	FamilyGBDT   Family = "gbdt"
	FamilyFM     Family = "fm"
	FamilyFMInt8 Family = "fm-int8"
)

// Batch is the input to Predict: rows over a named schema, row-major.
type Batch struct {
	Schema Schema
	X      []float64
}

// Rows is the number of rows in the batch.
func (b Batch) Rows() int {
	if b.Schema.Len() == 0 {
		return 0
	}
	return len(b.X) / b.Schema.Len()
}

// Model is the seam every model family implements.
type Model interface {
	// Family names the model family.
	Family() Family
	// Schema is the feature schema the model was trained on; a batch must match it exactly.
	Schema() Schema
	// Predict writes one probability per row of b into out (len(out) ≥ b.Rows()). It
	// refuses a batch whose schema differs from Schema() or that holds a non-finite value.
	Predict(b Batch, out []float64) error
	// Explain attributes one row's logit to its features. For the linear models the
	// contributions are exact; for trees they follow the decision path.
	Explain(b Batch, row int) (Explanation, error)
	// MarshalBinary encodes the model as a versioned artifact (see Unmarshal).
	MarshalBinary() ([]byte, error)
}

// Contribution is one feature's share of a prediction's logit.
type Contribution struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
}

// Explanation methods.
const (
	// MethodLinear: w_j·(x_j − mean_j)/std_j, the exact Shapley values of a linear model
	// against the training mean.
	MethodLinear = "linear"
	// MethodTreeSHAP: path-dependent TreeSHAP, exact Shapley values of each tree.
	MethodTreeSHAP = "treeshap"
	// MethodSaabas: path attribution, for tree artifacts that carry no node covers.
	MethodSaabas = "saabas"
	// MethodInteractionSplit: linear terms plus half of each pairwise interaction (FM, MF).
	MethodInteractionSplit = "interaction-split"
)

// Explanation decomposes a logit: Logit = Bias + Σ Contributions.
type Explanation struct {
	// Method names the attribution: MethodLinear, MethodTreeSHAP, MethodSaabas.
	Method        string         `json:"method"`
	Bias          float64        `json:"bias"`
	Contributions []Contribution `json:"contributions"`
	Logit         float64        `json:"logit"`
	Probability   float64        `json:"probability"`
}

// Top returns the k contributions of largest magnitude.
func (e Explanation) Top(k int) []Contribution {
	c := slices.Clone(e.Contributions)
	slices.SortStableFunc(c, func(a, b Contribution) int {
		switch {
		case math.Abs(a.Value) > math.Abs(b.Value):
			return -1
		case math.Abs(a.Value) < math.Abs(b.Value):
			return 1
		}
		return 0
	})
	return c[:min(k, len(c))]
}

func checkBatch(s Schema, b Batch, out []float64) error {
	if err := checkSchema(s, b.Schema); err != nil {
		return err
	}
	k := s.Len()
	if len(b.X)%k != 0 {
		return fmt.Errorf("%w: %d values is not a multiple of %d features", ErrShape, len(b.X), k)
	}
	if out != nil && len(out) < len(b.X)/k {
		return fmt.Errorf("%w: output has room for %d rows, batch has %d", ErrShape, len(out), len(b.X)/k)
	}
	return checkFinite(s, b.X)
}

func checkRow(s Schema, b Batch, row int) ([]float64, error) {
	if err := checkSchema(s, b.Schema); err != nil {
		return nil, err
	}
	k := s.Len()
	if row < 0 || (row+1)*k > len(b.X) {
		return nil, fmt.Errorf("%w: row %d outside batch of %d rows", ErrShape, row, b.Rows())
	}
	x := b.X[row*k : (row+1)*k]
	if err := checkFinite(s, x); err != nil {
		return nil, err
	}
	return x, nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-15), 1-1e-15)
	return math.Log(p / (1 - p))
}

// artifactFormat is the envelope version; bump it when an encoding changes.
const artifactFormat = "casebook.ml.model/v1"

type envelope struct {
	Format string          `json:"format"`
	Family Family          `json:"family"`
	Schema Schema          `json:"schema"`
	Body   json.RawMessage `json:"body"`
}

func marshal(f Family, s Schema, body any) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", f, err)
	}
	return json.Marshal(envelope{Format: artifactFormat, Family: f, Schema: s, Body: raw})
}

// Unmarshal decodes an artifact written by any family's MarshalBinary.
func Unmarshal(data []byte) (Model, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArtifact, err)
	}
	if env.Format != artifactFormat {
		return nil, fmt.Errorf("%w: format %q, this build reads %q", ErrBadArtifact, env.Format, artifactFormat)
	}
	if err := env.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArtifact, err)
	}
	var (
		m   Model
		err error
	)
	switch env.Family {
	case FamilyLogReg:
		m, err = decodeLogReg(env.Schema, env.Body)
	case FamilyGBDT:
		m, err = decodeGBDT(env.Schema, env.Body)
	case FamilyForest:
		m, err = decodeForest(env.Schema, env.Body)
	case FamilyFM:
		m, err = decodeFM(env.Schema, env.Body)
	case FamilyFMInt8:
		m, err = decodeFMInt8(env.Schema, env.Body)
	case FamilyMF:
		m, err = decodeMF(env.Schema, env.Body)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownFamily, env.Family)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadArtifact, env.Family, err)
	}
	return m, nil
}

// LatencyStats summarises single-row predict latencies.
type LatencyStats struct {
	P50, P99 time.Duration
	Samples  int
}

// MeasureLatency predicts rows of b one at a time, samples times in all (cycling over
// the rows) after a warm-up, and returns the latency percentiles. The registry's latency gate uses P99.
func MeasureLatency(m Model, b Batch, samples int) (LatencyStats, error) {
	n := b.Rows()
	if n == 0 || samples <= 0 {
		return LatencyStats{}, ErrEmpty
	}
	k := b.Schema.Len()
	out := make([]float64, 1)
	// Warm up first (caches, branch predictors, lazily built state), so the percentiles
	// describe a serving process rather than its first calls.
	for i := 0; i < min(samples, 1000); i++ {
		r := i % n
		if err := m.Predict(Batch{Schema: b.Schema, X: b.X[r*k : (r+1)*k]}, out); err != nil {
			return LatencyStats{}, err
		}
	}
	ds := make([]time.Duration, samples)
	for i := range ds {
		r := i % n
		row := Batch{Schema: b.Schema, X: b.X[r*k : (r+1)*k]}
		t0 := time.Now()
		if err := m.Predict(row, out); err != nil {
			return LatencyStats{}, err
		}
		ds[i] = time.Since(t0)
	}
	slices.Sort(ds)
	return LatencyStats{P50: ds[samples/2], P99: ds[min(samples-1, samples*99/100)], Samples: samples}, nil
}
