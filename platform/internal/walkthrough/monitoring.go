package walkthrough

import (
	"context"
	"fmt"
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

// servingSim plays the part of an application's own scorer and of the world around it: it
// scores requests, logs every prediction through monitoring.PredictionLog, reveals each
// outcome after its label delay, and reads both back from the event log into the joiner,
// as a production consumer would. (The retraining loop runs on the real serving path
// instead: monitoring_loop.go.)
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

func psiLine(rep *monitoring.Report) string {
	if rep == nil {
		return "no reference yet"
	}
	var parts []string
	for _, d := range rep.Drift {
		if d.Method == monitoring.PSI {
			parts = append(parts, fmt.Sprintf("%s %.3f", d.Feature, d.Value))
		}
	}
	return strings.Join(parts, ", ")
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
