package ctr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// ModelName is the click model's name in the registry, and its pipeline's.
const ModelName = "ads-pctr"

// FloorRatio is the quality bar: held-out log loss at most 2% above the generator's own.
const FloorRatio = 1.02

// EvalHoldout is the pipeline's eval set the gates read.
const EvalHoldout = "holdout"

// ParamPosition is the version parameter holding the position effect per slot (JSON),
// measured by the source on the training rows; the calibration is pipeline.ParamCalibration.
const ParamPosition = "position"

// Source is the click log as the pipeline's training set: one row per impression in time
// order, the slot's position effect as the row's exposure (so the model learns the click
// probability of a seen ad), the generator's own click probability as the reference, and
// the position effect per slot as a side parameter. The position effect is measured from
// the shuffled requests among the training rows only (the first pipeline.TrainRows of
// them under the definition's holdout fraction), so the holdout stays unseen.
func Source(l *Log, slots int, holdout float64) pipeline.TrainingSetSource {
	return pipeline.SourceFunc(func(ctx context.Context) (pipeline.TrainingSet, error) {
		if err := ctx.Err(); err != nil {
			return pipeline.TrainingSet{}, err
		}
		n := l.Rows()
		pos, err := EstimatePosition(l, ml.Range(0, pipeline.TrainRows(n, holdout)), slots)
		if err != nil {
			return pipeline.TrainingSet{}, err
		}
		exposure := make([]float64, n)
		for i, s := range l.Slot {
			if int(s) >= slots {
				return pipeline.TrainingSet{}, fmt.Errorf("ctr: row %d is in slot %d of %d", i, s, slots)
			}
			exposure[i] = pos[s]
		}
		b, _ := json.Marshal(pos)
		return pipeline.TrainingSet{
			Data:      ml.Dataset{Schema: Schema, X: l.X, Y: l.Clicked, Exposure: exposure},
			From:      time.Unix(0, l.Time[0]).UTC(),
			To:        time.Unix(0, l.Time[n-1]).UTC(),
			Reference: l.TrueP,
			Params:    map[string]string{ParamPosition: string(b)},
		}, nil
	})
}

// HoldoutFrom is the holdout fraction that makes the pipeline's time split hold out the
// log's rows from t on.
func HoldoutFrom(l *Log, t time.Time) float64 {
	return float64(l.Rows()-l.SplitAt(t)) / float64(l.Rows())
}

// RunConfig is one training of the click model by the pipeline.
type RunConfig struct {
	Train TrainConfig
	// Slots is how many slots the log's position effect is measured for.
	Slots int
	// Holdout is the share of the log's latest rows held out (HoldoutFrom).
	Holdout float64
	// Floor is the gate: holdout log loss ≤ Floor × the generator's (FloorRatio is the
	// case study's bar; a demo-sized log registers under a looser one, recorded with the
	// version). Zero registers without an alias move (no gate).
	Floor float64
	Actor string
	// Trigger says why the run happened (on demand by default).
	Trigger pipeline.Trigger
	// CheckpointDir holds the run's checkpoints ("": a temporary directory, removed after).
	CheckpointDir string
}

// Definition is the click model's pipeline: time split, the FM trained through the
// exposures, Platt calibration on the last tenth of the training rows, evaluation against
// the generator's log loss and, with a floor, the champion alias moved only when the
// holdout log loss is at most Floor × the generator's and no worse (relative to its own
// holdout's generator) than the current champion's.
func Definition(l *Log, cfg RunConfig) pipeline.Definition {
	fm := cfg.Train.FM
	def := pipeline.Definition{
		Name: ModelName, Model: ModelName,
		Source: Source(l, cfg.Slots, cfg.Holdout),
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			return ml.TrainFM(ctx, d, fm)
		},
		Params: map[string]string{"factors": strconv.Itoa(fm.Factors), "hash_bits": strconv.Itoa(fm.HashBits), "epochs": strconv.Itoa(fm.Epochs),
			"learning_rate": strconv.FormatFloat(fm.LearningRate, 'g', -1, 64), "l2": strconv.FormatFloat(fm.L2, 'g', -1, 64),
			"seed": strconv.FormatUint(fm.Seed, 10), "log_rows": strconv.Itoa(l.Rows())},
		HoldoutFraction: cfg.Holdout, Split: pipeline.SplitTime, CalibrationFraction: cfg.Train.CalibrationFrac,
		LatencySamples: 200, Actor: cfg.Actor, CodeVersion: runtime.Version(),
		IntendedUse: "click probability of a seen ad (position removed) for the ad auction; multiply the version's position effect back per slot",
		Gates:       registry.Gates{EvalSet: EvalHoldout, Metric: ml.MetricLogLossRatio},
	}
	if cfg.Floor > 0 {
		def.Alias = registry.Champion
		def.Params["floor_ratio"] = strconv.FormatFloat(cfg.Floor, 'f', -1, 64)
		def.Gates.Floors = []registry.Floor{{EvalSet: EvalHoldout, Metric: ml.MetricLogLossRatio, Min: cfg.Floor}}
	}
	return def
}

// Run trains the click model on the log by the pipeline into reg.
func Run(ctx context.Context, reg *registry.Registry, l *Log, cfg RunConfig) (pipeline.Result, error) {
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir = cfg.CheckpointDir
	if pc.CheckpointDir == "" {
		dir, err := os.MkdirTemp("", "ads-pipeline-*")
		if err != nil {
			return pipeline.Result{}, err
		}
		defer os.RemoveAll(dir)
		pc.CheckpointDir = dir
	}
	p, err := pipeline.New(Definition(l, cfg), reg, pc)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("ctr: %w", err)
	}
	trig := cfg.Trigger
	if trig.Kind == "" {
		trig = pipeline.Trigger{Kind: pipeline.OnDemand, Reason: "click log of " + strconv.Itoa(l.Rows()) + " impressions"}
	}
	return p.Run(ctx, trig)
}

// Load reads a version of the click model from the registry: the FM artifact with its
// side parameters.
func Load(ctx context.Context, reg *registry.Registry, ref string) (*Model, registry.Version, error) {
	mm, v, err := reg.Load(ctx, ModelName, ref)
	if err != nil {
		return nil, v, fmt.Errorf("ctr: load %s@%s: %w", ModelName, ref, err)
	}
	m, err := FromVersion(v, mm)
	return m, v, err
}

// Train is the pipeline run for callers that want a model and no registry of their own
// (the knobs scenario's variants, tests): it trains by Run into a throwaway registry,
// without a gate, holds out the rows from holdoutFrom on, and returns the model as read
// back from that registry with its report against the generator.
func Train(ctx context.Context, l *Log, holdoutFrom int, slots int, cfg TrainConfig) (*Model, Report, error) {
	n := l.Rows()
	if holdoutFrom <= 0 || holdoutFrom >= n {
		return nil, Report{}, fmt.Errorf("ctr: holdout from row %d of %d: want some rows on each side", holdoutFrom, n)
	}
	dir, err := os.MkdirTemp("", "ads-train-*")
	if err != nil {
		return nil, Report{}, err
	}
	defer os.RemoveAll(dir)
	rc := regfs.DefaultConfig()
	rc.Dir = dir
	st, err := regfs.Open(rc)
	if err != nil {
		return nil, Report{}, err
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		return nil, Report{}, err
	}
	res, err := Run(ctx, reg, l, RunConfig{Train: cfg, Slots: slots, Holdout: float64(n-holdoutFrom) / float64(n), Actor: "ctr.Train", CheckpointDir: dir + "/ckpt"})
	if err != nil {
		return nil, Report{}, err
	}
	m, _, err := Load(ctx, reg, strconv.Itoa(res.Version))
	if err != nil {
		return nil, Report{}, err
	}
	rep, err := Evaluate(m, l, holdoutFrom)
	return m, rep, err
}

// Evaluate reports a served model on the log's rows from `from` on: its click
// probability per slot (calibrated, position multiplied back) against the generator's.
func Evaluate(m *Model, l *Log, from int) (Report, error) {
	n, k := l.Rows(), Schema.Len()
	if from < 1 || from >= n {
		return Report{}, fmt.Errorf("ctr: evaluate from row %d of %d", from, n)
	}
	raw, served := make([]float64, n-from), make([]float64, n-from)
	sc := m.FM.Scorer()
	for i := from; i < n; i++ {
		row := l.X[i*k : (i+1)*k]
		if err := sc.SetContext(row[:0]); err != nil {
			return Report{}, err
		}
		z := sc.Logit(row)
		if int(l.Slot[i]) >= len(m.Position) {
			return Report{}, fmt.Errorf("ctr: row %d is in slot %d, the model knows %d", i, l.Slot[i], len(m.Position))
		}
		e := m.Position[l.Slot[i]]
		raw[i-from], served[i-from] = e*ml.Platt{A: 1}.Prob(z), e*m.Calibration.Prob(z)
	}
	y, truth := l.Clicked[from:], l.TrueP[from:]
	rep := Report{HoldoutRows: n - from, Impressions: n - from}
	rep.LogLoss, rep.BayesLogLoss = ml.LogLoss(y, served), ml.LogLoss(y, truth)
	rep.ECERaw, rep.ECE = ml.CalibrationError(y, raw, 20), ml.CalibrationError(y, served, 20)
	rep.AUC, rep.BayesAUC = ml.AUC(y, served), ml.AUC(y, truth)
	base := 0.0
	for _, c := range l.Clicked[:from] {
		base += c
	}
	base /= float64(from)
	flat := make([]float64, len(y))
	for i := range flat {
		flat[i] = base
	}
	rep.BaseRateLogLoss = ml.LogLoss(y, flat)
	for _, c := range y {
		rep.Clicks += int(c)
	}
	return rep, nil
}

// FromVersion rebuilds a served model from a registry version and its decoded artifact:
// the position effect and the calibration are the version's side parameters.
func FromVersion(v registry.Version, mm ml.Model) (*Model, error) {
	fm, ok := mm.(*ml.FM)
	if !ok {
		return nil, fmt.Errorf("%s v%d is a %s, not a factorization machine", v.Model, v.Number, mm.Family())
	}
	m := &Model{FM: fm, Calibration: ml.Platt{A: 1}}
	if err := json.Unmarshal([]byte(v.Params[ParamPosition]), &m.Position); err != nil || len(m.Position) == 0 {
		return nil, fmt.Errorf("%s v%d: position param %q: %v", v.Model, v.Number, v.Params[ParamPosition], err)
	}
	if s, ok := v.Params[pipeline.ParamCalibration]; ok {
		if err := json.Unmarshal([]byte(s), &m.Calibration); err != nil {
			return nil, fmt.Errorf("%s v%d: calibration param %q: %w", v.Model, v.Number, s, err)
		}
	}
	return m, nil
}
