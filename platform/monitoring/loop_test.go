package monitoring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

func testRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	fc := regfs.DefaultConfig()
	fc.Dir = t.TempDir()
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func trainDef(name string, d ml.Dataset, alias string) pipeline.Definition {
	return pipeline.Definition{Name: name, Model: "m", Source: pipeline.NewMemorySource(d, t0.AddDate(0, 0, -7), t0),
		Train: func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
			return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
		}, HoldoutFraction: 0.2, SplitSeed: 1, LatencySamples: 100, Gates: registry.DefaultGates(), Alias: alias, Actor: "test"}
}

// TestAlertTriggersPipeline wires Alerter.Triggers into pipeline.Serve, the hook in
// pipeline/trigger.go: a drift alert that retrains must produce a run with an Alert
// trigger, a registered version and the canary alias moved through the gates.
func TestAlertTriggersPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := testRegistry(t)
	data := mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 1).Dataset
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir = t.TempDir()
	p, err := pipeline.New(trainDef("retrain", data, Canary), reg, pc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAlerter(AlerterConfig{Rules: DriftRules("m", []string{"x00"}, PSI, DefaultThresholds()[PSI], true)})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan pipeline.Result, 1)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- p.Serve(sctx, func(r pipeline.Result, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- r
		}, a.Triggers())
	}()
	for i, v := range []float64{0.05, 0.3, 0.35} {
		if _, err := a.Evaluate(ctx, t0.Add(time.Duration(i)*time.Minute), map[string]float64{"drift:x00:psi": v}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-results:
		if r.Trigger.Kind != pipeline.Alert || !strings.Contains(r.Trigger.Reason, "drift_x00_psi") || !r.GatesPassed || !r.Moved {
			t.Errorf("run = trigger %+v, gates passed %v, moved %v; want an alert-triggered run that moved %s", r.Trigger, r.GatesPassed, r.Moved, Canary)
		}
	case <-ctx.Done():
		t.Fatal("no pipeline run after the alert fired")
	}
	stop()
	<-served
	if v, err := reg.Resolve(ctx, "m", Canary); err != nil || v.Params["trigger"] != string(pipeline.Alert) {
		t.Errorf("Resolve(m@canary) = %+v, %v; want the alert-triggered version", v, err)
	}
}

// TestJudgeCanary checks both outcomes: a canary that ranks worse online stays canary, one
// that ranks better becomes champion.
func TestJudgeCanary(t *testing.T) {
	ctx := context.Background()
	reg := testRegistry(t)
	data1 := mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 2).Dataset
	data2 := mltest.Logistic(4000, []float64{1, -1, 0.5}, -1, 3).Dataset
	for _, d := range []pipeline.Definition{trainDef("v1", data1, registry.Champion), trainDef("v2", data2, Canary)} {
		pc := pipeline.DefaultConfig()
		pc.CheckpointDir = t.TempDir()
		p, err := pipeline.New(d, reg, pc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand}); err != nil {
			t.Fatal(err)
		}
	}
	aliases, _ := reg.Aliases(ctx, "m")
	if aliases[Canary] == aliases[registry.Champion] {
		t.Fatalf("aliases %v: want champion and canary on different versions", aliases)
	}
	champ, canary := aliases[registry.Champion], aliases[Canary]
	gates := registry.DefaultGates()
	gates.MinImprovement = -1
	cfg := CanaryConfig{Model: "m", MinLabelled: 500, MinPositives: 20, MinImprovement: 0.02, Gates: gates, Actor: "judge"}
	for _, tc := range []struct {
		name                string
		champSignal, canSig float64
		labels              int
		wantHolds, promoted bool
	}{
		{"too few labels", 2, 3, 100, false, false},
		{"canary ranks worse", 2, 0.5, 2000, false, false},
		{"canary ranks better", 0.5, 2, 2000, true, true},
	} {
		jc := DefaultJoinConfig()
		jc.Model = "m"
		j, _ := NewJoiner(jc, nil)
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range tc.labels {
			for _, side := range []struct {
				v   int
				sig float64
			}{{champ, tc.champSignal}, {canary, tc.canSig}} {
				y := float64(rng.IntN(2))
				id := fmt.Sprintf("%d-%d", side.v, i)
				j.AddPrediction(predlog.Prediction{ID: id, Model: "m", Version: side.v, Time: t0, Score: 1 / (1 + math.Exp(-(side.sig*(y-0.5) + rng.NormFloat64())))})
				j.AddOutcome(predlog.Outcome{ID: id, Model: "m", Label: y, Time: t0})
			}
		}
		v, err := JudgeCanary(ctx, reg, j, cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if v.Holds != tc.wantHolds || v.Promoted != tc.promoted {
			t.Errorf("%s: JudgeCanary = holds %v, promoted %v (%s); want %v, %v", tc.name, v.Holds, v.Promoted, v.Reason, tc.wantHolds, tc.promoted)
		}
	}
	if a, _ := reg.Aliases(ctx, "m"); a[registry.Champion] != canary {
		t.Errorf("champion = v%d after the canary held, want v%d", a[registry.Champion], canary)
	}
	if _, err := JudgeCanary(ctx, reg, nil, CanaryConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("JudgeCanary(zero config) = %v, want ErrInvalidConfig", err)
	}
}

// TestMetricsConventions registers everything on a fresh registry, exercises it, and
// checks the names and labels: base units, no id-like labels, everything namespaced.
func TestMetricsConventions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded; want a conflict error")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	d, scores := refData(rng, 2000)
	cfg := DefaultConfig()
	cfg.Model, cfg.MinSamples = "m", 10
	mon, _ := NewMonitor(cfg, d, scores, m)
	for i := range 100 {
		mon.Observe(t0, d.Row(i), scores[i])
	}
	mon.Observe(t0, []float64{math.NaN(), 0, 0}, 0.1)
	mon.Check(t0)
	jc := DefaultJoinConfig()
	jc.Model = "m"
	j, _ := NewJoiner(jc, m)
	j.AddPrediction(predlog.Prediction{ID: "a", Model: "m", Version: 1, Time: t0, Score: 0.9})
	j.AddOutcome(predlog.Outcome{ID: "a", Model: "m", Label: 1, Time: t0.Add(time.Hour)})
	j.Quality(1)
	a, _ := NewAlerter(AlerterConfig{Metrics: m, Rules: DriftRules("m", []string{"x"}, PSI, DefaultThresholds()[PSI], false)})
	a.Evaluate(context.Background(), t0, map[string]float64{"drift:x:psi": 1})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"model", "version", "feature", "method", "check", "window", "result", "metric", "alert", "severity", "state", "outcome"}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "casebook_monitoring_") {
			t.Errorf("metric %s is not namespaced casebook_monitoring_", name)
		}
		if mf.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if strings.Contains(name, "delay") && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("duration metric %s is not in seconds", name)
		}
		for _, mm := range mf.GetMetric() {
			for _, lp := range mm.GetLabel() {
				if !slices.Contains(allowed, lp.GetName()) {
					t.Errorf("metric %s has label %q, not one of the bounded labels %v", name, lp.GetName(), allowed)
				}
			}
		}
	}
	if len(mfs) < 8 {
		t.Errorf("gathered %d metric families, want the monitor's, joiner's and alerter's", len(mfs))
	}
}
