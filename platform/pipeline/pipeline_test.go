package pipeline_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
)

var day0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	reg        *registry.Registry
	store      *fs.Store
	ckptDir    string
	sourceRuns atomic.Int32
	trainRuns  atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := fs.DefaultConfig()
	cfg.Dir = t.TempDir()
	s, err := fs.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(s, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{reg: r, store: s, ckptDir: t.TempDir()}
}

func (f *fixture) definition(d ml.Dataset) pipeline.Definition {
	src := pipeline.NewMemorySource(d, day0, day0.AddDate(0, 0, 28))
	gc := ml.DefaultGBDTConfig()
	gc.Trees, gc.MaxDepth, gc.MaxLeaves = 30, 4, 16
	gates := registry.DefaultGates()
	gates.LatencyBudget = time.Second // not under test here; the machine is shared
	return pipeline.Definition{
		Name: "fraud-nightly", Model: "fraud",
		Source: pipeline.SourceFunc(func(ctx context.Context) (pipeline.TrainingSet, error) {
			f.sourceRuns.Add(1)
			return src.TrainingSet(ctx)
		}),
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			f.trainRuns.Add(1)
			return ml.TrainGBDT(ctx, d, gc)
		},
		HoldoutFraction: 0.25, SplitSeed: 1, LatencySamples: 200, Gates: gates,
		Alias: registry.Champion, Actor: "pipeline-test", CodeVersion: "test",
	}
}

func (f *fixture) pipeline(t *testing.T, def pipeline.Definition, after func(string) error) *pipeline.Pipeline {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.CheckpointDir = f.ckptDir
	cfg.AfterStep = after
	p, err := pipeline.New(def, f.reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var ctx = context.Background()

func demand() pipeline.Trigger { return pipeline.Trigger{Kind: pipeline.OnDemand, Reason: "test"} }

func TestRunAndRerun(t *testing.T) {
	f := newFixture(t)
	p := f.pipeline(t, f.definition(mltest.Fraudish(8_000, 6, 1).Dataset), nil)
	r1, err := p.Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Created || r1.Version != 1 || !r1.Moved || !r1.GatesPassed || len(r1.Executed) != len(pipeline.Steps) {
		t.Fatalf("first Run = %+v, want v1 created, gated and moved to champion, all steps executed", r1)
	}
	if r1.Metrics["holdout"][ml.MetricAUC] < 0.7 {
		t.Errorf("holdout AUC = %.3f, want ≥ 0.7", r1.Metrics["holdout"][ml.MetricAUC])
	}
	audit1, _ := f.reg.Audit(ctx, "")
	r2, err := p.Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if r2.Created || r2.Version != 1 || r2.Artifact != r1.Artifact || r2.Fingerprint != r1.Fingerprint || r2.Moved {
		t.Errorf("rerun = v%d created %v moved %v artifact %s; want v1, nothing created or moved, same artifact %s",
			r2.Version, r2.Created, r2.Moved, r2.Artifact[:12], r1.Artifact[:12])
	}
	audit2, _ := f.reg.Audit(ctx, "")
	if len(audit2) != len(audit1) {
		t.Errorf("rerun added %d audit entries, want 0", len(audit2)-len(audit1))
	}
}

var errKilled = errors.New("killed")

// A run killed after any step resumes from the last completed one: the steps before it
// are restored, not redone, and exactly one version is registered and promoted once.
func TestKilledRunResumes(t *testing.T) {
	data := mltest.Fraudish(8_000, 6, 2).Dataset
	for i, killAt := range pipeline.Steps {
		t.Run(killAt, func(t *testing.T) {
			f := newFixture(t)
			def := f.definition(data)
			_, err := f.pipeline(t, def, func(s string) error {
				if s == killAt {
					return errKilled
				}
				return nil
			}).Run(ctx, demand())
			if !errors.Is(err, errKilled) {
				t.Fatalf("Run killed after %s = %v, want errKilled", killAt, err)
			}
			src, tr := f.sourceRuns.Load(), f.trainRuns.Load()
			res, err := f.pipeline(t, def, nil).Run(ctx, demand())
			if err != nil {
				t.Fatal(err)
			}
			if want := pipeline.Steps[:i+1]; !slices.Equal(res.Resumed, want) {
				t.Errorf("resumed = %v, want %v", res.Resumed, want)
			}
			if f.sourceRuns.Load() != src || (i >= 1 && f.trainRuns.Load() != tr) {
				t.Errorf("after resuming: source ran %d→%d times, train %d→%d; completed steps were redone", src, f.sourceRuns.Load(), tr, f.trainRuns.Load())
			}
			vs, _ := f.reg.Versions(ctx, "fraud")
			audit, _ := f.reg.Audit(ctx, "fraud")
			if len(vs) != 1 || len(audit) != 2 || !res.Moved {
				t.Errorf("after resume: %d versions, %d audit entries, moved %v; want 1, 2 (register, promote), true", len(vs), len(audit), res.Moved)
			}
		})
	}
}

// A run that dies inside the training step (not between steps) redoes only that step.
func TestKilledInsideTrain(t *testing.T) {
	f := newFixture(t)
	def := f.definition(mltest.Fraudish(8_000, 6, 3).Dataset)
	train := def.Train
	cctx, cancel := context.WithCancel(ctx)
	def.Train = func(c context.Context, d ml.Dataset) (ml.Model, error) {
		cancel() // the process is killed while fitting
		return train(c, d)
	}
	if _, err := f.pipeline(t, def, nil).Run(cctx, demand()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a kill inside train = %v, want context.Canceled", err)
	}
	def.Train = train
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Resumed, []string{pipeline.StepBuild}) || res.Version != 1 {
		t.Errorf("resume after a kill inside train: resumed %v, v%d; want [build], v1", res.Resumed, res.Version)
	}
}

func TestGateRefusesWorseModel(t *testing.T) {
	f := newFixture(t)
	data := mltest.Fraudish(8_000, 6, 4).Dataset
	if _, err := f.pipeline(t, f.definition(data), nil).Run(ctx, demand()); err != nil {
		t.Fatal(err)
	}
	def := f.definition(data)
	def.Name = "fraud-linear"
	def.Train = func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Version != 2 || res.GatesPassed || res.Moved || res.Gates[0].Margin >= 0 {
		t.Errorf("linear challenger: v%d created %v gates %v moved %v (%+v); want v2 registered, refused by the metric gate",
			res.Version, res.Created, res.GatesPassed, res.Moved, res.Gates[0])
	}
	if al, _ := f.reg.Aliases(ctx, "fraud"); al[registry.Champion] != 1 {
		t.Errorf("champion = v%d, want v1", al[registry.Champion])
	}
}

func TestBadTrainingSets(t *testing.T) {
	tests := []struct {
		name string
		d    ml.Dataset
		want error
	}{
		{"one class", ml.Dataset{Schema: ml.FloatSchema("a"), X: []float64{1, 2, 3}, Y: []float64{0, 0, 0}}, ml.ErrOneClass},
		{"NaN", ml.Dataset{Schema: ml.FloatSchema("a"), X: []float64{1, math.NaN()}, Y: []float64{0, 1}}, ml.ErrNonFinite},
		{"empty", ml.Dataset{Schema: ml.FloatSchema("a")}, pipeline.ErrEmptyTrainingSet},
	}
	for _, tt := range tests {
		f := newFixture(t)
		_, err := f.pipeline(t, f.definition(tt.d), nil).Run(ctx, demand())
		if !errors.Is(err, tt.want) {
			t.Errorf("Run(%s) = %v, want %v", tt.name, err, tt.want)
		}
		if ms, _ := f.reg.Models(ctx); len(ms) != 0 {
			t.Errorf("Run(%s) left models %v in the registry, want none", tt.name, ms)
		}
	}
}

func TestTriggers(t *testing.T) {
	f := newFixture(t)
	p := f.pipeline(t, f.definition(mltest.Fraudish(4_000, 6, 5).Dataset), nil)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	alerts := make(chan pipeline.Trigger, 1)
	alerts <- pipeline.Trigger{Kind: pipeline.Alert, Reason: "PSI 0.31 on f03"}
	close(alerts)
	schedule := pipeline.Every(cctx, 20*time.Millisecond)
	var kinds []pipeline.TriggerKind
	err := p.Serve(cctx, func(r pipeline.Result, err error) {
		if err != nil {
			t.Errorf("run: %v", err)
		}
		kinds = append(kinds, r.Trigger.Kind)
		if slices.Contains(kinds, pipeline.Alert) && slices.Contains(kinds, pipeline.Schedule) {
			cancel()
		}
	}, alerts, schedule)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v, want context.Canceled after both triggers ran", err)
	}
	if !slices.Contains(kinds, pipeline.Alert) || !slices.Contains(kinds, pipeline.Schedule) {
		t.Errorf("runs triggered by %v, want an alert and a schedule", kinds)
	}
	v, _ := f.reg.Resolve(ctx, "fraud", "1")
	if v.Params["trigger"] == "" {
		t.Errorf("version params = %v, want the trigger recorded", v.Params)
	}
}

// Checkpoints of a run killed under one definition are not resumed by another.
func TestChangedDefinitionDiscardsCheckpoints(t *testing.T) {
	f := newFixture(t)
	def := f.definition(mltest.Fraudish(8_000, 6, 6).Dataset)
	_, err := f.pipeline(t, def, func(s string) error {
		if s == pipeline.StepTrain {
			return errKilled
		}
		return nil
	}).Run(ctx, demand())
	if !errors.Is(err, errKilled) {
		t.Fatal(err)
	}
	def.Params = map[string]string{"trees": "60"} // the operator changed the trainer
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Discarded || len(res.Resumed) != 0 || len(res.Executed) != len(pipeline.Steps) {
		t.Errorf("rerun under a changed definition: discarded %v, resumed %v, executed %v; want the old checkpoints discarded and every step run",
			res.Discarded, res.Resumed, res.Executed)
	}
}
