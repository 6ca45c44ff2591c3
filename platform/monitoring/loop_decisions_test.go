package monitoring

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// canaryRig is a registry with champion v1 and canary v2 of model m, an event log with the
// prediction log's streams, and a loop over them.
type canaryRig struct {
	ctx  context.Context
	reg  *registry.Registry
	log  *eventlog.Log
	pl   *PredictionLog
	loop *Loop
	seq  int
}

func newCanaryRig(t *testing.T) *canaryRig {
	t.Helper()
	ctx, l, pl := openPredictionLog(t)
	reg := testRegistry(t)
	for i, d := range []pipeline.Definition{
		trainDef("v1", mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 2).Dataset, registry.Champion),
		trainDef("v2", mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 3).Dataset, Canary),
	} {
		pc := pipeline.DefaultConfig()
		pc.CheckpointDir = t.TempDir()
		p, err := pipeline.New(d, reg, pc)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand}); err != nil || res.Version != i+1 || !res.Moved {
			t.Fatalf("pipeline %s = v%d moved %v, %v; want v%d moved", d.Name, res.Version, res.Moved, err, i+1)
		}
	}
	cfg := DefaultLoopConfig("m")
	cfg.Train = trainDef("retrain", mltest.Logistic(100, []float64{1, -1, 0.5}, -1, 4).Dataset, Canary)
	cfg.Pipeline.CheckpointDir = t.TempDir()
	cfg.Judge.Gates.MinImprovement = -1 // offline sets differ; the online evidence decides
	cfg.Judge.MinLabelled, cfg.Judge.MinPositives, cfg.Judge.MinImprovement = 500, 20, 0.02
	loop, err := NewLoop(ctx, cfg, l, reg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loop.Phase() != PhaseCanary {
		t.Fatalf("loop over a registry with a canary starts in phase %q, want %q", loop.Phase(), PhaseCanary)
	}
	return &canaryRig{ctx: ctx, reg: reg, log: l, pl: pl, loop: loop}
}

// serve logs n predictions for each of champion v1 and canary v2, whose scores rank the
// labels with the given signal, and their outcomes an hour later.
func (r *canaryRig) serve(t *testing.T, n int, champSig, canarySig float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(r.seq), 9))
	var preds []predlog.Prediction
	var outs []predlog.Outcome
	for range n {
		for _, side := range []struct {
			v     int
			alias string
			sig   float64
		}{{1, registry.Champion, champSig}, {2, Canary, canarySig}} {
			r.seq++
			y := float64(rng.IntN(2))
			id := fmt.Sprintf("req-%d", r.seq)
			at := t0.Add(time.Duration(r.seq) * time.Second)
			preds = append(preds, predlog.Prediction{ID: id, Model: "m", Version: side.v, Alias: side.alias, Time: at, Path: "primary",
				Features: map[string]float64{"x00": 0, "x01": 0, "x02": 0}, Score: 1 / (1 + math.Exp(-(side.sig*(y-0.5) + rng.NormFloat64())))})
			outs = append(outs, predlog.Outcome{ID: id, Model: "m", Label: y, Time: at.Add(time.Hour), Kind: "label"})
		}
	}
	if err := r.pl.Log(r.ctx, preds...); err != nil {
		t.Fatal(err)
	}
	if err := r.pl.LogOutcomes(r.ctx, outs...); err != nil {
		t.Fatal(err)
	}
}

// step reads the log and steps at an event time after every outcome so far.
func (r *canaryRig) step(t *testing.T) LoopStep {
	t.Helper()
	if _, err := r.loop.Read(r.ctx); err != nil {
		t.Fatal(err)
	}
	st, err := r.loop.Step(r.ctx, t0.Add(time.Duration(r.seq)*time.Second+2*time.Hour))
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	return st
}

func (r *canaryRig) aliases(t *testing.T) map[string]int {
	t.Helper()
	a, err := r.reg.Aliases(r.ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// auditActions returns the actions the loop's actor wrote.
func (r *canaryRig) auditActions(t *testing.T) []string {
	t.Helper()
	es, err := r.reg.Audit(r.ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Actor == "monitoring/loop" {
			out = append(out, e.Action+"@"+e.Alias)
		}
	}
	if _, err := r.reg.VerifyAudit(r.ctx); err != nil {
		t.Errorf("VerifyAudit = %v", err)
	}
	return out
}

// TestLoopCanaryDecisions: the loop promotes a canary that ranks better online, removes one
// that ranks worse, and decides nothing, whatever the scores, until both sides have enough
// joined outcomes; every decision is in the audit log.
func TestLoopCanaryDecisions(t *testing.T) {
	t.Run("never without enough joined outcomes", func(t *testing.T) {
		r := newCanaryRig(t)
		r.serve(t, 200, 0.2, 4) // a far better canary, on 200 outcomes a side (500 needed)
		st := r.step(t)
		if st.Action != "canary-wait" || st.Phase != PhaseCanary || st.Verdict == nil || st.Verdict.Enough {
			t.Errorf("Step = %s in %s (%+v); want canary-wait in canary, not enough evidence", st.Action, st.Phase, st.Verdict)
		}
		if a := r.aliases(t); a[registry.Champion] != 1 || a[Canary] != 2 {
			t.Errorf("aliases %v after too few outcomes, want champion 1, canary 2 (nothing moved)", a)
		}
		if got := r.auditActions(t); len(got) != 0 {
			t.Errorf("loop audit entries %v, want none", got)
		}
	})
	t.Run("promote when better", func(t *testing.T) {
		r := newCanaryRig(t)
		r.serve(t, 1500, 0.5, 3)
		st := r.step(t)
		if st.Action != "promoted" || st.Phase != PhaseWatching || st.Verdict == nil || !st.Verdict.Promoted {
			t.Fatalf("Step = %s in %s (%s); want promoted, back to watching", st.Action, st.Phase, st.Detail)
		}
		if a := r.aliases(t); a[registry.Champion] != 2 || a[Canary] != 0 {
			t.Errorf("aliases %v after a better canary, want champion 2 and no canary", a)
		}
		if got, want := fmt.Sprint(r.auditActions(t)), "[promote@champion remove-alias@canary]"; got != want {
			t.Errorf("loop audit entries %s, want %s", got, want)
		}
	})
	t.Run("canary removed by hand", func(t *testing.T) {
		r := newCanaryRig(t)
		if err := r.reg.RemoveAlias(r.ctx, "m", Canary, "operator", "ending the canary early"); err != nil {
			t.Fatal(err)
		}
		r.serve(t, 100, 1, 1)
		st := r.step(t)
		if st.Action != "canary-gone" || st.Phase != PhaseWatching {
			t.Fatalf("Step = %s in %s (%s); want canary-gone, back to watching", st.Action, st.Phase, st.Detail)
		}
		if a := r.aliases(t); a[registry.Champion] != 1 {
			t.Errorf("aliases %v, want champion 1", a)
		}
		if got, want := fmt.Sprint(r.auditActions(t)), "[note@]"; got != want {
			t.Errorf("loop audit entries %s, want %s", got, want)
		}
	})
	t.Run("roll back when not better", func(t *testing.T) {
		r := newCanaryRig(t)
		r.serve(t, 1500, 3, 0.5)
		st := r.step(t)
		if st.Action != "rolled-back" || st.Phase != PhaseWatching || st.Verdict == nil || st.Verdict.Promoted || !st.Verdict.Enough {
			t.Fatalf("Step = %s in %s (%s); want rolled-back on enough evidence", st.Action, st.Phase, st.Detail)
		}
		if a := r.aliases(t); a[registry.Champion] != 1 || a[Canary] != 0 {
			t.Errorf("aliases %v after a worse canary, want champion 1 and no canary", a)
		}
		if got, want := fmt.Sprint(r.auditActions(t)), "[remove-alias@canary]"; got != want {
			t.Errorf("loop audit entries %s, want %s", got, want)
		}
	})
}

// TestLoopRetrain: a drift alert asks for a retraining; the loop trains only once enough
// outcomes have joined to rows predicted since it saw the drift, and then either moves the
// challenger to the canary alias or, if the gates refuse it, notes that and keeps watching.
func TestLoopRetrain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		schemaHash string // the gates' ServingSchemaHash; a foreign one refuses the challenger
		wantAction string
		wantPhase  string
		wantCanary bool
	}{
		{"gates pass", "", "trained", PhaseCanary, true},
		{"gates refuse", "sha256:another-schema", "refused", PhaseWatching, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, l, pl := openPredictionLog(t)
			reg := testRegistry(t)
			pc := pipeline.DefaultConfig()
			pc.CheckpointDir = t.TempDir()
			p, err := pipeline.New(trainDef("v1", mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 2).Dataset, registry.Champion), reg, pc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand}); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultLoopConfig("m")
			cfg.Reference, cfg.MinTrainRows = 300, 700
			cfg.Monitor.Window, cfg.Monitor.MinSamples = WindowConfig{Size: 300}, 100
			cfg.Rules = DriftRules("m", []string{"x00"}, PSI, DefaultThresholds()[PSI], true)
			cfg.Train = trainDef("retrain", mltest.Logistic(100, []float64{1, -1, 0.5}, -1, 4).Dataset, Canary)
			cfg.Train.Gates.ServingSchemaHash = tc.schemaHash
			cfg.Pipeline.CheckpointDir = t.TempDir()
			loop, err := NewLoop(ctx, cfg, l, reg, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			seq := 0
			// serve logs n champion predictions with x00 shifted by shift, and their outcomes.
			serve := func(n int, shift float64) time.Time {
				var preds []predlog.Prediction
				var outs []predlog.Outcome
				for range n {
					seq++
					x := []float64{rng.NormFloat64() + shift, rng.NormFloat64(), rng.NormFloat64()}
					z := x[0] - x[1] + 0.5*x[2] - 1
					y := 0.0
					if rng.Float64() < 1/(1+math.Exp(-z)) {
						y = 1
					}
					id, at := fmt.Sprintf("r%d", seq), t0.Add(time.Duration(seq)*time.Minute)
					preds = append(preds, predlog.Prediction{ID: id, Model: "m", Version: 1, Alias: registry.Champion, Time: at, Path: "primary",
						Features: map[string]float64{"x00": x[0], "x01": x[1], "x02": x[2]}, Score: 1 / (1 + math.Exp(-z))})
					outs = append(outs, predlog.Outcome{ID: id, Model: "m", Label: y, Time: at, Kind: "label"})
				}
				if err := pl.Log(ctx, preds...); err != nil {
					t.Fatal(err)
				}
				if err := pl.LogOutcomes(ctx, outs...); err != nil {
					t.Fatal(err)
				}
				return t0.Add(time.Duration(seq)*time.Minute + 30*time.Second) // the loop steps after the last row
			}
			step := func(now time.Time) LoopStep {
				t.Helper()
				if _, err := loop.Read(ctx); err != nil {
					t.Fatal(err)
				}
				st, err := loop.Step(ctx, now)
				if err != nil {
					t.Fatalf("Step: %v", err)
				}
				return st
			}
			versions := func() int {
				vs, err := reg.Versions(ctx, "m")
				if err != nil {
					t.Fatal(err)
				}
				return len(vs)
			}

			if st := step(serve(300, 0)); st.Action != "reference" {
				t.Fatalf("after 300 champion predictions: %s, want reference", st.Action)
			}
			var st LoopStep
			for range 2 { // the rule fires after two checks past PSI 0.2
				st = step(serve(300, 2))
			}
			if st.Action != "retrain-requested" || st.Phase != PhaseRetrain {
				t.Fatalf("after drift: %s in %s (%s), want retrain-requested", st.Action, st.Phase, st.Detail)
			}
			// The drift was first seen at the first of those two checks: the 300 rows after it
			// and the next 300 are 600 joined rows, short of 700.
			if st = step(serve(300, 2)); st.Action != "retrain-wait" || versions() != 1 {
				t.Fatalf("600 joined rows since the drift (700 needed): %s with %d versions, want retrain-wait and nothing registered", st.Action, versions())
			}
			st = step(serve(200, 2))
			if st.Action != tc.wantAction || st.Phase != tc.wantPhase || st.Run == nil || st.Run.Rows != 800 {
				t.Fatalf("800 joined rows since the drift: %s in %s (run %+v): %s; want %s in %s on 800 rows", st.Action, st.Phase, st.Run, st.Detail, tc.wantAction, tc.wantPhase)
			}
			if a, _ := reg.Aliases(ctx, "m"); (a[Canary] == 2) != tc.wantCanary || a[registry.Champion] != 1 {
				t.Errorf("aliases %v; want champion 1 and canary on v2: %v", a, tc.wantCanary)
			}
			es, err := reg.Audit(ctx, "m")
			if err != nil {
				t.Fatal(err)
			}
			var notes []string
			for _, e := range es {
				if e.Action == registry.ActionNote {
					notes = append(notes, e.Reason)
				}
			}
			if len(notes) != 2 || !strings.HasPrefix(notes[0], "retraining requested: drift_x00_psi") || !strings.Contains(notes[1], "v2") {
				t.Errorf("audit notes %q; want the retraining request, then the challenger's fate", notes)
			}
		})
	}
}
