package monitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// The phases of the retraining loop.
const (
	// PhaseWatching: drift and decay are watched on the champion's served traffic.
	PhaseWatching = "watching"
	// PhaseRetrain: a retraining rule fired; the loop waits for enough outcomes joined to
	// predictions made since the drift was first seen, then runs the pipeline.
	PhaseRetrain = "retrain"
	// PhaseCanary: a challenger that passed the gates serves the canary share and is
	// judged against the champion on outcomes joined over the same period.
	PhaseCanary = "canary"
)

// LoopConfig configures the retraining loop of one model.
type LoopConfig struct {
	// Model is the registry model served under registry.Champion (and Canary).
	Model string
	// Actor signs every audit entry the loop writes.
	Actor string
	// Monitor configures the drift monitor (its Model is set to Model).
	Monitor Config
	// Reference is how many predictions the champion serves (from the first one the loop
	// reads) before they become the drift reference; a new champion gets a new reference.
	Reference int
	// Rules are the alert rules over the monitor's and the decay detector's signals; those
	// with Retrain start a retraining. Nil: PSI drift rules on every feature and the score,
	// and an online-AUC decay rule, all retraining.
	Rules []Rule
	Decay DecayConfig
	// Join configures the running join (its Model is set to Model); KeepRows must hold at
	// least MinTrainRows.
	Join JoinConfig
	// MinTrainRows is the fewest joined rows, predicted since the drift was first seen,
	// that a retraining trains on.
	MinTrainRows int
	// Train is the pipeline definition of a retraining; the loop sets its Source (the
	// joined rows), Alias (Canary) and Actor.
	Train    pipeline.Definition
	Pipeline pipeline.Config
	// Judge says when the canary has earned the champion alias (its Model and Actor are
	// set by the loop).
	Judge CanaryConfig
	// CanaryTimeout is how much event time a canary may wait for enough joined outcomes
	// before it is rolled back.
	CanaryTimeout time.Duration
}

// DefaultLoopConfig watches a 2,000-value window against a 2,000-prediction reference,
// retrains on at least 2,000 joined rows and judges the canary on 500 joined outcomes (20
// positives) a side, with a 0.01 online AUC margin, within a week of event time. Train
// still has to be filled in.
func DefaultLoopConfig(model string) LoopConfig {
	mc := DefaultConfig()
	mc.Window = WindowConfig{Size: 2000}
	jc := DefaultJoinConfig()
	jc.KeepRows = 20_000
	return LoopConfig{Model: model, Actor: "monitoring/loop", Monitor: mc, Reference: 2000, Decay: DefaultDecayConfig(), Join: jc,
		MinTrainRows: 2000, Pipeline: pipeline.DefaultConfig(),
		Judge:         CanaryConfig{MinLabelled: 500, MinPositives: 20, MinImprovement: 0.01, Gates: registry.DefaultGates()},
		CanaryTimeout: 7 * 24 * time.Hour}
}

// Validate reports a loop that cannot run.
func (c LoopConfig) Validate() error {
	switch {
	case !registry.ValidName(c.Model) || c.Actor == "":
		return fmt.Errorf("%w: loop needs a valid Model and an Actor", ErrInvalidConfig)
	case c.Reference < 1 || c.MinTrainRows < 1 || c.CanaryTimeout <= 0:
		return fmt.Errorf("%w: loop needs Reference ≥ 1, MinTrainRows ≥ 1, CanaryTimeout > 0", ErrInvalidConfig)
	case c.Join.KeepRows < c.MinTrainRows:
		return fmt.Errorf("%w: Join.KeepRows %d < MinTrainRows %d: the join would forget the rows a retraining needs", ErrInvalidConfig, c.Join.KeepRows, c.MinTrainRows)
	case c.Train.Train == nil:
		return fmt.Errorf("%w: loop needs Train.Train", ErrInvalidConfig)
	}
	j := c.Judge
	j.Model, j.Actor = c.Model, c.Actor
	return j.Validate()
}

// LoopStep is what one Step saw and did.
type LoopStep struct {
	At    time.Time
	Phase string // the phase after the step
	// Action is what the step did: "observe" (nothing to decide), "reference" (the drift
	// reference was taken), "retrain-requested", "trained", "refused", "canary-wait",
	// "promoted", "rolled-back", "canary-gone" (the alias was removed by hand).
	Action string
	Detail string
	Alerts []Alert
	// Drift is the monitor's report, when a reference exists.
	Drift *Report
	// Run is the retraining, when one ran; Verdict the canary judgement, when one was made.
	Run     *pipeline.Result
	Verdict *CanaryVerdict
}

// Reader replays a stream; *eventlog.Log is one.
type Reader interface {
	Replay(ctx context.Context, stream string, from eventlog.Position, subjects []string, h eventlog.Handler) (eventlog.ReplayStats, error)
}

var _ Reader = (*eventlog.Log)(nil)

// Loop is the retraining loop run against real serving: it reads the prediction log that
// serving writes (predlog) and the outcomes applications report, watches drift on the
// champion's served features and decay on its joined outcomes, and when a retraining rule
// fires it trains a challenger on joined rows, moves it to the Canary alias (serving
// splits traffic by that alias), judges it against the champion on outcomes joined over
// the canary period, and promotes it or removes it. Every decision is in the registry's
// audit log. Step is not safe for concurrent use; Run calls it on a ticker.
type Loop struct {
	cfg     LoopConfig
	log     Reader
	reg     *registry.Registry
	m       *Metrics
	alerter *Alerter
	logger  *slog.Logger
	rules   []Rule

	read  map[string]uint64 // last sequence read per stream
	seen  int64             // prediction records read
	join  *Joiner
	phase string

	// watching
	champ    registry.Version
	refRows  []predlog.Prediction
	mon      *Monitor
	driftAt  time.Time // when a retraining signal was first seen past its fire level
	trigger  pipeline.Trigger
	clock    time.Time // latest event time read
	canary   registry.Version
	canaryAt time.Time
	judge    *Joiner
	runs     int
}

// NewLoop builds the loop for cfg.Model, which must have a champion. It resumes a canary
// the registry already holds. pub (may be nil) receives alert transitions; m and logger
// may be nil.
func NewLoop(ctx context.Context, cfg LoopConfig, log Reader, reg *registry.Registry, pub Publisher, m *Metrics, logger *slog.Logger) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil || reg == nil {
		return nil, fmt.Errorf("%w: loop needs an event log and a registry", ErrInvalidConfig)
	}
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Monitor.Model, cfg.Join.Model = cfg.Model, cfg.Model
	cfg.Judge.Model, cfg.Judge.Actor = cfg.Model, cfg.Actor
	champ, err := reg.Resolve(ctx, cfg.Model, registry.Champion)
	if err != nil {
		return nil, fmt.Errorf("loop of %s: %w", cfg.Model, err)
	}
	rules := cfg.Rules
	if rules == nil {
		rules = DriftRules(cfg.Model, append(champ.Schema.Names(), ScoreFeature), PSI, DefaultThresholds()[PSI], true)
		rules = append(rules, Rule{Name: "online_auc_decay", Model: cfg.Model, Severity: SeverityCritical, Signal: DecaySignal(ml.MetricAUC),
			Fire: 0.05, Clear: 0.02, For: 2, ClearFor: 2, Retrain: true, Summary: "online AUC 0.05 below the registry's holdout AUC"})
	}
	alerter, err := NewAlerter(AlerterConfig{Rules: rules, Publisher: pub, Logger: logger, Metrics: m})
	if err != nil {
		return nil, err
	}
	join, err := NewJoiner(cfg.Join, m)
	if err != nil {
		return nil, err
	}
	l := &Loop{cfg: cfg, log: log, reg: reg, m: m, alerter: alerter, logger: logger.With("component", "loop", "model", cfg.Model), rules: rules,
		read: map[string]uint64{}, join: join, phase: PhaseWatching, champ: champ}
	if cv, err := reg.Resolve(ctx, cfg.Model, Canary); err == nil && cv.Number != champ.Number {
		if err := l.startCanary(cv, time.Time{}); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, registry.ErrAliasNotFound) && !errors.Is(err, registry.ErrDanglingAlias) {
		return nil, fmt.Errorf("loop of %s: %w", cfg.Model, err)
	}
	return l, nil
}

// Phase returns the loop's phase.
func (l *Loop) Phase() string { return l.phase }

// Seen returns how many prediction records the loop has read from the log.
func (l *Loop) Seen() int64 { return l.seen }

// Joiner returns the running join (quality per version, decay, training rows).
func (l *Loop) Joiner() *Joiner { return l.join }

// Alerter returns the loop's alerter (its rules' state, the alerts firing).
func (l *Loop) Alerter() *Alerter { return l.alerter }

// Monitor returns the drift monitor, nil until the champion's reference is taken.
func (l *Loop) Monitor() *Monitor { return l.mon }

// Read applies the prediction and outcome records logged since the last Read and returns
// how many messages it read. A stream that does not exist yet reads as empty.
func (l *Loop) Read(ctx context.Context) (int, error) {
	n := 0
	psub, osub := predlog.PredictionSubject(l.cfg.Model), predlog.OutcomeSubject(l.cfg.Model)
	for _, s := range []struct{ stream, subject string }{{predlog.PredictionStream, psub}, {predlog.OutcomeStream, osub}} {
		st, err := l.log.Replay(ctx, s.stream, eventlog.FromSequence(l.read[s.stream]+1), []string{s.subject}, l.apply)
		if errors.Is(err, eventlog.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("loop of %s: read %s: %w", l.cfg.Model, s.stream, err)
		}
		if st.Events > 0 {
			l.read[s.stream] = st.LastSeq
			n += int(st.Events)
		}
	}
	return n, nil
}

// apply feeds one message to the join, the canary judge's join and the drift monitor.
// Shadow rows are not served answers and fallback rows are no model's: both are skipped.
func (l *Loop) apply(_ context.Context, m *eventlog.Message) error {
	if predlog.IsOutcome(m.Subject) {
		o, err := predlog.DecodeOutcome(m)
		if err != nil {
			return eventlog.Permanent(err)
		}
		l.join.AddOutcome(o)
		if l.judge != nil {
			l.judge.AddOutcome(o)
		}
		return nil
	}
	ps, err := predlog.DecodePredictions(m)
	if err != nil {
		return eventlog.Permanent(err)
	}
	for _, p := range ps {
		l.seen++
		if p.Time.After(l.clock) {
			l.clock = p.Time
		}
		if p.Alias == "shadow" || (p.Path != "" && p.Path != "primary") {
			continue
		}
		l.join.AddPrediction(p)
		if l.judge != nil && !p.Time.Before(l.canaryAt) {
			l.judge.AddPrediction(p)
		}
		if p.Version != l.champ.Number {
			continue
		}
		switch {
		case l.mon != nil:
			if err := l.mon.Observe(p.Time, p.Row(l.champ.Schema), p.Score); err != nil {
				return eventlog.Permanent(err)
			}
		case len(l.refRows) < l.cfg.Reference:
			l.refRows = append(l.refRows, p)
		}
	}
	return nil
}

// Step makes the decisions due at event time now (zero: the latest prediction read):
// take the drift reference, evaluate the alert rules, run a retraining, judge the canary.
func (l *Loop) Step(ctx context.Context, now time.Time) (st LoopStep, err error) {
	if now.IsZero() {
		now = l.clock
	}
	l.join.Advance(now)
	if l.judge != nil {
		l.judge.Advance(now)
	}
	st = LoopStep{At: now, Action: "observe"}
	defer func() { st.Phase = l.phase }()
	if l.mon == nil && len(l.refRows) >= l.cfg.Reference {
		if err := l.takeReference(); err != nil {
			return st, err
		}
		st.Action, st.Detail = "reference", fmt.Sprintf("drift reference: the first %d predictions of champion v%d", l.cfg.Reference, l.champ.Number)
	}
	signals := map[string]float64{}
	if l.mon != nil {
		rep := l.mon.Check(now)
		st.Drift = &rep
		signals = rep.Signals()
	}
	for k, v := range l.join.CheckDecay(l.champ, l.cfg.Decay).Signals() {
		signals[k] = v
	}
	alerts, err := l.alerter.Evaluate(ctx, now, signals)
	st.Alerts = alerts
	if err != nil {
		return st, err
	}
	for _, a := range alerts {
		l.logger.Info("alert "+a.State, "rule", a.Rule, "signal", a.Signal, "value", a.Value)
	}
	switch l.phase {
	case PhaseWatching:
		l.noteDrift(now, signals)
		select {
		case trig := <-l.alerter.Triggers():
			l.trigger, l.phase = trig, PhaseRetrain
			if l.driftAt.IsZero() {
				l.driftAt = now
			}
			st.Action, st.Detail = "retrain-requested", fmt.Sprintf("%s; training on rows predicted since %s", trig.Reason, l.driftAt.Format(time.RFC3339))
			if err := l.note(ctx, l.champ.Number, "retraining requested: "+st.Detail); err != nil {
				return st, err
			}
		default:
		}
	case PhaseRetrain:
		return l.retrain(ctx, st)
	case PhaseCanary:
		return l.judgeCanary(ctx, now, st)
	}
	return st, nil
}

// noteDrift remembers when a retraining signal first went past its fire level, the start
// of the rows a retraining learns from; it forgets it when every such signal is back.
func (l *Loop) noteDrift(now time.Time, signals map[string]float64) {
	past := false
	for _, r := range l.rules {
		if v, ok := signals[r.Signal]; ok && r.Retrain && r.past(v, r.Fire) {
			past = true
		}
	}
	switch {
	case past && l.driftAt.IsZero():
		l.driftAt = now
	case !past:
		l.driftAt = time.Time{}
	}
}

func (l *Loop) takeReference() error {
	s := l.champ.Schema
	ref := ml.Dataset{Schema: s, X: make([]float64, 0, len(l.refRows)*s.Len())}
	scores := make([]float64, len(l.refRows))
	for i, p := range l.refRows {
		ref.X = append(ref.X, p.Row(s)...)
		scores[i] = p.Score
	}
	mon, err := NewMonitor(l.cfg.Monitor, ref, scores, l.m)
	if err != nil {
		return fmt.Errorf("loop of %s: drift reference: %w", l.cfg.Model, err)
	}
	l.mon, l.refRows = mon, nil
	return nil
}

// retrain runs the pipeline once enough joined rows since the drift exist.
func (l *Loop) retrain(ctx context.Context, st LoopStep) (LoopStep, error) {
	data, from, to := l.join.Labelled(l.champ.Schema, l.driftAt)
	if data.Rows() < l.cfg.MinTrainRows {
		st.Action, st.Detail = "retrain-wait", fmt.Sprintf("%d joined rows since the drift, need %d", data.Rows(), l.cfg.MinTrainRows)
		return st, nil
	}
	def := l.cfg.Train
	def.Model, def.Alias, def.Actor = l.cfg.Model, Canary, l.cfg.Actor
	def.Source = pipeline.SourceFunc(func(context.Context) (pipeline.TrainingSet, error) {
		return pipeline.TrainingSet{Data: data, From: from, To: to, Fingerprint: data.Fingerprint()}, nil
	})
	p, err := pipeline.New(def, l.reg, l.cfg.Pipeline)
	if err != nil {
		return st, fmt.Errorf("loop of %s: %w", l.cfg.Model, err)
	}
	res, err := p.Run(ctx, l.trigger)
	if err != nil {
		return st, fmt.Errorf("loop of %s: retraining: %w", l.cfg.Model, err)
	}
	l.runs++
	st.Run = &res
	l.driftAt = time.Time{}
	if !res.GatesPassed || !res.Moved {
		l.phase = PhaseWatching
		st.Action, st.Detail = "refused", fmt.Sprintf("challenger v%d trained on %d joined rows did not pass the gates; %s keeps serving v%d",
			res.Version, res.Rows, registry.Champion, l.champ.Number)
		return st, l.note(ctx, res.Version, st.Detail)
	}
	cv, err := l.reg.Resolve(ctx, l.cfg.Model, Canary)
	if err != nil {
		return st, fmt.Errorf("loop of %s: %w", l.cfg.Model, err)
	}
	if err := l.startCanary(cv, st.At); err != nil {
		return st, err
	}
	st.Action, st.Detail = "trained", fmt.Sprintf("challenger v%d trained on %d joined rows passed the gates and serves as %s", cv.Number, res.Rows, Canary)
	return st, l.note(ctx, cv.Number, st.Detail)
}

// startCanary judges cv from event time at on.
func (l *Loop) startCanary(cv registry.Version, at time.Time) error {
	judge, err := NewJoiner(l.cfg.Join, l.m)
	if err != nil {
		return err
	}
	l.phase, l.canary, l.canaryAt, l.judge = PhaseCanary, cv, at, judge
	return nil
}

// judgeCanary promotes the canary that holds, removes the one that does not, or the one
// that waited too long for evidence, and otherwise waits.
func (l *Loop) judgeCanary(ctx context.Context, now time.Time, st LoopStep) (LoopStep, error) {
	if l.canaryAt.IsZero() {
		l.canaryAt = now // resumed: the wait counts from here
	}
	v, err := JudgeCanary(ctx, l.reg, l.judge, l.cfg.Judge)
	st.Verdict = &v
	var ge *registry.GateError
	switch {
	case errors.Is(err, registry.ErrAliasNotFound):
		// Someone ended the canary by hand (mlp registry): nothing left to judge.
		l.phase, l.judge = PhaseWatching, nil
		st.Action, st.Detail, st.Verdict = "canary-gone", fmt.Sprintf("the %s alias was removed outside the loop; watching %s v%d", Canary, registry.Champion, l.champ.Number), nil
		return st, l.note(ctx, l.canary.Number, st.Detail)
	case err != nil && !errors.As(err, &ge):
		return st, err
	case v.Promoted:
		l.logger.Info("canary promoted", "version", l.canary.Number, "reason", v.Reason)
		champ, err := l.reg.Resolve(ctx, l.cfg.Model, registry.Champion)
		if err != nil {
			return st, err
		}
		if err := l.endCanary(ctx, "canary ended: v"+fmt.Sprint(l.canary.Number)+" is champion"); err != nil {
			return st, err
		}
		// A new champion is watched against its own traffic; a trigger that fired during
		// the canary was about the old one.
		l.champ, l.mon, l.refRows = champ, nil, nil
		for drained := false; !drained; {
			select {
			case <-l.alerter.Triggers():
			default:
				drained = true
			}
		}
		st.Action, st.Detail = "promoted", v.Reason
		return st, nil
	case v.Enough || err != nil:
		reason := "rolled back: " + v.Reason
		if err != nil {
			reason = "rolled back: the gates refused the champion move: " + err.Error()
		}
		st.Action, st.Detail = "rolled-back", reason
		return st, l.endCanary(ctx, reason)
	case now.Sub(l.canaryAt) > l.cfg.CanaryTimeout:
		st.Action, st.Detail = "rolled-back", fmt.Sprintf("rolled back: no verdict after %v of event time (%s)", l.cfg.CanaryTimeout, v.Reason)
		return st, l.endCanary(ctx, st.Detail)
	}
	st.Action, st.Detail = "canary-wait", v.Reason
	return st, nil
}

// endCanary removes the canary alias (serving stops the split) and returns to watching.
func (l *Loop) endCanary(ctx context.Context, reason string) error {
	l.phase, l.judge = PhaseWatching, nil
	if err := l.reg.RemoveAlias(ctx, l.cfg.Model, Canary, l.cfg.Actor, reason); err != nil && !errors.Is(err, registry.ErrAliasNotFound) {
		return fmt.Errorf("loop of %s: %w", l.cfg.Model, err)
	}
	return nil
}

func (l *Loop) note(ctx context.Context, version int, reason string) error {
	l.logger.Info(reason, "version", version)
	if _, err := l.reg.Note(ctx, l.cfg.Model, l.cfg.Actor, version, reason); err != nil {
		return fmt.Errorf("loop of %s: %w", l.cfg.Model, err)
	}
	return nil
}

// Run reads the log and steps every interval, in the event time of the latest prediction
// read, until ctx ends; each step that decided something is logged. It returns nil when
// ctx ends.
func (l *Loop) Run(ctx context.Context, interval time.Duration, onStep func(LoopStep)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := l.Read(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		st, err := l.Step(ctx, time.Time{})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if onStep != nil {
			onStep(st)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
