package serving

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/casebook-ml/casebook/platform/ml"
)

// MaxExplainRows bounds one explain call: an explanation costs far more than a score
// (TreeSHAP is quadratic in tree depth per leaf), and explain is for looking at a few
// decisions, not for bulk scoring.
const MaxExplainRows = 256

// ExplainResponse is the body of POST /v2/models/{name}[/versions/{v}]/explain: one
// explanation per input row, from the version that would answer infer for the same call
// (the pinned version, or canary/primary by the request's key).
type ExplainResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version"`
	ID           string           `json:"id,omitempty"`
	Explanations []RowExplanation `json:"explanations"`
}

// RowExplanation decomposes one row's score: Output (the logit, the model's margin) =
// BaseValue + Σ Contributions[feature]; Score is the probability infer returns.
type RowExplanation struct {
	Method        string             `json:"method"`
	BaseValue     float64            `json:"base_value"`
	Contributions map[string]float64 `json:"contributions"`
	Output        float64            `json:"output"`
	Score         float64            `json:"score"`
}

// explain is POST /v2/models/{name}[/versions/{v}]/explain: the same body, auth and
// routing as infer, answered by the model's Explain instead of the batcher. It is not
// logged as a prediction and has no fallback: an explanation of a heuristic's answer would
// be an explanation of another model.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	e, version, ok := s.target(w, r)
	if !ok {
		return
	}
	body, err := readBody(r.Body, s.cfg.MaxBodyBytes, nil)
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	d, _, err := e.route(Request{Version: version, Decoded: Decoded{Key: r.Header.Get(HeaderKey)}})
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	if d == nil {
		s.writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%w: %s", ErrNotReady, e.cfg.Name))
		return
	}
	schema := d.model.Schema()
	dec, err := DecodeInferRequest(body, schema)
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	if dec.Key != "" && version == 0 && r.Header.Get(HeaderKey) == "" { // the body's key routes like the header's
		if d2, _, err := e.route(Request{Decoded: Decoded{Key: dec.Key}}); err == nil && d2 != nil && d2 != d {
			if dec, err = DecodeInferRequest(body, d2.model.Schema()); err != nil {
				s.writeError(w, statusOf(err), err)
				return
			}
			d = d2
		}
	}
	if dec.Rows > MaxExplainRows {
		s.writeError(w, http.StatusBadRequest, fmt.Errorf("%w: %d rows; explain takes at most %d per call", ErrBadRequest, dec.Rows, MaxExplainRows))
		return
	}
	batch := ml.Batch{Schema: d.model.Schema(), X: dec.X}
	out := ExplainResponse{ModelName: e.cfg.Name, ModelVersion: strconv.Itoa(d.version.Number), ID: dec.ID,
		Explanations: make([]RowExplanation, 0, dec.Rows)}
	for row := range dec.Rows {
		ex, err := d.model.Explain(batch, row)
		if err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, ml.ErrNonFinite) || errors.Is(err, ml.ErrSchemaMismatch) || errors.Is(err, ml.ErrShape) {
				code = http.StatusBadRequest
			}
			s.writeError(w, code, fmt.Errorf("explain row %d: %w", row, err))
			return
		}
		re := RowExplanation{Method: ex.Method, BaseValue: ex.Bias, Output: ex.Logit, Score: ex.Probability,
			Contributions: make(map[string]float64, len(ex.Contributions))}
		for _, c := range ex.Contributions {
			re.Contributions[c.Feature] = c.Value
		}
		out.Explanations = append(out.Explanations, re)
	}
	w.Header().Set(HeaderVersion, out.ModelVersion)
	s.writeJSON(w, http.StatusOK, out)
}
