package ctr

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
)

// ErrNoExploration reports a log without enough shuffled requests to measure the position
// effect of a slot.
var ErrNoExploration = errors.New("ctr: too few shuffled requests to measure the position effect")

// TrainConfig sets how the click model is fitted.
type TrainConfig struct {
	FM ml.FMConfig
	// CalibrationFrac is the share of the training rows (the latest) held back to fit and
	// judge calibration.
	CalibrationFrac float64
}

// DefaultTrainConfig is the configuration the case study serves.
func DefaultTrainConfig() TrainConfig {
	fm := ml.DefaultFMConfig()
	fm.Factors, fm.HashBits, fm.Epochs, fm.LearningRate, fm.L2 = 8, 18, 3, 0.02, 1e-3
	return TrainConfig{FM: fm, CalibrationFrac: 0.1}
}

// Model is a trained click model with what serving needs beside the factorization
// machine: the position effect per slot and the calibration map.
type Model struct {
	FM          *ml.FM
	Position    []float64 // estimated examination probability per slot, top = 1
	Calibration ml.Platt  // identity when calibration did not help on held-back rows
}

// Report is how a model did on the rows it never trained on, against the generator.
type Report struct {
	TrainRows, CalibrationRows, HoldoutRows int
	// Importance is the model's global importance on the holdout (mean |contribution| of
	// each field, position removed), for its model card.
	Importance                      *registry.Importance
	PositionTrue, PositionEstimated []float64
	// Log loss on the holdout: the model (position multiplied back per slot), the
	// generator's own probabilities (the Bayes-optimal floor) and the base rate.
	LogLoss, BayesLogLoss, BaseRateLogLoss float64
	// ECE before and after calibration, on the holdout.
	ECERaw, ECE         float64
	Calibrated          bool
	CalibrationLogLoss  [2]float64 // on the held-back rows: raw, calibrated
	AUC, BayesAUC       float64
	Clicks, Impressions int
}

// Ratio is the model's holdout log loss over the Bayes-optimal one.
func (r Report) Ratio() float64 { return r.LogLoss / r.BayesLogLoss }

// EstimatePosition measures each slot's examination probability relative to the top from
// the shuffled requests: within one shuffled request every winner was equally likely in
// every slot, so clicks in slot j over clicks in slot 0 of the same requests estimate θ_j.
func EstimatePosition(l *Log, rows []int, slots int) ([]float64, error) {
	top := make([]float64, slots)
	at := make([]float64, slots)
	// Pair slots within a request: count slot-0 clicks only for requests that have slot j.
	first := 0
	for first < len(rows) {
		last := first
		for last+1 < len(rows) && l.Request[rows[last+1]] == l.Request[rows[first]] {
			last++
		}
		if l.Shuffled[rows[first]] {
			n := last - first + 1
			c0 := 0.0
			for _, r := range rows[first : last+1] {
				if l.Slot[r] == 0 {
					c0 = l.Clicked[r]
				}
			}
			for _, r := range rows[first : last+1] {
				if s := int(l.Slot[r]); s < slots && s < n {
					at[s] += l.Clicked[r]
					top[s] += c0
				}
			}
		}
		first = last + 1
	}
	out := make([]float64, slots)
	for s := range out {
		if top[s] < 30 {
			return nil, fmt.Errorf("%w: slot %d has %v paired top-slot clicks, want ≥ 30", ErrNoExploration, s, top[s])
		}
		out[s] = math.Min(1, at[s]/top[s])
	}
	return out, nil
}

// Train fits the click model on the log's rows before holdoutFrom and reports it on the
// rest.
func Train(ctx context.Context, l *Log, holdoutFrom int, slots int, truePosition []float64, cfg TrainConfig) (*Model, Report, error) {
	n := l.Rows()
	if holdoutFrom <= 0 || holdoutFrom >= n {
		return nil, Report{}, fmt.Errorf("ctr: holdout from row %d of %d: want some rows on each side", holdoutFrom, n)
	}
	calFrom := holdoutFrom - int(float64(holdoutFrom)*cfg.CalibrationFrac)
	// Keep requests whole on each side of a cut, so slots pair up.
	for calFrom > 0 && l.Request[calFrom] == l.Request[calFrom-1] {
		calFrom--
	}
	rep := Report{TrainRows: calFrom, CalibrationRows: holdoutFrom - calFrom, HoldoutRows: n - holdoutFrom, PositionTrue: truePosition}
	trainRows := make([]int, holdoutFrom)
	for i := range trainRows {
		trainRows[i] = i
	}
	pos, err := EstimatePosition(l, trainRows, slots)
	if err != nil {
		return nil, rep, err
	}
	rep.PositionEstimated = pos
	k := Schema.Len()
	train := ml.Dataset{Schema: Schema, X: l.X[:calFrom*k], Y: l.Clicked[:calFrom]}
	exposure := make([]float64, n)
	for i := range exposure {
		exposure[i] = pos[l.Slot[i]]
	}
	fm, err := ml.TrainFMExposed(ctx, train, exposure[:calFrom], cfg.FM)
	if err != nil {
		return nil, rep, fmt.Errorf("ctr: %w", err)
	}
	m := &Model{FM: fm, Position: pos, Calibration: ml.Platt{A: 1}}
	logits := make([]float64, n-calFrom)
	sc := fm.Scorer()
	for i := calFrom; i < n; i++ {
		row := l.X[i*k : (i+1)*k]
		if err := sc.SetContext(row[:0]); err != nil {
			return nil, rep, err
		}
		logits[i-calFrom] = sc.Logit(row)
	}
	hold := ml.Dataset{Schema: Schema, X: l.X[holdoutFrom*k:], Y: l.Clicked[holdoutFrom:]}
	if rep.Importance, err = pipeline.GlobalImportance(fm, hold, EvalHoldout, pipeline.DefaultImportanceRows); err != nil {
		return nil, rep, fmt.Errorf("ctr: %w", err)
	}
	calLogits, holdLogits := logits[:holdoutFrom-calFrom], logits[holdoutFrom-calFrom:]
	pl, err := ml.FitPlatt(calLogits, l.Clicked[calFrom:holdoutFrom], exposure[calFrom:holdoutFrom])
	if err != nil {
		return nil, rep, fmt.Errorf("ctr: %w", err)
	}
	probs := func(zs []float64, c ml.Platt, from int) []float64 {
		out := make([]float64, len(zs))
		for i, z := range zs {
			out[i] = exposure[from+i] * c.Prob(z)
		}
		return out
	}
	calY := l.Clicked[calFrom:holdoutFrom]
	rawCal, fitCal := ml.LogLoss(calY, probs(calLogits, ml.Platt{A: 1}, calFrom)), ml.LogLoss(calY, probs(calLogits, pl, calFrom))
	rep.CalibrationLogLoss = [2]float64{rawCal, fitCal}
	if fitCal < rawCal {
		m.Calibration, rep.Calibrated = pl, true
	}
	y := l.Clicked[holdoutFrom:]
	raw := probs(holdLogits, ml.Platt{A: 1}, holdoutFrom)
	served := probs(holdLogits, m.Calibration, holdoutFrom)
	truth := l.TrueP[holdoutFrom:]
	rep.LogLoss, rep.BayesLogLoss = ml.LogLoss(y, served), ml.LogLoss(y, truth)
	rep.ECERaw, rep.ECE = ml.CalibrationError(y, raw, 20), ml.CalibrationError(y, served, 20)
	rep.AUC, rep.BayesAUC = ml.AUC(y, served), ml.AUC(y, truth)
	base := 0.0
	for _, c := range l.Clicked[:holdoutFrom] {
		base += c
	}
	base /= float64(holdoutFrom)
	flat := make([]float64, len(y))
	for i := range flat {
		flat[i] = base
	}
	rep.BaseRateLogLoss = ml.LogLoss(y, flat)
	for _, c := range y {
		rep.Clicks += int(c)
	}
	rep.Impressions = len(y)
	return m, rep, nil
}
