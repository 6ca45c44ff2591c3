package ctr

import (
	"errors"
	"fmt"
	"math"

	"github.com/casebook-ml/casebook/platform/ml"
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

// Report is how a served model does on log rows it never trained on, against the
// generator (Evaluate).
type Report struct {
	HoldoutRows int
	// Log loss on the holdout: the model (position multiplied back per slot), the
	// generator's own probabilities (the Bayes-optimal floor) and the base rate.
	LogLoss, BayesLogLoss, BaseRateLogLoss float64
	// ECE before and after the model's calibration, on the holdout.
	ECERaw, ECE         float64
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
