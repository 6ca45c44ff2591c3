package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/pipeline"
)

// Severities.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Rule turns a signal into an alert, with hysteresis: it fires after the signal has been
// past Fire for For consecutive evaluations, and resolves only after it has been back past
// Clear for ClearFor consecutive evaluations. Between Clear and Fire nothing changes, so a
// signal hovering at the threshold does not flap.
type Rule struct {
	Name     string `json:"name"`
	Model    string `json:"model"`
	Severity string `json:"severity"`
	// Signal is the key of the value in the signals map (Report.Signals and the caller's
	// own: "decay:auc", "latency_p99_seconds", "error_rate").
	Signal string `json:"signal"`
	// Below makes the rule fire on low values (p-values, AUC) instead of high ones.
	Below    bool    `json:"below,omitempty"`
	Fire     float64 `json:"fire"`
	Clear    float64 `json:"clear"`
	For      int     `json:"for"`
	ClearFor int     `json:"clear_for"`
	// Retrain makes a firing send an Alert trigger to the training pipeline.
	Retrain bool   `json:"retrain,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Validate reports a rule whose clear level is on the wrong side of its fire level.
func (r Rule) Validate() error {
	switch {
	case r.Name == "" || r.Model == "" || r.Signal == "":
		return fmt.Errorf("%w: rule needs Name, Model and Signal (%+v)", ErrInvalidConfig, r)
	case r.For < 1 || r.ClearFor < 1:
		return fmt.Errorf("%w: rule %s: For and ClearFor must be ≥ 1", ErrInvalidConfig, r.Name)
	case !r.Below && r.Clear > r.Fire, r.Below && r.Clear < r.Fire:
		return fmt.Errorf("%w: rule %s: clear level %v is past fire level %v; hysteresis needs it on the healthy side", ErrInvalidConfig, r.Name, r.Clear, r.Fire)
	}
	return nil
}

func (r Rule) past(v, level float64) bool {
	if r.Below {
		return v <= level
	}
	return v >= level
}

// Alert is a rule's state change, as published on alerts.<model> and returned by Evaluate.
type Alert struct {
	Rule     string    `json:"rule"`
	Model    string    `json:"model"`
	Severity string    `json:"severity"`
	State    string    `json:"state"` // firing or resolved
	Signal   string    `json:"signal"`
	Value    float64   `json:"value"`
	Fire     float64   `json:"fire"`
	Clear    float64   `json:"clear"`
	At       time.Time `json:"at"`
	Since    time.Time `json:"since"`
	Summary  string    `json:"summary,omitempty"`
	Retrain  bool      `json:"retrain,omitempty"`
}

// The alert states.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

type ruleState struct {
	firing bool
	streak int // consecutive evaluations pointing at the other state
	since  time.Time
	value  float64
	seq    int
}

// AlerterConfig holds the Alerter's rules and dependencies.
type AlerterConfig struct {
	Rules []Rule
	// Publisher, if set, receives each transition on alerts.<model>.
	Publisher Publisher
	Logger    *slog.Logger
	Metrics   *Metrics
}

// Alerter evaluates rules over signals, keeps their state, publishes transitions and sends
// retraining triggers. It is safe for concurrent use.
type Alerter struct {
	cfg      AlerterConfig
	log      *slog.Logger
	m        *Metrics
	mu       sync.Mutex
	state    map[string]*ruleState
	triggers chan pipeline.Trigger
}

// NewAlerter validates the rules and returns an Alerter with every rule resolved.
func NewAlerter(cfg AlerterConfig) (*Alerter, error) {
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("%w: rule %q defined twice", ErrInvalidConfig, r.Name)
		}
		seen[r.Name] = true
	}
	a := &Alerter{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, state: map[string]*ruleState{}, triggers: make(chan pipeline.Trigger, 1)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "alerter")
	if a.m == nil {
		var err error
		if a.m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.Rules {
		a.state[r.Name] = &ruleState{}
		a.m.alertFiring.WithLabelValues(r.Name, r.Model, r.Severity).Set(0)
	}
	return a, nil
}

// Triggers is the channel retraining triggers are sent on; hand it to pipeline.Serve. It
// holds one pending trigger: while a run is queued, further firings are counted as dropped
// rather than queueing a second identical run.
func (a *Alerter) Triggers() <-chan pipeline.Trigger { return a.triggers }

// Evaluate applies every rule to signals at now and returns the transitions, in rule
// order. A rule whose signal is absent (or NaN) keeps its state and streak. Transitions are
// published (if a Publisher is set) before Evaluate returns; a publish failure is returned
// after every rule was evaluated, and the state changes stand.
func (a *Alerter) Evaluate(ctx context.Context, now time.Time, signals map[string]float64) ([]Alert, error) {
	a.mu.Lock()
	var out []Alert
	for _, r := range a.cfg.Rules {
		st := a.state[r.Name]
		v, ok := signals[r.Signal]
		if !ok || math.IsNaN(v) {
			continue
		}
		st.value = v
		var toward bool // does this evaluation point at the other state?
		if st.firing {
			if r.Below {
				toward = v > r.Clear
			} else {
				toward = v < r.Clear
			}
		} else {
			toward = r.past(v, r.Fire)
		}
		if !toward {
			st.streak = 0
			continue
		}
		st.streak++
		need := r.For
		if st.firing {
			need = r.ClearFor
		}
		if st.streak < need {
			continue
		}
		st.firing, st.streak = !st.firing, 0
		state := StateResolved
		if st.firing {
			state, st.since = StateFiring, now
		}
		st.seq++
		al := Alert{Rule: r.Name, Model: r.Model, Severity: r.Severity, State: state, Signal: r.Signal, Value: v, Fire: r.Fire, Clear: r.Clear,
			At: now.UTC(), Since: st.since.UTC(), Summary: r.Summary, Retrain: r.Retrain && st.firing}
		out = append(out, al)
		a.m.alertFiring.WithLabelValues(r.Name, r.Model, r.Severity).Set(map[bool]float64{true: 1, false: 0}[st.firing])
		a.m.alertChanges.WithLabelValues(r.Name, r.Model, state).Inc()
		a.log.Info("alert "+state, "rule", r.Name, "model", r.Model, "signal", r.Signal, "value", v)
		if al.Retrain {
			select {
			case a.triggers <- pipeline.Trigger{Kind: pipeline.Alert, Reason: fmt.Sprintf("%s: %s = %.4g (fire at %g)", r.Name, r.Signal, v, r.Fire), At: now.UTC()}:
				a.m.retrainTrigge.WithLabelValues(r.Model, "sent").Inc()
			default:
				a.m.retrainTrigge.WithLabelValues(r.Model, "dropped").Inc()
			}
		}
	}
	seqs := make([]int, len(out))
	for i, al := range out {
		seqs[i] = a.state[al.Rule].seq
	}
	a.mu.Unlock()
	if a.cfg.Publisher == nil || len(out) == 0 {
		return out, nil
	}
	evs := make([]eventlog.Event, len(out))
	for i, al := range out {
		b, err := json.Marshal(al)
		if err != nil {
			return out, fmt.Errorf("alert %s: %w", al.Rule, err)
		}
		evs[i] = eventlog.Event{ID: fmt.Sprintf("alert-%s-%s-%d-%d", al.Model, al.Rule, al.Since.UnixNano(), seqs[i]), Subject: AlertSubject(al.Model), Time: al.At, Data: b}
	}
	if _, err := a.cfg.Publisher.PublishBatch(ctx, evs); err != nil {
		return out, fmt.Errorf("publish %d alert transitions: %w", len(evs), err)
	}
	return out, nil
}

// Firing returns the alerts firing now, by rule name.
func (a *Alerter) Firing() []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Alert
	for _, r := range a.cfg.Rules {
		st := a.state[r.Name]
		if st.firing {
			out = append(out, Alert{Rule: r.Name, Model: r.Model, Severity: r.Severity, State: StateFiring, Signal: r.Signal, Value: st.value,
				Fire: r.Fire, Clear: r.Clear, Since: st.since, Summary: r.Summary})
		}
	}
	return out
}

// DecodeAlert reads an alert transition back from the log.
func DecodeAlert(m *eventlog.Message) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(m.Data, &a); err != nil || a.Rule == "" {
		return a, fmt.Errorf("%w: alert %q: %v", ErrBadRecord, m.ID, err)
	}
	return a, nil
}

// CurrentAlerts folds a sequence of transitions (in log order) into the alerts firing at
// the end of it: what `mlp monitor` shows from the alert stream.
func CurrentAlerts(transitions []Alert) []Alert {
	last := map[string]Alert{}
	var order []string
	for _, a := range transitions {
		k := a.Model + "/" + a.Rule
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = a
	}
	var out []Alert
	for _, k := range order {
		if last[k].State == StateFiring {
			out = append(out, last[k])
		}
	}
	slices.SortStableFunc(out, func(a, b Alert) int { return a.Since.Compare(b.Since) })
	return out
}

// DriftRules returns one rule per feature (and the score) on a method's drift signal:
// it fires at the method's alert level and clears at its warn level, after two
// consecutive checks each way. Rules on the score and on the features retrain.
func DriftRules(model string, features []string, m Method, th Threshold, retrain bool) []Rule {
	out := make([]Rule, 0, len(features))
	for _, f := range features {
		out = append(out, Rule{Name: "drift_" + f + "_" + string(m), Model: model, Severity: SeverityWarning, Signal: "drift:" + f + ":" + string(m),
			Below: m.IsTest(), Fire: th.Alert, Clear: th.Warn, For: 2, ClearFor: 2, Retrain: retrain,
			Summary: fmt.Sprintf("%s of %s drifted past %g", m, f, th.Alert)})
	}
	return out
}

// DecaySignal is the signal name of a decay check, for rules.
func DecaySignal(metric string) string { return "decay:" + metric }

// Signals returns the decay as a signal ("decay:auc" → drop) when there is enough evidence.
func (d Decay) Signals() map[string]float64 {
	if !d.Enough {
		return map[string]float64{}
	}
	return map[string]float64{DecaySignal(d.Metric): d.Drop}
}
