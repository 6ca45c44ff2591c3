package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// AlertSubjectPrefix is the subject prefix of alert transitions; the prediction and
// outcome subjects are predlog's.
const AlertSubjectPrefix = "alerts"

// AlertSubject is the subject a model's alert transitions are published on.
func AlertSubject(model string) string { return AlertSubjectPrefix + "." + model }

// AlertStream holds alert transitions.
const AlertStream = "ALERTS"

// Streams returns the stream configs monitoring reads and writes: the prediction log's
// (predlog.Streams) and the alert stream, keeping events for maxAge (zero: forever).
func Streams(maxAge time.Duration) []eventlog.StreamConfig {
	return append(predlog.Streams(maxAge), AlertStreamConfig(maxAge))
}

// AlertStreamConfig is the alert stream's config, keeping transitions for maxAge (zero:
// forever). A process that only reads the prediction log and writes alerts (the loop)
// ensures this one and leaves the prediction log's streams as their writer made them.
func AlertStreamConfig(maxAge time.Duration) eventlog.StreamConfig {
	return predlog.StreamConfig(AlertStream, AlertSubjectPrefix, "Monitoring alert transitions (firing, resolved).", maxAge)
}

// EnsureStreams creates (or checks) the prediction, outcome and alert streams.
func EnsureStreams(ctx context.Context, l *eventlog.Log, maxAge time.Duration) error {
	for _, sc := range Streams(maxAge) {
		if _, err := l.EnsureStream(ctx, sc); err != nil {
			return fmt.Errorf("monitoring streams: %w", err)
		}
	}
	return nil
}

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
func (l *PredictionLog) Log(ctx context.Context, preds ...predlog.Prediction) error {
	var msgs predlog.PredictionMessages
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
		msgs.Add(predlog.PredictionSubject(p.Model), p.ID, p.Time, b)
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
	preds := make([]predlog.Prediction, n)
	for i := range preds {
		f := make(map[string]float64, k)
		for j, ft := range b.Schema.Features {
			f[ft.Name] = b.X[i*k+j]
		}
		preds[i] = predlog.Prediction{ID: ids[i], Model: model, Version: version, Alias: alias, Time: at, Features: f, Score: scores[i]}
	}
	return l.Log(ctx, preds...)
}

// LogOutcomes appends outcomes on outcomes.<model>.
func (l *PredictionLog) LogOutcomes(ctx context.Context, outs ...predlog.Outcome) error {
	evs := make([]eventlog.Event, 0, len(outs))
	for _, o := range outs {
		ev, err := predlog.OutcomeEvent(o)
		if err != nil {
			return fmt.Errorf("log %w", err)
		}
		evs = append(evs, ev)
	}
	_, err := l.pub.PublishBatch(ctx, evs)
	if err != nil {
		return fmt.Errorf("log %d outcomes: %w", len(outs), err)
	}
	return nil
}

// publish writes the messages of preds; the metric counts records, not messages.
func (l *PredictionLog) publish(ctx context.Context, evs []eventlog.Event, preds []predlog.Prediction) error {
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
