package walkthrough

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

// loopWorld drives the retraining loop on the real serving path: each request goes to a
// serving.Server (which routes champion or canary by the request key and writes the
// prediction log), each outcome is reported on the outcome stream after its label delay,
// and the monitoring.Loop reads both back from the event log and decides. The world's
// clock is event time: one request a minute, carried by each request as its EventTime.
type loopWorld struct {
	srv      *serving.Server
	loop     *monitoring.Loop
	pl       *monitoring.PredictionLog
	model    string
	rng      *rand.Rand
	clock    time.Time
	delay    time.Duration // mean label delay
	seq      int
	sent     int64
	waiting  []predlog.Outcome
	variants map[string]int // answers per rollout arm
	fallback int            // answers not from a model
	fired    []monitoring.Alert
}

// chunk sends n requests drawn from wd, reports the outcomes that are due, waits until the
// loop has read every record serving logged, and steps the loop at the world's clock.
func (w *loopWorld) chunk(ctx context.Context, wd world, n int) (monitoring.LoopStep, error) {
	x, y := wd.draw(w.rng, n)
	k := len(wd.w)
	for i := range n {
		w.seq++
		id := fmt.Sprintf("req-%07d", w.seq)
		res, err := w.srv.Infer(ctx, serving.Request{Model: w.model, Decoded: serving.Decoded{ID: id, Rows: 1, X: x[i*k : (i+1)*k], Key: id, EventTime: w.clock}})
		if err != nil {
			return monitoring.LoopStep{}, err
		}
		w.variants[res.Variant]++
		if res.Path != serving.PathPrimary {
			w.fallback++
		}
		d := time.Duration(w.rng.ExpFloat64() * float64(w.delay))
		w.waiting = append(w.waiting, predlog.Outcome{ID: id, Model: w.model, Label: y[i], Time: w.clock.Add(d), Kind: "label"})
		w.clock = w.clock.Add(time.Minute)
	}
	w.sent += int64(n)
	var due []predlog.Outcome
	keep := w.waiting[:0]
	for _, o := range w.waiting {
		if o.Time.After(w.clock) {
			keep = append(keep, o)
		} else {
			due = append(due, o)
		}
	}
	w.waiting = keep
	if len(due) > 0 {
		if err := w.pl.LogOutcomes(ctx, due...); err != nil {
			return monitoring.LoopStep{}, err
		}
	}
	// Serving logs off the request path: wait for the records, not for a clock.
	for {
		if _, err := w.loop.Read(ctx); err != nil {
			return monitoring.LoopStep{}, err
		}
		if w.loop.Seen() >= w.sent {
			break
		}
		select {
		case <-ctx.Done():
			return monitoring.LoopStep{}, fmt.Errorf("the loop read %d of %d logged predictions: %w", w.loop.Seen(), w.sent, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	st, err := w.loop.Step(ctx, w.clock)
	w.fired = append(w.fired, st.Alerts...)
	return st, err
}

// until sends chunks of 500 requests until done says so, at most max chunks, and returns
// the last step and every step that did something.
func (w *loopWorld) until(ctx context.Context, wd world, most int, done func(monitoring.LoopStep) bool) (monitoring.LoopStep, []monitoring.LoopStep, error) {
	var st monitoring.LoopStep
	var acted []monitoring.LoopStep
	for range most {
		var err error
		if st, err = w.chunk(ctx, wd, 500); err != nil {
			return st, acted, err
		}
		if st.Action != "observe" && st.Action != "canary-wait" && st.Action != "retrain-wait" {
			acted = append(acted, st)
		}
		if done(st) {
			break
		}
	}
	return st, acted, nil
}

// waitServing waits until the server serves what ok wants (it follows alias moves through
// the registry's watch, off the caller's path).
func waitServing(ctx context.Context, srv *serving.Server, model string, ok func(serving.ModelStatus) bool) bool {
	for {
		if st, err := srv.Status(model); err == nil && ok(st) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func retrainLoop(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "monitoring/retrain-loop",
		Summary: "The retraining loop on the real serving path: drift on served features → PSI alert (with hysteresis) → retraining on logged features joined with their outcomes → registry gates → canary alias, split by serving → online quality on joined outcomes → champion; every decision in the audit log.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			rig, err := openMonitoringRig(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer rig.done()
			const model = "risk"
			schema := ml.FloatSchema("amount_z", "velocity_1h", "merchant_risk", "device_age", "distance_home", "hour_sin")
			before := world{w: []float64{1.4, 0.9, -0.7, 0, 0.3, 0}, shift: make([]float64, 6), b: -2.4}
			after := world{w: []float64{0.3, 0.9, -0.7, 1.3, 0.3, 0}, shift: []float64{1.0, 0, 0, 0, 0, 0}, b: -2.4}
			rng := rand.New(rand.NewPCG(21, 1))
			gates := registry.DefaultGates()
			gates.ServingSchemaHash = schema.Hash()

			r.Step("Train v1 on four weeks of traffic and make it champion")
			x, y := before.draw(rng, 30_000)
			train := ml.Dataset{Schema: schema, X: x, Y: y}
			def := pipeline.Definition{Name: "risk-weekly", Model: model, Source: pipeline.NewMemorySource(train, monitorEpoch.AddDate(0, 0, -28), monitorEpoch),
				Train: trainLogReg, HoldoutFraction: 0.2, SplitSeed: 1, LatencySamples: 500, Gates: gates, Alias: registry.Champion,
				Actor: "pipeline/risk-weekly", CodeVersion: "walkthrough 1.7", IntendedUse: "Scoring transactions (Casebook walkthrough 1.7)."}
			v1, err := runPipeline(ctx, rig.reg, def, rig.ckpt, nil)
			if err != nil {
				return err
			}
			r.Measure("v1 holdout AUC", v1.Metrics["holdout"][ml.MetricAUC], "")
			r.Check("v1 is champion", v1.Moved)

			r.Step("Start serving.Server (champion, and 20%% of request keys to whatever the canary alias holds) logging every answer, and the loop reading that log")
			sc := serving.DefaultConfig()
			sc.Logger, sc.PredictionLog = cfg.Logger, rig.log
			mc := serving.DefaultModelConfig(model)
			mc.CanaryAlias, mc.CanaryPercent = monitoring.Canary, 20
			mc.SLA = 5 * time.Second // a busy machine must not turn answers into fallbacks
			sc.Models = []serving.ModelConfig{mc}
			srv, err := serving.New(ctx, rig.reg, sc)
			if err != nil {
				return err
			}
			defer srv.Close()
			if !waitServing(ctx, srv, model, func(s serving.ModelStatus) bool { return s.Primary == v1.Version }) {
				return fmt.Errorf("serving never loaded %s v%d", model, v1.Version)
			}
			lc := monitoring.DefaultLoopConfig(model)
			lc.Actor = "monitoring/loop"
			lc.Monitor.ActionThreshold = 0.5
			lc.Reference = 2000
			lc.Join.Horizon, lc.Join.Window, lc.Join.K, lc.Join.KeepRows = 14*24*time.Hour, 3000, 50, 20_000
			lc.MinTrainRows = 3000
			lc.Rules = monitoring.DriftRules(model, append(schema.Names(), monitoring.ScoreFeature), monitoring.PSI, monitoring.DefaultThresholds()[monitoring.PSI], true)
			lc.Rules = append(lc.Rules, monitoring.Rule{Name: "online_auc_decay", Model: model, Severity: monitoring.SeverityCritical, Signal: monitoring.DecaySignal(ml.MetricAUC),
				Fire: 0.05, Clear: 0.02, For: 2, ClearFor: 2, Summary: "online AUC 0.05 below the registry's holdout AUC"})
			lc.Train = def
			lc.Train.Name, lc.Train.Source = "risk-on-alert", nil
			lc.Pipeline.CheckpointDir, lc.Pipeline.Logger = rig.ckpt, cfg.Logger
			cg := gates
			cg.MinImprovement = -0.05 // offline sets differ (v1's holdout is pre-drift); online evidence decides
			lc.Judge = monitoring.CanaryConfig{MinLabelled: 800, MinPositives: 50, MinImprovement: 0.02, Gates: cg}
			loop, err := monitoring.NewLoop(ctx, lc, rig.log, rig.reg, rig.log, rig.m, cfg.Logger)
			if err != nil {
				return err
			}
			w := &loopWorld{srv: srv, loop: loop, pl: rig.pl, model: model, rng: rand.New(rand.NewPCG(5, 17)), clock: monitorEpoch,
				delay: 12 * time.Hour, variants: map[string]int{}}

			r.Step("Serve 4,000 requests; outcomes arrive ~12 h later; the loop steps every 500")
			st, acted, err := w.until(ctx, before, 8, func(monitoring.LoopStep) bool { return false })
			if err != nil {
				return err
			}
			r.Say("after 4,000 requests (%s of event time), PSI per feature: %s", w.clock.Sub(monitorEpoch).Round(time.Hour), psiLine(st.Drift))
			qA := loop.Joiner().Quality(v1.Version)
			r.Measure("v1 online AUC before drift", qA.AUC, "")
			r.Measure("joined outcomes", float64(qA.Labelled), "")
			r.Measure("label delay p50", qA.LabelDelayP50.Hours(), "h")
			r.Check("the loop read every answer serving logged, all from v1 as champion", loop.Seen() == w.sent && w.variants[registry.Champion] == int(w.sent) && w.fallback == 0)
			r.Check("the drift reference is the champion's first 2,000 served predictions", len(acted) == 1 && acted[0].Action == "reference" && loop.Monitor() != nil)
			r.Check("no alert fired on undrifted traffic", len(w.fired) == 0)

			r.Step("Inject drift: amount_z shifts by one standard deviation and device_age starts to matter")
			driftAt, sentAt := w.clock, w.sent
			st, _, err = w.until(ctx, after, 12, func(s monitoring.LoopStep) bool { return s.Action == "retrain-requested" })
			if err != nil {
				return err
			}
			if st.Drift == nil {
				r.Check("the loop took a drift reference", false)
				return nil
			}
			d, _ := st.Drift.Find("amount_z", monitoring.PSI)
			scd, _ := st.Drift.Find(monitoring.ScoreFeature, monitoring.PSI)
			r.Say("PSI per feature now: %s", psiLine(st.Drift))
			r.Measure("PSI amount_z", d.Value, "")
			r.Measure("PSI score", scd.Value, "")
			r.Measure("action rate (score ≥ 0.5), reference → live", st.Drift.ActionRate, fmt.Sprintf("(reference %.3f)", st.Drift.ReferenceActionRate))
			r.Measure("requests from drift to the retraining request", float64(w.sent-sentAt), "")
			var names []string
			for _, a := range w.fired {
				r.Say("alert %s %s: %s = %.3f (fires at %g, clears at %g)", a.Rule, a.State, a.Signal, a.Value, a.Fire, a.Clear)
				names = append(names, a.Rule)
			}
			r.Say("loop: %s", st.Detail)
			r.Check("the amount_z drift alert fired (two checks in a row past PSI 0.2) and the loop asked for a retraining", st.Action == "retrain-requested" && slices.Contains(names, "drift_amount_z_psi"))
			r.Check("no alert on features that did not move (velocity_1h, merchant_risk, hour_sin)", !slices.Contains(names, "drift_velocity_1h_psi") && !slices.Contains(names, "drift_merchant_risk_psi") && !slices.Contains(names, "drift_hour_sin_psi"))

			r.Step("The loop waits for outcomes, then runs the pipeline on logged features joined with them since the drift")
			seen := len(w.fired)
			st, _, err = w.until(ctx, after, 20, func(s monitoring.LoopStep) bool { return s.Run != nil })
			if err != nil {
				return err
			}
			for _, a := range w.fired[seen:] {
				r.Say("alert %s %s: %s = %.3f (fires at %g, clears at %g)", a.Rule, a.State, a.Signal, a.Value, a.Fire, a.Clear)
			}
			v1v, err := rig.reg.Resolve(ctx, model, fmt.Sprint(v1.Version))
			if err != nil {
				return err
			}
			dec := loop.Joiner().CheckDecay(v1v, monitoring.DefaultDecayConfig())
			r.Measure("v1 online AUC on joined outcomes", dec.Online, "")
			r.Measure("v1 decay vs registry holdout AUC", dec.Drop, "AUC")
			r.Check("the decay detector sees v1 fall ≥ 0.05 AUC below its holdout AUC once labels arrive", dec.Decayed)
			if st.Run == nil {
				r.Check("the loop ran the pipeline", false)
				return nil
			}
			v2 := *st.Run
			r.Say("loop: %s", st.Detail)
			r.Measure("training rows (joined, predicted since the drift)", float64(v2.Rows), "")
			r.Measure("v2 holdout AUC", v2.Metrics["holdout"][ml.MetricAUC], "")
			sayGates(r, v2.Gates)
			r.Check("v2 trained on rows predicted after the drift, passed the gates and moved to the canary alias",
				!v2.From.Before(driftAt) && v2.GatesPassed && v2.Moved && st.Phase == monitoring.PhaseCanary)
			canaryServed := waitServing(ctx, srv, model, func(s serving.ModelStatus) bool { return s.Canary == v2.Version })
			r.Check("serving picked the canary alias up from the registry", canaryServed)

			r.Step("Canary: serving sends 20%% of request keys to v2; the loop judges both on outcomes joined since")
			was := maps.Clone(w.variants)
			st, _, err = w.until(ctx, after, 40, func(s monitoring.LoopStep) bool { return s.Phase != monitoring.PhaseCanary })
			if err != nil {
				return err
			}
			canaryN, champN := w.variants[monitoring.Canary]-was[monitoring.Canary], w.variants[registry.Champion]-was[registry.Champion]
			share := float64(canaryN) / float64(canaryN+champN)
			r.Measure("canary share of answers", share, fmt.Sprintf("(%d of %d)", canaryN, canaryN+champN))
			r.Check("the split is serving's, by request key: about 20% (16–24%)", share >= 0.16 && share <= 0.24)
			if st.Verdict == nil {
				r.Check("the loop judged the canary", false)
				return nil
			}
			vd := st.Verdict
			r.Measure("canary v2 online AUC", vd.Canary.AUC, fmt.Sprintf("(%d joined)", vd.Canary.Labelled))
			r.Measure("champion v1 online AUC, same period", vd.Champion.AUC, fmt.Sprintf("(%d joined)", vd.Champion.Labelled))
			r.Measure("canary precision at 50", vd.Canary.PrecisionAtK, "")
			r.Measure("champion precision at 50", vd.Champion.PrecisionAtK, "")
			r.Say("verdict: %s", vd.Reason)
			sayGates(r, vd.Gates)
			r.Check("the canary held online on ≥ 800 joined outcomes a side and was promoted to champion through the gates",
				st.Action == "promoted" && vd.Promoted && vd.Canary.Labelled >= 800 && vd.Champion.Labelled >= 800)
			promoted := waitServing(ctx, srv, model, func(s serving.ModelStatus) bool { return s.Primary == v2.Version && s.Canary == 0 })
			r.Check("serving answers with v2 as champion and the canary split has ended", promoted)

			r.Step("The new champion's own traffic becomes the reference; the drift alert resolves")
			w.fired = nil
			st, _, err = w.until(ctx, after, 16, func(monitoring.LoopStep) bool {
				return loop.Monitor() != nil && !slices.ContainsFunc(loop.Alerter().Firing(), func(a monitoring.Alert) bool { return strings.HasPrefix(a.Rule, "drift_") })
			})
			if err != nil {
				return err
			}
			r.Say("PSI per feature against the new reference: %s", psiLine(st.Drift))
			for _, a := range w.fired {
				r.Say("alert %s %s: %s = %.3f", a.Rule, a.State, a.Signal, a.Value)
			}
			r.Check("no drift alert is firing any more", loop.Monitor() != nil && !slices.ContainsFunc(loop.Alerter().Firing(), func(a monitoring.Alert) bool { return strings.HasPrefix(a.Rule, "drift_") }))
			var transitions int
			if _, err := rig.log.Replay(ctx, monitoring.AlertStream, eventlog.FromBeginning(), nil, func(context.Context, *eventlog.Message) error { transitions++; return nil }); err != nil {
				return err
			}
			r.Measure("alert transitions in the ALERTS stream", float64(transitions), "")

			r.Step("The audit log tells the story")
			entries, err := rig.reg.Audit(ctx, model)
			if err != nil {
				return err
			}
			var story []string
			for _, e := range entries {
				r.Say("#%d %s %s %s v%d→v%d: %s", e.Seq, e.Actor, e.Action, e.Alias, e.From, e.To, e.Reason)
				story = append(story, e.Action+"@"+e.Alias)
			}
			_, verr := rig.reg.VerifyAudit(ctx)
			want := []string{"note@", "register@", "promote@canary", "note@", "promote@champion", "remove-alias@canary"}
			r.Check("after v1's registration and promotion: retraining requested, v2 registered and moved to canary, canary started, v2 promoted, canary removed; the chain verifies",
				len(story) >= len(want) && slices.Equal(story[len(story)-len(want):], want) && verr == nil)
			return nil
		},
	}
}
