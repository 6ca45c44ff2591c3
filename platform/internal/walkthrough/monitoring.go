package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
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
)

// monitoringScenarios are the scenarios of walkthrough 1.7 (monitoring, drift, feedback
// loops) and the 1.6 question "better offline, worse online". They run on the local
// default: an embedded event log and a filesystem registry in a temporary directory.
func monitoringScenarios(cfg Config) scenario.Set {
	return scenario.Set{retrainLoop(cfg), delayedLabels(cfg), leakyFeature(cfg)}
}

var monitorEpoch = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// world draws transactions: x_j ~ N(shift_j, 1), y ~ Bernoulli(σ(b + w·x)). Changing shift
// is covariate drift; changing w is concept drift.
type world struct {
	w, shift []float64
	b        float64
}

func (wd world) draw(rng *rand.Rand, n int) ([]float64, []float64) {
	k := len(wd.w)
	x, y := make([]float64, n*k), make([]float64, n)
	for i := range n {
		z := wd.b
		for j := range k {
			v := rng.NormFloat64() + wd.shift[j]
			x[i*k+j] = v
			z += wd.w[j] * v
		}
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
	}
	return x, y
}

// route is one served version: the model, its registry version and the alias that routed
// traffic to it.
type route struct {
	model   ml.Model
	version int
	alias   string
}

// servingSim plays the part of serving and of the world around it: it scores requests,
// logs every prediction through monitoring.PredictionLog (the call serving makes), reveals
// each outcome after its label delay, and reads both back from the event log into the
// joiner, as a production consumer would.
type servingSim struct {
	r       *scenario.Report
	log     *eventlog.Log
	pl      *monitoring.PredictionLog
	join    *monitoring.Joiner
	schema  ml.Schema
	rng     *rand.Rand
	clock   time.Time
	step    time.Duration // event time between requests
	delay   time.Duration // mean label delay
	seq     int
	waiting []predlog.Outcome
	read    map[string]uint64 // last sequence read per stream
	model   string
}

// serve scores n requests from wd, split between routes by a hash of the request id
// (canary share in percent), logs predictions and observes the first route's in mon. It
// calls check every `every` requests after revealing due outcomes.
func (s *servingSim) serve(ctx context.Context, wd world, n, every int, routes []route, canaryPct int, mon *monitoring.Monitor, check func() error) error {
	k := s.schema.Len()
	for done := 0; done < n; done += every {
		m := min(every, n-done)
		x, y := wd.draw(s.rng, m)
		ids := make([]string, m)
		groups := map[int][]int{}
		for i := range m {
			s.seq++
			ids[i] = fmt.Sprintf("req-%07d", s.seq)
			g := 0
			if len(routes) > 1 {
				h := fnv.New32a()
				h.Write([]byte(ids[i]))
				if int(h.Sum32()%100) < canaryPct {
					g = 1
				}
			}
			groups[g] = append(groups[g], i)
		}
		at := s.clock
		for g, rows := range groups {
			rt := routes[g]
			gx := make([]float64, 0, len(rows)*k)
			gids := make([]string, len(rows))
			for i, r := range rows {
				gx = append(gx, x[r*k:(r+1)*k]...)
				gids[i] = ids[r]
			}
			scores := make([]float64, len(rows))
			b := ml.Batch{Schema: s.schema, X: gx}
			if err := rt.model.Predict(b, scores); err != nil {
				return err
			}
			// One call per scored batch, as serving makes it.
			if err := s.pl.LogBatch(ctx, s.model, rt.version, rt.alias, at, gids, b, scores); err != nil {
				return err
			}
			for i, r := range rows {
				t := at // a batch shares its event time, as LogBatch records it
				if g == 0 && mon != nil {
					if err := mon.Observe(t, gx[i*k:(i+1)*k], scores[i]); err != nil {
						return err
					}
				}
				d := time.Duration(s.rng.ExpFloat64() * float64(s.delay))
				s.waiting = append(s.waiting, predlog.Outcome{ID: ids[r], Model: s.model, Label: y[r], Time: t.Add(d), Kind: "label"})
			}
		}
		s.clock = at.Add(time.Duration(m) * s.step)
		if err := s.reveal(ctx); err != nil {
			return err
		}
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
	}
	return nil
}

// reveal publishes the outcomes whose time has come and feeds the joiner from the log.
func (s *servingSim) reveal(ctx context.Context) error {
	var due []predlog.Outcome
	keep := s.waiting[:0]
	for _, o := range s.waiting {
		if !o.Time.After(s.clock) {
			due = append(due, o)
		} else {
			keep = append(keep, o)
		}
	}
	s.waiting = keep
	for len(due) > 0 {
		n := min(len(due), 1000)
		if err := s.pl.LogOutcomes(ctx, due[:n]...); err != nil {
			return err
		}
		due = due[n:]
	}
	h := s.join.Handler()
	for _, stream := range []string{predlog.PredictionStream, predlog.OutcomeStream} {
		st, err := s.log.Replay(ctx, stream, eventlog.FromSequence(s.read[stream]+1), nil, h)
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if st.Events > 0 {
			s.read[stream] = st.LastSeq
		}
	}
	s.join.Advance(s.clock)
	return nil
}

// monitoringRig opens what every monitoring scenario needs: an event log with the three
// streams, a registry, a checkpoint directory and the shared metrics.
type monitoringRig struct {
	log  *eventlog.Log
	reg  *registry.Registry
	ckpt string
	m    *monitoring.Metrics
	pl   *monitoring.PredictionLog
	done func()
}

func openMonitoringRig(ctx context.Context, cfg Config, r *scenario.Report) (*monitoringRig, error) {
	// Always the embedded log: the scenario recreates the PREDICTIONS, OUTCOMES and ALERTS
	// streams, and must never do that to a real server's prediction log.
	l, err := openLog(ctx, Config{Logger: cfg.Logger}, r)
	if err != nil {
		return nil, err
	}
	for _, sc := range monitoring.Streams(0) {
		if err := freshStream(ctx, l, sc); err != nil {
			l.Close()
			return nil, err
		}
	}
	reg, _, regDone, err := openRegistry(ctx, Config{Logger: cfg.Logger}, r)
	if err != nil {
		l.Close()
		return nil, err
	}
	ckpt, err := os.MkdirTemp("", "casebook-pipeline-*")
	if err != nil {
		regDone()
		l.Close()
		return nil, err
	}
	m, err := monitoring.NewMetrics(nil)
	if err != nil {
		return nil, err
	}
	pl, err := monitoring.NewPredictionLog(l, m, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &monitoringRig{log: l, reg: reg, ckpt: ckpt, m: m, pl: pl, done: func() {
		os.RemoveAll(ckpt)
		regDone()
		l.Close()
	}}, nil
}

func (rig *monitoringRig) sim(r *scenario.Report, model string, schema ml.Schema, join *monitoring.Joiner, seed uint64) *servingSim {
	return &servingSim{r: r, log: rig.log, pl: rig.pl, join: join, schema: schema, rng: rand.New(rand.NewPCG(seed, 17)), clock: monitorEpoch,
		step: time.Minute, delay: 12 * time.Hour, read: map[string]uint64{}, model: model}
}

// newMonitor builds a monitor whose reference is a model's training data and its scores
// on it.
func newMonitor(model string, m ml.Model, ref ml.Dataset, metrics *monitoring.Metrics) (*monitoring.Monitor, error) {
	scores := make([]float64, ref.Rows())
	if err := m.Predict(ref.Batch(), scores); err != nil {
		return nil, err
	}
	mc := monitoring.DefaultConfig()
	mc.Model, mc.Window, mc.ActionThreshold = model, monitoring.WindowConfig{Size: 2000}, 0.5
	return monitoring.NewMonitor(mc, ref, scores, metrics)
}

func psiLine(rep monitoring.Report) string {
	var parts []string
	for _, d := range rep.Drift {
		if d.Method == monitoring.PSI {
			parts = append(parts, fmt.Sprintf("%s %.3f", d.Feature, d.Value))
		}
	}
	return strings.Join(parts, ", ")
}

func retrainLoop(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "monitoring/retrain-loop",
		Summary: "Inject drift → PSI alert (with hysteresis) → alert-triggered retraining on joined outcomes → registry gates → canary → online quality holds → champion, with the numbers at each step.",
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
			champ, champV, err := rig.reg.Load(ctx, model, registry.Champion)
			if err != nil {
				return err
			}

			r.Step("Serve, log every prediction, join outcomes that arrive ~12 h later, check drift every 500 requests")
			mon, err := newMonitor(model, champ, train, rig.m)
			if err != nil {
				return err
			}
			jc := monitoring.DefaultJoinConfig()
			jc.Model, jc.Horizon, jc.Window, jc.K, jc.KeepRows = model, 14*24*time.Hour, 3000, 50, 20_000
			join, err := monitoring.NewJoiner(jc, rig.m)
			if err != nil {
				return err
			}
			psiTh := monitoring.DefaultThresholds()[monitoring.PSI]
			rules := monitoring.DriftRules(model, append(schema.Names(), monitoring.ScoreFeature), monitoring.PSI, psiTh, true)
			rules = append(rules, monitoring.Rule{Name: "online_auc_decay", Model: model, Severity: monitoring.SeverityCritical, Signal: monitoring.DecaySignal(ml.MetricAUC),
				Fire: 0.05, Clear: 0.02, For: 2, ClearFor: 2, Summary: "online AUC 0.05 below the registry's holdout AUC"})
			alerter, err := monitoring.NewAlerter(monitoring.AlerterConfig{Rules: rules, Publisher: rig.log, Logger: cfg.Logger, Metrics: rig.m})
			if err != nil {
				return err
			}
			s := rig.sim(r, model, schema, join, 5)
			var last monitoring.Report
			var fired []monitoring.Alert
			checks := 0
			check := func(mon *monitoring.Monitor, version int) func() error {
				return func() error {
					checks++
					last = mon.Check(s.clock)
					sig := last.Signals()
					if v, err := rig.reg.Resolve(ctx, model, fmt.Sprint(version)); err == nil {
						for k, val := range join.CheckDecay(v, monitoring.DefaultDecayConfig()).Signals() {
							sig[k] = val
						}
					}
					out, err := alerter.Evaluate(ctx, s.clock, sig)
					fired = append(fired, out...)
					return err
				}
			}
			champRoute := []route{{champ, champV.Number, registry.Champion}}
			if err := s.serve(ctx, before, 4000, 500, champRoute, 0, mon, check(mon, champV.Number)); err != nil {
				return err
			}
			r.Say("after 4,000 requests (%s of event time), PSI per feature: %s", s.clock.Sub(monitorEpoch).Round(time.Hour), psiLine(last))
			qA := join.Quality(champV.Number)
			r.Measure("v1 online AUC before drift", qA.AUC, "")
			r.Measure("joined outcomes", float64(qA.Labelled), "")
			r.Measure("label delay p50", qA.LabelDelayP50.Hours(), "h")
			r.Check("no alert fired on undrifted traffic", len(fired) == 0)

			r.Step("Inject drift: amount_z shifts by one standard deviation and device_age starts to matter")
			driftAt, checksAt := s.clock, checks
			var alertAfter int
			var trig pipeline.Trigger
			gotTrig := false
			for range 12 {
				if err := s.serve(ctx, after, 500, 500, champRoute, 0, mon, check(mon, champV.Number)); err != nil {
					return err
				}
				select {
				case trig = <-alerter.Triggers():
					gotTrig, alertAfter = true, (checks-checksAt)*500
				default:
				}
				if gotTrig {
					break
				}
			}
			d, _ := last.Find("amount_z", monitoring.PSI)
			sc, _ := last.Find(monitoring.ScoreFeature, monitoring.PSI)
			r.Say("PSI per feature now: %s", psiLine(last))
			r.Measure("PSI amount_z", d.Value, "")
			r.Measure("PSI score", sc.Value, "")
			r.Measure("action rate (score ≥ 0.5), reference → live", last.ActionRate, fmt.Sprintf("(reference %.3f)", last.ReferenceActionRate))
			r.Measure("requests from drift to alert", float64(alertAfter), "")
			var names []string
			for _, a := range fired {
				r.Say("alert %s %s: %s = %.3f (fires at %g, clears at %g)", a.Rule, a.State, a.Signal, a.Value, a.Fire, a.Clear)
				names = append(names, a.Rule)
			}
			r.Check("the amount_z drift alert fired (two checks in a row past PSI 0.2) and sent a retraining trigger", gotTrig && slices.Contains(names, "drift_amount_z_psi"))
			r.Check("no alert on features that did not move (velocity_1h, merchant_risk, hour_sin)", !slices.Contains(names, "drift_velocity_1h_psi") && !slices.Contains(names, "drift_merchant_risk_psi") && !slices.Contains(names, "drift_hour_sin_psi"))

			r.Step("Wait for labels: the alert came before the outcomes that say how bad it is")
			seen := len(fired)
			if err := s.serve(ctx, after, 3000, 500, champRoute, 0, mon, check(mon, champV.Number)); err != nil {
				return err
			}
			qB := join.Quality(champV.Number)
			dec := join.CheckDecay(champV, monitoring.DefaultDecayConfig())
			r.Measure("v1 online AUC on joined outcomes (mixed window)", qB.AUC, "")
			r.Measure("v1 decay vs registry holdout AUC", dec.Drop, "AUC")
			for _, a := range fired[seen:] {
				r.Say("alert %s %s: %s = %.3f (fires at %g, clears at %g)", a.Rule, a.State, a.Signal, a.Value, a.Fire, a.Clear)
			}
			r.Check("the decay detector sees v1 fall ≥ 0.05 AUC below its holdout AUC once labels arrive", dec.Decayed)

			r.Step("The trigger runs the pipeline on logged features joined with their outcomes since the drift")
			source := pipeline.SourceFunc(func(context.Context) (pipeline.TrainingSet, error) {
				d, from, to := join.Labelled(schema, driftAt)
				return pipeline.TrainingSet{Data: d, From: from, To: to, Fingerprint: d.Fingerprint()}, nil
			})
			rdef := def
			rdef.Name, rdef.Source, rdef.Alias, rdef.Actor = "risk-on-alert", source, monitoring.Canary, "monitoring/alerter"
			pc := pipeline.DefaultConfig()
			pc.CheckpointDir, pc.Logger = rig.ckpt, cfg.Logger
			p, err := pipeline.New(rdef, rig.reg, pc)
			if err != nil {
				return err
			}
			r.Say("trigger: %s (%s)", trig.Kind, trig.Reason)
			v2, err := p.Run(ctx, trig)
			if err != nil {
				return err
			}
			r.Measure("training rows (joined since the drift)", float64(v2.Rows), "")
			r.Measure("v2 holdout AUC", v2.Metrics["holdout"][ml.MetricAUC], "")
			sayGates(r, v2.Gates)
			r.Check("v2 passed the gates and moved to the canary alias", v2.GatesPassed && v2.Moved)

			r.Step("Canary: 20%% of traffic goes to v2 by request hash; both sides' outcomes are joined")
			canary, canV, err := rig.reg.Load(ctx, model, monitoring.Canary)
			if err != nil {
				return err
			}
			routes := []route{{champ, champV.Number, registry.Champion}, {canary, canV.Number, monitoring.Canary}}
			if err := s.serve(ctx, after, 8000, 500, routes, 20, mon, check(mon, champV.Number)); err != nil {
				return err
			}
			cg := gates
			cg.MinImprovement = -0.05 // offline sets differ (v1's holdout is pre-drift); online evidence decides
			verdict, err := monitoring.JudgeCanary(ctx, rig.reg, join, monitoring.CanaryConfig{Model: model, MinLabelled: 800, MinPositives: 50,
				MinImprovement: 0.02, Gates: cg, Actor: "monitoring/canary-judge"})
			if err != nil && !errors.As(err, new(*registry.GateError)) {
				return err
			}
			r.Measure("canary v2 online AUC", verdict.Canary.AUC, fmt.Sprintf("(%d joined)", verdict.Canary.Labelled))
			r.Measure("champion v1 online AUC, same period", verdict.Champion.AUC, fmt.Sprintf("(%d joined)", verdict.Champion.Labelled))
			r.Measure("canary precision at 50", verdict.Canary.PrecisionAtK, "")
			r.Measure("champion precision at 50", verdict.Champion.PrecisionAtK, "")
			r.Say("verdict: %s", verdict.Reason)
			sayGates(r, verdict.Gates)
			r.Check("the canary held online and was promoted to champion through the gates", verdict.Holds && verdict.Promoted)

			r.Step("The new champion's training data becomes the reference; the drift alert resolves")
			newChamp, newV, err := rig.reg.Load(ctx, model, registry.Champion)
			if err != nil {
				return err
			}
			ref, _, _ := join.Labelled(schema, driftAt)
			mon2, err := newMonitor(model, newChamp, ref, rig.m)
			if err != nil {
				return err
			}
			fired = nil
			if err := s.serve(ctx, after, 2000, 500, []route{{newChamp, newV.Number, registry.Champion}}, 0, mon2, check(mon2, newV.Number)); err != nil {
				return err
			}
			r.Say("PSI per feature against the new reference: %s", psiLine(last))
			for _, a := range fired {
				r.Say("alert %s %s: %s = %.3f", a.Rule, a.State, a.Signal, a.Value)
			}
			r.Check("no drift alert is firing any more", !slices.ContainsFunc(alerter.Firing(), func(a monitoring.Alert) bool { return strings.HasPrefix(a.Rule, "drift_") }))
			var transitions int
			if _, err := rig.log.Replay(ctx, monitoring.AlertStream, eventlog.FromBeginning(), nil, func(context.Context, *eventlog.Message) error { transitions++; return nil }); err != nil {
				return err
			}
			r.Measure("alert transitions in the ALERTS stream", float64(transitions), "")
			return nil
		},
	}
}

func leakyFeature(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "monitoring/leaky-feature",
		Summary: "A feature computed with data from after the label looks brilliant offline and is useless online; the decay detector, per-feature drift and score drift show where.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			rig, err := openMonitoringRig(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer rig.done()
			const model = "risk-leaky"
			honest := []string{"amount_z", "velocity_1h", "merchant_risk", "device_age", "distance_home"}
			schema := ml.Schema{Features: append(ml.FloatSchema(honest...).Features, ml.Feature{Name: "chargebacks_30d", Type: ml.Int})}
			wd := world{w: []float64{1.2, 0.9, -0.7, 0.5, 0.3}, shift: make([]float64, 5), b: -2.4}
			rng := rand.New(rand.NewPCG(33, 1))
			// leak appends chargebacks_30d. Offline it was computed over a window that ends
			// after the label date, so it counts the label's own chargeback; online, at
			// scoring time, that chargeback has not happened yet.
			leak := func(x, y []float64, online bool) []float64 {
				out := make([]float64, 0, len(y)*6)
				for i := range y {
					out = append(out, x[i*5:(i+1)*5]...)
					c := 0.0
					if rng.Float64() < 0.02 {
						c = 1 // an older, genuine chargeback
					}
					if !online && y[i] == 1 && rng.Float64() < 0.85 {
						c++
					}
					out = append(out, c)
				}
				return out
			}
			x, y := wd.draw(rng, 30_000)
			train := ml.Dataset{Schema: schema, X: leak(x, y, false), Y: y}

			r.Step("Train with the leaky feature, and without it")
			gates := registry.DefaultGates()
			def := pipeline.Definition{Name: "risk-leaky", Model: model, Source: pipeline.NewMemorySource(train, monitorEpoch.AddDate(0, 0, -28), monitorEpoch),
				Train: trainLogReg, HoldoutFraction: 0.2, SplitSeed: 1, LatencySamples: 500, Gates: gates, Alias: registry.Champion,
				Actor: "pipeline/risk-leaky", CodeVersion: "walkthrough 1.7"}
			res, err := runPipeline(ctx, rig.reg, def, rig.ckpt, nil)
			if err != nil {
				return err
			}
			honestTrain, err := train.SelectFeatures(honest)
			if err != nil {
				return err
			}
			honestModel, err := trainLogReg(ctx, honestTrain)
			if err != nil {
				return err
			}
			offline := res.Metrics["holdout"][ml.MetricAUC]
			_, hold := honestTrain.Split(0.8, 1)
			hm, err := ml.Evaluate(honestModel, hold)
			if err != nil {
				return err
			}
			r.Measure("holdout AUC with chargebacks_30d", offline, "")
			r.Measure("holdout AUC without it", hm[ml.MetricAUC], "")
			leaky, v, err := rig.reg.Load(ctx, model, registry.Champion)
			if err != nil {
				return err
			}
			w, _ := leaky.(*ml.LogReg).Coefficients()
			r.Say("coefficients: %s", coefLine(schema, w))
			r.Check("offline, the leaky model looks far better (holdout AUC ≥ 0.95 and ≥ 0.1 above the honest model)", offline >= 0.95 && offline-hm[ml.MetricAUC] >= 0.1)

			r.Step("Serve it: online, chargebacks_30d only holds old chargebacks")
			mon, err := newMonitor(model, leaky, train, rig.m)
			if err != nil {
				return err
			}
			jc := monitoring.DefaultJoinConfig()
			jc.Model, jc.Horizon, jc.Window, jc.K = model, 14*24*time.Hour, 5000, 50
			join, err := monitoring.NewJoiner(jc, rig.m)
			if err != nil {
				return err
			}
			s := rig.sim(r, model, schema, join, 9)
			var last monitoring.Report
			for range 8 {
				xs, ys := wd.draw(rng, 1000)
				if err := s.serveRows(ctx, leak(xs, ys, true), ys, route{leaky, v.Number, registry.Champion}, mon); err != nil {
					return err
				}
				last = mon.Check(s.clock)
			}
			s.clock = s.clock.Add(5 * 24 * time.Hour) // let the last labels arrive
			if err := s.reveal(ctx); err != nil {
				return err
			}
			dec := join.CheckDecay(v, monitoring.DefaultDecayConfig())
			q := join.Quality(v.Number)
			_, lhold := train.Split(0.8, 1)
			lp := make([]float64, lhold.Rows())
			if err := leaky.Predict(lhold.Batch(), lp); err != nil {
				return err
			}
			_, offRecall := ml.PrecisionRecallAt(lhold.Y, lp, 0.5)
			r.Measure("online AUC (joined outcomes)", q.AUC, fmt.Sprintf("(%d joined)", q.Labelled))
			r.Measure("decay: holdout AUC − online AUC", dec.Drop, "AUC")
			r.Measure("recall at the action threshold 0.5, holdout", offRecall, "")
			r.Measure("recall at the action threshold 0.5, online", q.RecallAtAction, "")
			r.Measure("online mean score vs positive rate", q.MeanScore, fmt.Sprintf("(positive rate %.3f)", q.PositiveRate))
			r.Say("the ranking survives on the honest features, but the decisions do not: the threshold was tuned on a feature that is never there online")
			r.Check("the decay detector flags it (online ≥ 0.05 AUC below offline, on enough labels)", dec.Decayed)
			r.Check("online recall at the action threshold is under half the holdout's", q.RecallAtAction < offRecall/2)

			r.Step("What monitoring shows: which input moved, and the score with it")
			var maxFeat string
			var maxPSI float64
			for _, d := range last.Drift {
				if d.Method != monitoring.PSI {
					continue
				}
				r.Say("%-16s PSI %.3f (%s)", d.Feature, d.Value, d.Status)
				if d.Feature != monitoring.ScoreFeature && d.Value > maxPSI {
					maxFeat, maxPSI = d.Feature, d.Value
				}
			}
			r.Measure("live action rate", last.ActionRate, fmt.Sprintf("(reference %.3f)", last.ReferenceActionRate))
			worst := last.Worst()
			others := true
			for _, f := range honest {
				others = others && worst[f] != monitoring.StatusAlert
			}
			r.Check("chargebacks_30d is the input with the largest PSI, past the alert level, and no honest feature alerts", maxFeat == "chargebacks_30d" && maxPSI >= 0.2 && others)
			r.Check("the score distribution drifted too (PSI past the alert level)", worst[monitoring.ScoreFeature] == monitoring.StatusAlert)

			r.Step("The honest model, served the same way, keeps its offline promise")
			var hy, hp []float64
			for range 4 {
				xs, ys := wd.draw(rng, 1000)
				p := make([]float64, len(ys))
				if err := honestModel.Predict(ml.Batch{Schema: honestTrain.Schema, X: xs}, p); err != nil {
					return err
				}
				hy, hp = append(hy, ys...), append(hp, p...)
			}
			honestOnline := ml.AUC(hy, hp)
			r.Measure("honest model online AUC", honestOnline, "")
			r.Check("the honest model's online AUC is within 0.03 of its holdout AUC", math.Abs(honestOnline-hm[ml.MetricAUC]) <= 0.03)
			return nil
		},
	}
}

func coefLine(s ml.Schema, w []float64) string {
	parts := make([]string, len(w))
	for i, f := range s.Features {
		parts[i] = fmt.Sprintf("%s %+.2f", f.Name, w[i])
	}
	return strings.Join(parts, ", ")
}

// serveRows scores given rows (already carrying their online features) through one route,
// logs them, observes them and queues their outcomes.
func (s *servingSim) serveRows(ctx context.Context, x, y []float64, rt route, mon *monitoring.Monitor) error {
	k := s.schema.Len()
	n := len(y)
	ids := make([]string, n)
	for i := range ids {
		s.seq++
		ids[i] = fmt.Sprintf("req-%07d", s.seq)
	}
	scores := make([]float64, n)
	b := ml.Batch{Schema: s.schema, X: x}
	if err := rt.model.Predict(b, scores); err != nil {
		return err
	}
	if err := s.pl.LogBatch(ctx, s.model, rt.version, rt.alias, s.clock, ids, b, scores); err != nil {
		return err
	}
	for i := range n {
		t := s.clock
		if err := mon.Observe(t, x[i*k:(i+1)*k], scores[i]); err != nil {
			return err
		}
		d := time.Duration(s.rng.ExpFloat64() * float64(s.delay))
		s.waiting = append(s.waiting, predlog.Outcome{ID: ids[i], Model: s.model, Label: y[i], Time: t.Add(d), Kind: "chargeback"})
	}
	s.clock = s.clock.Add(time.Duration(n) * s.step)
	return s.reveal(ctx)
}

func delayedLabels(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "monitoring/delayed-labels",
		Summary: "Concept drift with chargebacks that arrive days later: input and score drift stay silent, label delay is measured, and the decay detector fires only once enough labels have matured.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			const (
				model   = "risk"
				perDay  = 200
				days    = 90
				driftOn = 20
			)
			schema := ml.FloatSchema("amount_z", "velocity_1h", "merchant_risk", "device_age")
			before := world{w: []float64{1.4, 0.9, -0.7, 0.5}, shift: make([]float64, 4), b: -2.2}
			after := world{w: []float64{-0.6, 0.9, -0.7, 0.5}, shift: make([]float64, 4), b: -2.2}
			rng := rand.New(rand.NewPCG(44, 1))

			r.Step("Train on 30 days before the change")
			x, y := before.draw(rng, 20_000)
			train := ml.Dataset{Schema: schema, X: x, Y: y}
			fit, hold := train.Split(0.8, 1)
			m, err := trainLogReg(ctx, fit)
			if err != nil {
				return err
			}
			off, err := ml.Evaluate(m, hold)
			if err != nil {
				return err
			}
			v := registry.Version{Model: model, Number: 1, Metrics: map[string]ml.Metrics{"holdout": off}}
			r.Measure("holdout AUC", off[ml.MetricAUC], "")
			r.Say("on day %d the world changes: amount_z stops meaning risk and starts meaning safety; no input's distribution moves", driftOn)

			r.Step("Serve 90 days; chargebacks arrive after a log-normal delay (median 7 days); no chargeback in 30 days means not fraud")
			mon, err := newMonitor(model, m, train, nil)
			if err != nil {
				return err
			}
			jc := monitoring.DefaultJoinConfig()
			jc.Model, jc.Horizon, jc.ImplicitNegative, jc.Window, jc.K = model, 30*24*time.Hour, true, 2000, 50
			join, err := monitoring.NewJoiner(jc, nil)
			if err != nil {
				return err
			}
			alerter, err := monitoring.NewAlerter(monitoring.AlerterConfig{Logger: cfg.Logger, Rules: []monitoring.Rule{
				{Name: "online_auc_decay", Model: model, Severity: monitoring.SeverityCritical, Signal: monitoring.DecaySignal(ml.MetricAUC), Fire: 0.05, Clear: 0.02, For: 2, ClearFor: 2},
				{Name: "score_drift", Model: model, Severity: monitoring.SeverityWarning, Signal: "drift:score:psi", Fire: 0.2, Clear: 0.1, For: 2, ClearFor: 2},
			}})
			if err != nil {
				return err
			}
			type pending struct {
				at time.Time
				o  predlog.Outcome
			}
			var queue []pending
			var maxPSI float64
			detectDay, seq := -1, 0
			var aucAt = map[int]float64{}
			for day := range days {
				wd := before
				if day >= driftOn {
					wd = after
				}
				xs, ys := wd.draw(rng, perDay)
				scores := make([]float64, perDay)
				if err := m.Predict(ml.Batch{Schema: schema, X: xs}, scores); err != nil {
					return err
				}
				dayStart := monitorEpoch.AddDate(0, 0, day)
				for i := range perDay {
					seq++
					t := dayStart.Add(time.Duration(i) * 24 * time.Hour / perDay)
					id := fmt.Sprintf("tx-%06d", seq)
					join.AddPrediction(predlog.Prediction{ID: id, Model: model, Version: 1, Time: t, Score: scores[i]})
					if err := mon.Observe(t, xs[i*4:(i+1)*4], scores[i]); err != nil {
						return err
					}
					if ys[i] == 1 {
						delay := time.Duration(math.Exp(math.Log(7)+0.8*rng.NormFloat64()) * 24 * float64(time.Hour))
						queue = append(queue, pending{t.Add(delay), predlog.Outcome{ID: id, Model: model, Label: 1, Time: t.Add(delay), Kind: "chargeback"}})
					}
				}
				end := dayStart.AddDate(0, 0, 1)
				slices.SortFunc(queue, func(a, b pending) int { return a.at.Compare(b.at) })
				n := 0
				for n < len(queue) && !queue[n].at.After(end) {
					join.AddOutcome(queue[n].o)
					n++
				}
				queue = queue[n:]
				join.Advance(end)
				rep := mon.Check(end)
				for _, d := range rep.Drift {
					if d.Method == monitoring.PSI && d.Status != monitoring.StatusInsufficient {
						maxPSI = max(maxPSI, d.Value)
					}
				}
				dec := join.CheckDecay(v, monitoring.DefaultDecayConfig())
				aucAt[day] = dec.Online
				sig := rep.Signals()
				for k, val := range dec.Signals() {
					sig[k] = val
				}
				out, err := alerter.Evaluate(ctx, end, sig)
				if err != nil {
					return err
				}
				for _, a := range out {
					r.Say("day %d: alert %s %s (%s = %.3f)", day+1, a.Rule, a.State, a.Signal, a.Value)
					if a.Rule == "online_auc_decay" && a.State == monitoring.StateFiring && detectDay < 0 {
						detectDay = day + 1
					}
				}
			}
			for _, d := range []int{driftOn - 1, driftOn + 6, driftOn + 13, driftOn + 29, driftOn + 44, days - 1} {
				r.Say("day %2d: online AUC over the last %d joined predictions %.3f", d+1, jc.Window, aucAt[d])
			}
			r.Say("NaN until day 31: before the first 30-day horizon passes only chargebacks have joined, and AUC needs both classes.")
			r.Say("The window is in join order, not prediction order: a fraud joins ~7 days after it is scored, a non-fraud 30 days after,")
			r.Say("so for a while each window compares this week's frauds with last month's non-frauds. Decay shows once both sides postdate the change.")
			q := join.Quality(1)
			res, waiting := join.Counts()
			r.Measure("label delay p50 (chargebacks)", q.LabelDelayP50.Hours()/24, "days")
			r.Measure("largest PSI over every input and the score, all 90 days", maxPSI, "")
			r.Measure("day the decay alert fired", float64(detectDay), "")
			r.Measure("days from the change to the alert", float64(detectDay-driftOn), "")
			r.Measure("chargebacks after the 30-day horizon (labelled not-fraud too early)", float64(res["late"]), "")
			r.Say("joined %d, implicit negatives %d, still waiting %d", res["joined"], res["implicit_negative"], waiting)
			r.Check("input and score drift stayed below the warn level (PSI < 0.1): proxies cannot see a pure concept change", maxPSI < 0.1)
			r.Check("the decay detector fired, and not before a median label delay had passed since the change", detectDay > 0 && float64(detectDay-driftOn) >= q.LabelDelayP50.Hours()/24)
			r.Check("online AUC on matured labels fell by more than 0.1 by the end", off[ml.MetricAUC]-aucAt[days-1] > 0.1)
			return nil
		},
	}
}
