package ctr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// ModelName is the click model's name in the registry.
const ModelName = "ads-pctr"

// FloorRatio is the quality bar: held-out log loss at most 2% above the generator's own.
const FloorRatio = 1.02

// Eval set and metric names in the registry.
const (
	EvalHoldout   = "holdout"
	MetricBayes   = "bayes_logloss"
	MetricRatio   = "logloss_over_bayes"
	paramPosition = "position"
	paramPlatt    = "calibration"
)

// Publish registers the model with its holdout report, refused outright when it misses
// the floor (log loss ≤ floor × the generator's on the same rows; the case study's bar is
// FloorRatio), and promotes it to champion unless the champion is better on its holdout.
// The floor is recorded with the version, so a looser one (a demo-sized log) is visible.
func Publish(ctx context.Context, reg *registry.Registry, m *Model, rep Report, floor float64, from, to time.Time, actor string) (registry.Version, error) {
	data, err := m.FM.MarshalBinary()
	if err != nil {
		return registry.Version{}, err
	}
	pos, _ := json.Marshal(m.Position)
	cal, _ := json.Marshal(m.Calibration)
	cfg := m.FM.Config()
	v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: data, Version: registry.Version{
		Model: ModelName, Family: string(ml.FamilyFM), Schema: Schema,
		Metrics: map[string]ml.Metrics{EvalHoldout: {ml.MetricLogLoss: rep.LogLoss, MetricBayes: rep.BayesLogLoss, MetricRatio: rep.Ratio(),
			ml.MetricECE: rep.ECE, ml.MetricAUC: rep.AUC}},
		DataRange:   registry.DataRange{From: from, To: to},
		CodeVersion: runtime.Version(), RegisteredBy: actor,
		Params: map[string]string{paramPosition: string(pos), paramPlatt: string(cal),
			"floor_ratio": strconv.FormatFloat(floor, 'f', -1, 64), "factors": strconv.Itoa(cfg.Factors), "hash_bits": strconv.Itoa(cfg.HashBits), "epochs": strconv.Itoa(cfg.Epochs)},
		IntendedUse: "click probability of a seen ad (position removed) for the ad auction",
		Importance:  rep.Importance,
	}, Floors: []registry.Floor{{EvalSet: EvalHoldout, Metric: ml.MetricLogLoss, Min: floor * rep.BayesLogLoss}}})
	if err != nil {
		return registry.Version{}, fmt.Errorf("publish %s: %w", ModelName, err)
	}
	_, err = reg.Promote(ctx, registry.PromoteRequest{Model: ModelName, Alias: registry.Champion, Version: v.Number, Actor: actor,
		Reason: "trained on the click log", Gates: registry.Gates{EvalSet: EvalHoldout, Metric: ml.MetricLogLoss}})
	if err != nil && !errors.Is(err, registry.ErrNoChange) {
		return v, fmt.Errorf("promote %s v%d: %w", ModelName, v.Number, err)
	}
	return v, nil
}

// FromVersion rebuilds a served model from a registry version and its decoded artifact.
func FromVersion(v registry.Version, mm ml.Model) (*Model, error) {
	fm, ok := mm.(*ml.FM)
	if !ok {
		return nil, fmt.Errorf("%s v%d is a %s, not a factorization machine", v.Model, v.Number, mm.Family())
	}
	m := &Model{FM: fm}
	if err := json.Unmarshal([]byte(v.Params[paramPosition]), &m.Position); err != nil || len(m.Position) == 0 {
		return nil, fmt.Errorf("%s v%d: position param %q: %v", v.Model, v.Number, v.Params[paramPosition], err)
	}
	if err := json.Unmarshal([]byte(v.Params[paramPlatt]), &m.Calibration); err != nil {
		return nil, fmt.Errorf("%s v%d: calibration param %q: %w", v.Model, v.Number, v.Params[paramPlatt], err)
	}
	return m, nil
}
