package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// The steps, in order; checkpoint files are named after them.
const (
	StepBuild    = "build"
	StepTrain    = "train"
	StepEvaluate = "evaluate"
	StepRegister = "register"
	StepGate     = "gate"
	StepPromote  = "promote"
)

// Steps lists the steps in order.
var Steps = []string{StepBuild, StepTrain, StepEvaluate, StepRegister, StepGate, StepPromote}

// Definition is a pipeline defined in code.
type Definition struct {
	// Name identifies the pipeline and its checkpoint directory.
	Name string
	// Model is the registered model name.
	Model string
	// Source builds the training set.
	Source TrainingSetSource
	// Train fits a model on the training split. It must be deterministic (seeded) for
	// reruns to produce the same artifact.
	Train func(ctx context.Context, d ml.Dataset) (ml.Model, error)
	// Params are recorded with the version (the trainer's configuration, say).
	Params map[string]string
	// HoldoutFraction of the rows is kept out of training for evaluation: chosen by a
	// seeded shuffle (SplitRandom, the default) or the last rows in the source's order
	// (SplitTime: the source gives rows in event-time order, the model is judged on what
	// came after its training rows).
	HoldoutFraction float64
	SplitSeed       uint64
	Split           SplitKind
	// CalibrationFraction, if set, holds back the last share of the training split (after
	// the split, so in time order under SplitTime) to fit a Platt calibration of the model
	// trained on the rest. The calibration is applied when it lowers the held-back log
	// loss; either way it is recorded with the version (Params[ParamCalibration], JSON of
	// ml.Platt, the identity when not applied) and evaluation scores calibrated predictions.
	CalibrationFraction float64
	// LatencySamples single-row predictions measure the p99 latency the gate checks.
	LatencySamples int
	// Gates guard the alias move.
	Gates registry.Gates
	// Alias, if set, is moved to the new version when its gates pass.
	Alias string
	// Actor registers and promotes; CodeVersion, IntendedUse and KnownLimits go on the card.
	Actor       string
	CodeVersion string
	IntendedUse string
	KnownLimits []string
	// Privacy, if set, measures the trained model's leakage (a membership-inference attack
	// over training and holdout rows, say) during the evaluate step; its result is recorded
	// on the version (see privacy.go).
	Privacy PrivacyEvaluator
	// Slices cut the holdout into segments whose metrics go on the card (fairness slices):
	// amount bands, a night or weekend flag, whatever segments the data has.
	Slices []Slice
	// ImportanceRows is how many holdout rows are explained for the global importance on
	// the card (0: DefaultImportanceRows).
	ImportanceRows int
	// SplitFunc, if set, divides the training set instead of Split and HoldoutFraction: it
	// returns the training and holdout row indexes (disjoint, each non-empty), a protocol
	// the built-in splits do not cover (a recommender's split stratified by item, groups
	// kept whole). It must be deterministic; describe it in Params (it cannot be hashed).
	SplitFunc func(d ml.Dataset) (train, holdout []int, err error)
	// Evaluate, if set, replaces the built-in classifier metrics (AUC, log loss, ...) for
	// models that are not tabular classifiers (a factorization judged by NDCG against a
	// popularity baseline, a ranker against the order it re-ranks): its metrics are
	// recorded as the "holdout" eval set and gated like the built-in ones. train is what
	// the model was fitted on (a recommender excludes a user's training items).
	Evaluate func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (ml.Metrics, error)
	// LowerIsBetter names the metrics Evaluate returns for which a smaller value is better
	// (New declares them with ml.DeclareLowerIsBetter, so gates compare them that way);
	// the others are higher-is-better. They go on the version (param "lower_is_better").
	LowerIsBetter []string
	// Refit, if set, trains the model once more on every row (training and holdout) after
	// the split model is fitted, and registers that one: the holdout measured the recipe
	// on rows it did not see, the served model uses them all. The version's metrics are
	// the split model's; its params say "refit": "true".
	Refit bool
}

// Validate reports a definition that cannot run.
func (d Definition) Validate() error {
	switch {
	case !registry.ValidName(d.Name) || !registry.ValidName(d.Model):
		return fmt.Errorf("pipeline: Name %q and Model %q must be valid registry names", d.Name, d.Model)
	case d.Source == nil || d.Train == nil:
		return errors.New("pipeline: Source and Train are required")
	case d.SplitFunc == nil && !(d.HoldoutFraction > 0 && d.HoldoutFraction < 1):
		return fmt.Errorf("pipeline: HoldoutFraction = %v, want (0, 1)", d.HoldoutFraction)
	case d.SplitFunc != nil && (d.Split != SplitRandom || d.HoldoutFraction != 0):
		return errors.New("pipeline: SplitFunc replaces Split and HoldoutFraction; leave them unset")
	case d.Split != SplitRandom && d.Split != SplitTime:
		return fmt.Errorf("pipeline: Split %q, want %q or %q", d.Split, SplitRandom, SplitTime)
	case !(d.CalibrationFraction >= 0 && d.CalibrationFraction < 1):
		return fmt.Errorf("pipeline: CalibrationFraction = %v, want [0, 1)", d.CalibrationFraction)
	case d.LatencySamples <= 0:
		return fmt.Errorf("pipeline: LatencySamples = %d, want > 0", d.LatencySamples)
	case d.Actor == "":
		return errors.New("pipeline: Actor is required")
	case d.ImportanceRows < 0:
		return fmt.Errorf("pipeline: ImportanceRows = %d, want ≥ 0", d.ImportanceRows)
	case d.Alias != "" && !registry.ValidName(d.Alias):
		return fmt.Errorf("pipeline: Alias %q is not a valid name", d.Alias)
	case len(d.LowerIsBetter) > 0 && d.Evaluate == nil:
		return errors.New("pipeline: LowerIsBetter names metrics of Evaluate, which is not set")
	case d.Refit && d.CalibrationFraction > 0:
		return errors.New("pipeline: Refit with CalibrationFraction is not supported (the calibration is fitted for the split model)")
	}
	return d.Gates.Validate()
}

// Config holds the pipeline's dependencies.
type Config struct {
	// CheckpointDir holds one directory per pipeline with the run in progress.
	CheckpointDir string
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	// AfterStep, if set, is called after each step's checkpoint is written; an error
	// aborts the run there (tests use it to kill a run between steps).
	AfterStep func(step string) error
}

// DefaultConfig checkpoints under ./.casebook/pipeline.
func DefaultConfig() Config {
	return Config{CheckpointDir: filepath.Join(".casebook", "pipeline")}
}

// Validate reports a missing checkpoint directory.
func (c Config) Validate() error {
	if c.CheckpointDir == "" {
		return errors.New("pipeline: CheckpointDir is empty")
	}
	return nil
}

// Pipeline runs one Definition against a registry.
type Pipeline struct {
	def   Definition
	reg   *registry.Registry
	cfg   Config
	log   *slog.Logger
	ckpt  checkpoints
	runs  *prometheus.CounterVec
	steps *prometheus.HistogramVec
}

// New returns a pipeline.
func New(def Definition, reg *registry.Registry, cfg Config) (*Pipeline, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, m := range def.LowerIsBetter {
		ml.DeclareLowerIsBetter(m)
	}
	p := &Pipeline{def: def, reg: reg, cfg: cfg, log: cfg.Logger, ckpt: checkpoints{dir: filepath.Join(cfg.CheckpointDir, def.Name)},
		runs:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_pipeline_runs_total", Help: "Pipeline runs by outcome."}, []string{"pipeline", "outcome"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_pipeline_step_seconds", Help: "Step durations (executed, not resumed).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"pipeline", "step"}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "pipeline", "pipeline", def.Name)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{p.runs, p.steps} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("pipeline metrics: %w", err)
			}
		}
	}
	return p, nil
}

// fingerprint identifies the definition's recordable parts; checkpoints written under
// another fingerprint belong to a different pipeline and are discarded, not resumed. (The
// Train function cannot be hashed: describe it in Params, as the CLI does.)
func (d Definition) fingerprint() string {
	b, _ := json.Marshal(struct {
		Name, Model, Alias, Actor, CodeVersion string
		Params                                 map[string]string
		HoldoutFraction                        float64
		SplitSeed                              uint64
		LatencySamples                         int
		Gates                                  registry.Gates
		Split                                  SplitKind `json:",omitempty"`
		CalibrationFraction                    float64   `json:",omitempty"`
		CustomSplit, CustomEvaluate, Refit     bool      `json:",omitempty"`
		LowerIsBetter                          []string  `json:",omitempty"`
	}{d.Name, d.Model, d.Alias, d.Actor, d.CodeVersion, d.Params, d.HoldoutFraction, d.SplitSeed, d.LatencySamples, d.Gates, d.Split, d.CalibrationFraction,
		d.SplitFunc != nil, d.Evaluate != nil, d.Refit, d.LowerIsBetter})
	return registry.Sum(b)
}

type runCkpt struct {
	Definition string  `json:"definition_sha256"`
	Trigger    Trigger `json:"trigger"`
}

// Result is what a run did. Resumed lists steps restored from checkpoints, Executed the
// ones that ran.
type Result struct {
	Trigger     Trigger               `json:"trigger"`
	Resumed     []string              `json:"resumed"`
	Executed    []string              `json:"executed"`
	Fingerprint string                `json:"training_set_fingerprint"`
	Rows        int                   `json:"rows"`
	From, To    time.Time             `json:"-"`
	Artifact    string                `json:"artifact_sha256"`
	Metrics     map[string]ml.Metrics `json:"metrics"`
	PredictP99  time.Duration         `json:"predict_p99_ns"`
	// Privacy is what Definition.Privacy measured (nil without one).
	Privacy     *registry.Privacy     `json:"privacy,omitempty"`
	Version     int                   `json:"version"`
	Created     bool                  `json:"created"`
	Gates       []registry.GateResult `json:"gates"`
	GatesPassed bool                  `json:"gates_passed"`
	Alias       string                `json:"alias,omitempty"`
	// Discarded is set when checkpoints of a different definition were found and dropped.
	Discarded   bool `json:"discarded_checkpoints,omitempty"`
	Moved       bool `json:"moved"`
	AliasBefore int  `json:"alias_before"`
}

type buildCkpt struct {
	Schema             ml.Schema `json:"schema"`
	From, To           time.Time
	Fingerprint        string            `json:"fingerprint"`
	DataSHA256         string            `json:"data_sha256"`
	FeatureService     string            `json:"feature_service,omitempty"`
	FeatureServiceHash string            `json:"feature_service_hash,omitempty"`
	Params             map[string]string `json:"params,omitempty"`
}

// trainCkpt keeps the side parameters the train step produced beside the artifact's hash.
type trainCkpt struct {
	Artifact string            `json:"artifact_sha256"`
	Params   map[string]string `json:"params,omitempty"`
	// Refit is the sha256 of the model refitted on every row (Definition.Refit).
	Refit string `json:"refit_sha256,omitempty"`
}

type evalCkpt struct {
	Metrics    map[string]ml.Metrics   `json:"metrics"`
	PredictP99 time.Duration           `json:"predict_p99_ns"`
	Privacy    *registry.Privacy       `json:"privacy,omitempty"`
	Importance *registry.Importance    `json:"importance,omitempty"`
	Slices     []registry.SliceMetrics `json:"slices,omitempty"`
}

type registerCkpt struct {
	Version int  `json:"version"`
	Created bool `json:"created"`
}

type gateCkpt struct {
	Gates  []registry.GateResult `json:"gates"`
	Passed bool                  `json:"passed"`
}

type promoteCkpt struct {
	Moved  bool `json:"moved"`
	Before int  `json:"before"`
}

// Run executes the pipeline, resuming after the last completed step of an earlier run
// that died. On success the checkpoints are cleared.
func (p *Pipeline) Run(ctx context.Context, trig Trigger) (res Result, err error) {
	res = Result{Trigger: trig, Alias: p.def.Alias}
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		} else if p.def.Alias != "" && !res.Moved && !res.GatesPassed {
			outcome = "refused"
		}
		p.runs.WithLabelValues(p.def.Name, outcome).Inc()
	}()
	var rk runCkpt
	ok, err := p.ckpt.loadJSON("run", &rk)
	if err != nil || (ok && rk.Definition != p.def.fingerprint()) {
		p.log.Warn("discarding checkpoints of another definition or an unreadable run record", "err", err)
		if err := p.ckpt.clear(); err != nil {
			return res, fmt.Errorf("pipeline %s: discard checkpoints: %w", p.def.Name, err)
		}
		res.Discarded, ok = true, false
	}
	if !ok {
		if err := p.ckpt.saveJSON("run", runCkpt{Definition: p.def.fingerprint(), Trigger: trig}); err != nil {
			return res, fmt.Errorf("pipeline %s: checkpoint: %w", p.def.Name, err)
		}
	}
	var (
		ts    TrainingSet
		model ml.Model // the model fitted on the training split, which is evaluated
		// served is the registered model: model, or with Refit the one fitted on every
		// row; art is its artifact.
		served ml.Model
		art    []byte
	)
	step := func(name string, restore func() (bool, error), exec func() error) error {
		ok, err := restore()
		if err != nil {
			p.log.Warn("checkpoint unreadable; rerunning step", "step", name, "err", err)
			ok = false
		}
		if ok {
			res.Resumed = append(res.Resumed, name)
			return nil
		}
		t0 := time.Now()
		if err := exec(); err != nil {
			return fmt.Errorf("pipeline %s: step %s: %w", p.def.Name, name, err)
		}
		p.steps.WithLabelValues(p.def.Name, name).Observe(time.Since(t0).Seconds())
		res.Executed = append(res.Executed, name)
		if p.cfg.AfterStep != nil {
			if err := p.cfg.AfterStep(name); err != nil {
				return fmt.Errorf("pipeline %s: after step %s: %w", p.def.Name, name, err)
			}
		}
		return nil
	}

	// 1. Build the training set.
	if err := step(StepBuild, func() (bool, error) {
		var c buildCkpt
		ok, err := p.ckpt.loadJSON(StepBuild, &c)
		if !ok || err != nil {
			return ok, err
		}
		b, err := os.ReadFile(p.ckpt.path("trainingset.bin"))
		if err != nil {
			return false, err
		}
		ts = TrainingSet{Data: ml.Dataset{Schema: c.Schema}, From: c.From, To: c.To, Fingerprint: c.Fingerprint,
			FeatureService: c.FeatureService, FeatureServiceHash: c.FeatureServiceHash, Params: c.Params}
		if err := decodeSet(b, &ts); err != nil {
			return false, err
		}
		if ts.Data.Fingerprint() != c.DataSHA256 {
			return false, errors.New("training set checkpoint does not match its hash")
		}
		return true, nil
	}, func() error {
		var err error
		if ts, err = p.def.Source.TrainingSet(ctx); err != nil {
			return err
		}
		if err := checkSet(&ts, p.def.Evaluate == nil); err != nil {
			return err
		}
		if err := p.ckpt.write("trainingset.bin", encodeSet(ts)); err != nil {
			return err
		}
		return p.ckpt.saveJSON(StepBuild, buildCkpt{Schema: ts.Data.Schema, From: ts.From, To: ts.To, Fingerprint: ts.Fingerprint,
			DataSHA256: ts.Data.Fingerprint(), FeatureService: ts.FeatureService, FeatureServiceHash: ts.FeatureServiceHash, Params: ts.Params})
	}); err != nil {
		return res, err
	}
	res.Fingerprint, res.Rows, res.From, res.To = ts.Fingerprint, ts.Data.Rows(), ts.From, ts.To
	train, holdout, holdRows, err := p.def.split(ts.Data)
	if err != nil {
		return res, fmt.Errorf("pipeline %s: split: %w", p.def.Name, err)
	}
	var holdRef []float64
	if ts.Reference != nil {
		holdRef = make([]float64, len(holdRows))
		for i, r := range holdRows {
			holdRef[i] = ts.Reference[r]
		}
	}
	var side map[string]string // the train step's side parameters (the calibration)
	calib := ml.Platt{A: 1}

	// 2. Train.
	if err := step(StepTrain, func() (bool, error) {
		var c trainCkpt
		ok, err := p.ckpt.loadJSON(StepTrain, &c)
		if !ok || err != nil {
			return ok, err
		}
		if art, err = os.ReadFile(p.ckpt.path("model.bin")); err != nil {
			return false, err
		}
		if registry.Sum(art) != c.Artifact {
			return false, errors.New("model checkpoint does not match its sha256")
		}
		if calib, err = calibrationOf(c.Params); err != nil {
			return false, err
		}
		side = c.Params
		if model, err = ml.Unmarshal(art); err != nil {
			return false, err
		}
		served = model
		if p.def.Refit {
			b, err := os.ReadFile(p.ckpt.path("refit.bin"))
			if err != nil {
				return false, err
			}
			if registry.Sum(b) != c.Refit {
				return false, errors.New("refit model checkpoint does not match its sha256")
			}
			if served, err = ml.Unmarshal(b); err != nil {
				return false, err
			}
			art = b
		}
		return true, nil
	}, func() error {
		var err error
		if model, side, err = p.train(ctx, train); err != nil {
			return err
		}
		if calib, err = calibrationOf(side); err != nil {
			return err
		}
		if art, err = model.MarshalBinary(); err != nil {
			return err
		}
		if err := p.ckpt.write("model.bin", art); err != nil {
			return err
		}
		c := trainCkpt{Artifact: registry.Sum(art), Params: side}
		served = model
		if p.def.Refit {
			if served, err = p.def.Train(ctx, ts.Data); err != nil {
				return fmt.Errorf("refit on all %d rows: %w", ts.Data.Rows(), err)
			}
			if art, err = served.MarshalBinary(); err != nil {
				return err
			}
			if err := p.ckpt.write("refit.bin", art); err != nil {
				return err
			}
			c.Refit = registry.Sum(art)
		}
		return p.ckpt.saveJSON(StepTrain, c)
	}); err != nil {
		return res, err
	}
	res.Artifact = registry.Sum(art)

	// 3. Evaluate.
	var ev evalCkpt
	if err := step(StepEvaluate, func() (bool, error) { return p.ckpt.loadJSON(StepEvaluate, &ev) }, func() error {
		var err error
		if p.def.Evaluate != nil {
			mh, err := p.def.Evaluate(ctx, model, train, holdout)
			if err != nil {
				return fmt.Errorf("evaluate: %w", err)
			}
			if len(finiteMetrics(mh)) != len(mh) || len(mh) == 0 {
				return fmt.Errorf("evaluate: metrics %v: want at least one, all finite", mh)
			}
			ev.Metrics = map[string]ml.Metrics{"holdout": mh}
		} else {
			mt, err := ml.EvaluateCalibrated(model, train, calib)
			if err != nil {
				return err
			}
			mh, err := ml.EvaluateCalibrated(model, holdout, calib)
			if err != nil {
				return err
			}
			if holdRef != nil {
				addReference(mh, holdout.Y, holdRef)
			}
			ev.Metrics = map[string]ml.Metrics{"train": finiteMetrics(mt), "holdout": finiteMetrics(mh)}
		}
		lat, err := ml.MeasureLatency(served, holdout.Batch(), p.def.LatencySamples)
		if err != nil {
			return err
		}
		ev.PredictP99 = lat.P99
		if ev.Privacy, err = evaluatePrivacy(ctx, p.def.Privacy, model, train, holdout); err != nil {
			return err
		}
		if ev.Importance, err = GlobalImportance(model, holdout, "holdout", cmp.Or(p.def.ImportanceRows, DefaultImportanceRows)); err != nil {
			return err
		}
		if ev.Slices, err = EvaluateSlices(model, holdout, p.def.Slices); err != nil {
			return err
		}
		return p.ckpt.saveJSON(StepEvaluate, ev)
	}); err != nil {
		return res, err
	}
	res.Metrics, res.PredictP99, res.Privacy = ev.Metrics, ev.PredictP99, ev.Privacy

	// 4. Register.
	var rc registerCkpt
	if err := step(StepRegister, func() (bool, error) { return p.ckpt.loadJSON(StepRegister, &rc) }, func() error {
		parent := 0
		if p.def.Alias != "" {
			if v, err := p.reg.Resolve(ctx, p.def.Model, p.def.Alias); err == nil {
				parent = v.Number
			}
		}
		params := map[string]string{"holdout_fraction": fmt.Sprint(p.def.HoldoutFraction), "split_seed": fmt.Sprint(p.def.SplitSeed), "trigger": string(trig.Kind)}
		if p.def.Split == SplitTime {
			params["split"] = string(SplitTime)
		}
		if p.def.SplitFunc != nil {
			params["split"] = "custom"
			delete(params, "holdout_fraction")
			delete(params, "split_seed")
		}
		if p.def.Refit {
			params["refit"] = "true"
		}
		if len(p.def.LowerIsBetter) > 0 {
			params["lower_is_better"] = strings.Join(p.def.LowerIsBetter, ",")
		}
		// Side parameters (the source's, then the train step's) go on the version with the
		// definition's own, so serving reads them from the registry with the artifact.
		for _, m := range []map[string]string{p.def.Params, ts.Params, side} {
			for k, v := range m {
				params[k] = v
			}
		}
		v, created, err := p.reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
			Model: p.def.Model, Family: string(served.Family()), Schema: served.Schema(), Metrics: ev.Metrics, PredictP99: ev.PredictP99,
			FeatureService: ts.FeatureService, FeatureServiceHash: ts.FeatureServiceHash,
			DataRange: registry.DataRange{From: ts.From, To: ts.To}, DataFingerprint: ts.Fingerprint, CodeVersion: p.def.CodeVersion,
			Params: params, Parent: parent, RegisteredBy: p.def.Actor, IntendedUse: p.def.IntendedUse, KnownLimits: p.def.KnownLimits,
			Importance: ev.Importance, Slices: ev.Slices,
			Description: fmt.Sprintf("Trained by pipeline %s (%s trigger: %s).", p.def.Name, trig.Kind, trig.Reason),
			Privacy:     ev.Privacy,
		}})
		if err != nil {
			return err
		}
		rc = registerCkpt{Version: v.Number, Created: created}
		return p.ckpt.saveJSON(StepRegister, rc)
	}); err != nil {
		return res, err
	}
	res.Version, res.Created = rc.Version, rc.Created

	// 5. Gate.
	var gc gateCkpt
	if err := step(StepGate, func() (bool, error) { return p.ckpt.loadJSON(StepGate, &gc) }, func() error {
		if p.def.Alias == "" {
			gc = gateCkpt{Passed: true}
			return p.ckpt.saveJSON(StepGate, gc)
		}
		g, ok, err := p.reg.CheckGates(ctx, p.def.Model, p.def.Alias, rc.Version, p.def.Gates)
		if err != nil {
			return err
		}
		gc = gateCkpt{Gates: g, Passed: ok}
		return p.ckpt.saveJSON(StepGate, gc)
	}); err != nil {
		return res, err
	}
	res.Gates, res.GatesPassed = gc.Gates, gc.Passed

	// 6. Promote.
	var pc promoteCkpt
	if err := step(StepPromote, func() (bool, error) { return p.ckpt.loadJSON(StepPromote, &pc) }, func() error {
		if p.def.Alias == "" || !gc.Passed {
			return p.ckpt.saveJSON(StepPromote, pc)
		}
		aliases, err := p.reg.Aliases(ctx, p.def.Model)
		if err != nil {
			return err
		}
		pc.Before = aliases[p.def.Alias]
		if pc.Before == rc.Version { // already there (a rerun, or a promote that died after moving)
			return p.ckpt.saveJSON(StepPromote, pc)
		}
		_, err = p.reg.Promote(ctx, registry.PromoteRequest{Model: p.def.Model, Alias: p.def.Alias, Version: rc.Version,
			Actor: p.def.Actor, Reason: fmt.Sprintf("pipeline %s, %s trigger: %s", p.def.Name, trig.Kind, trig.Reason), Gates: p.def.Gates})
		if err != nil {
			return err
		}
		pc.Moved = true
		return p.ckpt.saveJSON(StepPromote, pc)
	}); err != nil {
		return res, err
	}
	res.Moved, res.AliasBefore = pc.Moved, pc.Before
	if err := p.ckpt.clear(); err != nil {
		return res, fmt.Errorf("pipeline %s: clear checkpoints: %w", p.def.Name, err)
	}
	p.log.Info("run complete", "version", res.Version, "created", res.Created, "moved", res.Moved, "resumed", res.Resumed)
	return res, nil
}

// finiteMetrics drops undefined metrics (an AUC on a one-class holdout is NaN), which the
// registry would refuse.
func finiteMetrics(m ml.Metrics) ml.Metrics {
	out := ml.Metrics{}
	for k, v := range m {
		if v == v && v-v == 0 {
			out[k] = v
		}
	}
	return out
}
