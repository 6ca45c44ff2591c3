package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
)

// The subject scheme. Every record of one model goes to <prefix>.<model>, so a consumer
// filters by model with a subject and a stream captures all models with <prefix>.>.
const (
	PredictionSubjectPrefix = "predictions"
	OutcomeSubjectPrefix    = "outcomes"
	AlertSubjectPrefix      = "alerts"
)

// PredictionSubject is the subject a model's predictions are logged on.
func PredictionSubject(model string) string { return PredictionSubjectPrefix + "." + model }

// OutcomeSubject is the subject a model's outcomes (labels, clicks, chargebacks) arrive on.
func OutcomeSubject(model string) string { return OutcomeSubjectPrefix + "." + model }

// AlertSubject is the subject a model's alert transitions are published on.
func AlertSubject(model string) string { return AlertSubjectPrefix + "." + model }

// The streams that hold them.
const (
	PredictionStream = "PREDICTIONS"
	OutcomeStream    = "OUTCOMES"
	AlertStream      = "ALERTS"
)

// DuplicatesWindow is how long the log remembers record ids to drop a retried publish.
// A retry comes within seconds (a publish times out after 5 s); the server keeps every id
// of the window in memory, and a model scoring 20,000 rows a second would make a 10-minute
// window 12 million ids.
const DuplicatesWindow = 2 * time.Minute

// Streams returns the stream configs for predictions, outcomes and alerts, keeping events
// for maxAge (zero: forever). Outcomes can arrive weeks after their prediction, so the
// prediction stream must keep at least the longest label delay.
func Streams(maxAge time.Duration) []eventlog.StreamConfig {
	mk := func(name, prefix, desc string) eventlog.StreamConfig {
		return eventlog.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}, Description: desc, MaxAge: maxAge, Duplicates: DuplicatesWindow}
	}
	return []eventlog.StreamConfig{
		mk(PredictionStream, PredictionSubjectPrefix, "Every scored request: id, model, version, features used, score."),
		mk(OutcomeStream, OutcomeSubjectPrefix, "Outcomes joined to predictions by id: labels, clicks, chargebacks."),
		mk(AlertStream, AlertSubjectPrefix, "Monitoring alert transitions (firing, resolved)."),
	}
}

// EnsureStreams creates (or checks) the three streams.
func EnsureStreams(ctx context.Context, l *eventlog.Log, maxAge time.Duration) error {
	for _, sc := range Streams(maxAge) {
		if _, err := l.EnsureStream(ctx, sc); err != nil {
			return fmt.Errorf("monitoring streams: %w", err)
		}
	}
	return nil
}

// Prediction is one logged score. Features holds the values the model read, by name; a
// missing value (NaN) is left out of the map, so that the record stays valid JSON and the
// reader sees NaN again.
type Prediction struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Version int    `json:"version"`
	// Alias is the route that answered (champion, canary, shadow); "" if not routed by alias.
	Alias    string             `json:"alias,omitempty"`
	Time     time.Time          `json:"time"`
	Features map[string]float64 `json:"features"`
	Score    float64            `json:"score"`
	// Path is the serving path that answered: "primary", "last-good", "heuristic" or
	// "default" (the serving package's Path constants).
	Path string `json:"path,omitempty"`
}

// Row returns the features in schema order, NaN where a value is missing.
func (p Prediction) Row(s ml.Schema) []float64 {
	out := make([]float64, s.Len())
	for i, f := range s.Features {
		v, ok := p.Features[f.Name]
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

// Outcome is what happened after a prediction, joined to it by ID. Time is when it
// happened (event time), not when it was reported.
type Outcome struct {
	ID    string    `json:"id"`
	Model string    `json:"model"`
	Label float64   `json:"label"`
	Time  time.Time `json:"time"`
	// Kind says what the outcome is: "chargeback", "click", "label".
	Kind string `json:"kind,omitempty"`
}

func (o Outcome) eventID() string { return "outcome-" + o.ID + "-" + o.Kind }

// Publisher appends events; *eventlog.Log is one.
type Publisher interface {
	PublishBatch(ctx context.Context, evs []eventlog.Event) ([]eventlog.Ack, error)
}

var _ Publisher = (*eventlog.Log)(nil)

// PredictionLog writes predictions and outcomes to the event log.
type PredictionLog struct {
	pub Publisher
	m   *Metrics
	log *slog.Logger
}

// NewPredictionLog returns a log writing through pub. m and logger may be nil.
func NewPredictionLog(pub Publisher, m *Metrics, logger *slog.Logger) (*PredictionLog, error) {
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PredictionLog{pub: pub, m: m, log: logger.With("component", "predictionlog")}, nil
}

// Log appends predictions to predictions.<model>, grouped per model into messages of at
// most MaxRecordsPerMessage records and MaxMessageBytes (see PredictionMessages). Message
// ids depend only on the records, so a retried call with the same predictions stores
// nothing twice. Call it once per scored request or batch. NaN and infinite scores are
// refused, and then nothing is logged.
func (l *PredictionLog) Log(ctx context.Context, preds ...Prediction) error {
	var msgs PredictionMessages
	for _, p := range preds {
		if p.ID == "" || p.Model == "" || math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
			l.m.logged.WithLabelValues(p.Model, "error").Inc()
			return fmt.Errorf("log prediction %q of %q: %w: id, model and a finite score are required", p.ID, p.Model, ErrBadRecord)
		}
		f := make(map[string]float64, len(p.Features))
		for k, v := range p.Features {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				f[k] = v
			}
		}
		p.Features = f
		p.Time = p.Time.UTC()
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("log prediction %q: %w", p.ID, err)
		}
		msgs.Add(PredictionSubject(p.Model), p.ID, p.Time, b)
	}
	return l.publish(ctx, msgs.Events(), preds)
}

// LogBatch logs a scored batch: ids[i] and scores[i] belong to row i of b. It is the one
// call serving makes per scored batch.
func (l *PredictionLog) LogBatch(ctx context.Context, model string, version int, alias string, at time.Time, ids []string, b ml.Batch, scores []float64) error {
	n, k := len(ids), b.Schema.Len()
	if len(scores) != n || len(b.X) != n*k {
		return fmt.Errorf("log batch of %s: %w: %d ids, %d scores, %d values for %d features", model, ErrBadRecord, n, len(scores), len(b.X), k)
	}
	preds := make([]Prediction, n)
	for i := range preds {
		f := make(map[string]float64, k)
		for j, ft := range b.Schema.Features {
			f[ft.Name] = b.X[i*k+j]
		}
		preds[i] = Prediction{ID: ids[i], Model: model, Version: version, Alias: alias, Time: at, Features: f, Score: scores[i]}
	}
	return l.Log(ctx, preds...)
}

// LogOutcomes appends outcomes on outcomes.<model>.
func (l *PredictionLog) LogOutcomes(ctx context.Context, outs ...Outcome) error {
	evs := make([]eventlog.Event, 0, len(outs))
	for _, o := range outs {
		if o.ID == "" || o.Model == "" || math.IsNaN(o.Label) {
			return fmt.Errorf("log outcome %q of %q: %w: id, model and a label are required", o.ID, o.Model, ErrBadRecord)
		}
		o.Time = o.Time.UTC()
		b, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("log outcome %q: %w", o.ID, err)
		}
		evs = append(evs, eventlog.Event{ID: o.eventID(), Subject: OutcomeSubject(o.Model), Time: o.Time, Data: b})
	}
	_, err := l.pub.PublishBatch(ctx, evs)
	if err != nil {
		return fmt.Errorf("log %d outcomes: %w", len(outs), err)
	}
	return nil
}

// publish writes the messages of preds; the metric counts records, not messages.
func (l *PredictionLog) publish(ctx context.Context, evs []eventlog.Event, preds []Prediction) error {
	if len(evs) == 0 {
		return nil
	}
	result := "ok"
	_, err := l.pub.PublishBatch(ctx, evs)
	if err != nil {
		result = "error"
		err = fmt.Errorf("log %d predictions in %d messages: %w", len(preds), len(evs), err)
	}
	for _, p := range preds {
		l.m.logged.WithLabelValues(p.Model, result).Inc()
	}
	return err
}

// DecodeOutcome reads an outcome back from the log.
func DecodeOutcome(m *eventlog.Message) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(m.Data, &o); err != nil || o.ID == "" {
		return o, fmt.Errorf("%w: outcome %q on %s: %v", ErrBadRecord, m.ID, m.Subject, err)
	}
	return o, nil
}

// IsPrediction and IsOutcome tell the two apart by subject.
func IsPrediction(subject string) bool {
	return strings.HasPrefix(subject, PredictionSubjectPrefix+".")
}

// IsOutcome reports whether subject carries outcomes.
func IsOutcome(subject string) bool { return strings.HasPrefix(subject, OutcomeSubjectPrefix+".") }
