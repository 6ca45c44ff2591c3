package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/casebook-ml/casebook/platform/ml"
)

// SplitKind is how the pipeline divides the training set into training and holdout rows.
type SplitKind string

// The split kinds. SplitRandom (the zero value) is a seeded shuffle; SplitTime keeps the
// source's row order, which must be event time: the last HoldoutFraction of the rows are
// the holdout.
const (
	SplitRandom SplitKind = ""
	SplitTime   SplitKind = "time"
)

// ParamCalibration is the version parameter holding the Platt calibration (JSON of
// ml.Platt) when the definition sets CalibrationFraction.
const ParamCalibration = "calibration"

// TrainRows is how many of n rows a time split trains on (the rest are the holdout): a
// source measuring side parameters under SplitTime uses rows [0, TrainRows(n, holdout)).
func TrainRows(n int, holdout float64) int {
	return int(math.Round((1 - holdout) * float64(n)))
}

// split divides the training set, returning the holdout's row indexes too. A time split
// shares memory with the set (a click log is large); a random one copies.
func (d Definition) split(data ml.Dataset) (train, holdout ml.Dataset, holdRows []int, err error) {
	n := data.Rows()
	if d.SplitFunc != nil {
		tr, ho, err := d.SplitFunc(data)
		if err != nil {
			return train, holdout, nil, err
		}
		if len(tr) == 0 || len(ho) == 0 {
			return train, holdout, nil, fmt.Errorf("custom split of %d rows: %d training and %d holdout rows, want some of each", n, len(tr), len(ho))
		}
		seen := make([]bool, n)
		for _, r := range slices.Concat(tr, ho) {
			if r < 0 || r >= n || seen[r] {
				return train, holdout, nil, fmt.Errorf("custom split of %d rows: row %d out of range or given twice", n, r)
			}
			seen[r] = true
		}
		return data.Subset(tr), data.Subset(ho), ho, nil
	}
	if d.Split == SplitTime {
		cut := TrainRows(n, d.HoldoutFraction)
		return data.Slice(0, cut), data.Slice(cut, n), ml.Range(cut, n), nil
	}
	tr, ho := ml.SplitIndex(n, 1-d.HoldoutFraction, d.SplitSeed)
	return data.Subset(tr), data.Subset(ho), ho, nil
}

// train runs the definition's trainer and, with CalibrationFraction, fits the calibration
// on the held-back end of the training split, returning it as a side parameter.
func (p *Pipeline) train(ctx context.Context, d ml.Dataset) (ml.Model, map[string]string, error) {
	if p.def.CalibrationFraction == 0 {
		m, err := p.def.Train(ctx, d)
		return m, nil, err
	}
	fit, cal := d.SplitInOrder(1 - p.def.CalibrationFraction)
	if fit.Rows() == 0 || cal.Rows() == 0 {
		return nil, nil, fmt.Errorf("calibration: %d rows leave none on one side of a %v hold-back", d.Rows(), p.def.CalibrationFraction)
	}
	m, err := p.def.Train(ctx, fit)
	if err != nil {
		return nil, nil, err
	}
	pl, applied, err := FitCalibration(m, cal)
	if err != nil {
		return nil, nil, err
	}
	b, _ := json.Marshal(pl)
	return m, map[string]string{ParamCalibration: string(b), "calibration_applied": fmt.Sprint(applied), "calibration_rows": fmt.Sprint(cal.Rows())}, nil
}

// FitCalibration fits a Platt map to m's predictions on rows it did not train on (with
// their exposures) and keeps it only when it lowers their log loss; otherwise it returns
// the identity.
func FitCalibration(m ml.Model, cal ml.Dataset) (ml.Platt, bool, error) {
	id := ml.Platt{A: 1}
	raw, err := ml.PredictRows(m, ml.Dataset{Schema: cal.Schema, X: cal.X, Y: cal.Y}, id)
	if err != nil {
		return id, false, fmt.Errorf("calibration: %w", err)
	}
	logits := make([]float64, len(raw))
	for i, q := range raw {
		q = math.Min(math.Max(q, 1e-15), 1-1e-15)
		logits[i] = math.Log(q / (1 - q))
	}
	pl, err := ml.FitPlatt(logits, cal.Y, cal.Exposure)
	if err != nil {
		return id, false, fmt.Errorf("calibration: %w", err)
	}
	before, err := ml.EvaluateCalibrated(m, cal, id)
	if err != nil {
		return id, false, err
	}
	after, err := ml.EvaluateCalibrated(m, cal, pl)
	if err != nil {
		return id, false, err
	}
	if after[ml.MetricLogLoss] < before[ml.MetricLogLoss] {
		return pl, true, nil
	}
	return id, false, nil
}

// calibrationOf reads the calibration side parameter (the identity without one).
func calibrationOf(params map[string]string) (ml.Platt, error) {
	pl := ml.Platt{A: 1}
	s, ok := params[ParamCalibration]
	if !ok {
		return pl, nil
	}
	if err := json.Unmarshal([]byte(s), &pl); err != nil {
		return pl, fmt.Errorf("calibration param %q: %w", s, err)
	}
	return pl, nil
}

// addReference records the reference's log loss on the holdout and the model's over it.
func addReference(m ml.Metrics, y, ref []float64) {
	r := ml.LogLoss(y, ref)
	m[ml.MetricReferenceLogLoss] = r
	if r > 0 {
		m[ml.MetricLogLossRatio] = m[ml.MetricLogLoss] / r
	}
}
