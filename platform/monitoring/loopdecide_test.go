package monitoring

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
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
