package live

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// ModelName is the registry (and prediction log) name of the fraud model.
const ModelName = "fraud"

// QualityConfig is the running system's own online quality: how its decisions are joined to
// the chargebacks that arrive and over what window the quality is computed.
type QualityConfig struct {
	// LabelDelay is how long after a fraud its chargeback arrives; Slack is how much
	// longer a transaction waits for one before it counts as genuine. A transaction is
	// due (old enough to be labelled) LabelDelay + Slack after it happened, in event time.
	LabelDelay, Slack time.Duration
	// Days is the window: online quality is computed over the transactions of the last
	// Days whole UTC days that are due.
	Days int
	// ReviewBudget is the k of precision at k per day: the review budget, in transactions.
	ReviewBudget int
	// ReviewThreshold is the score at which the system asks for a review; precision and
	// recall at it are exported beside.
	ReviewThreshold float64
	// Every is how often (wall time) the quality is recomputed and exported.
	Every time.Duration
}

// DefaultQualityConfig joins with the system's label delay and a day of slack, over the
// last 7 due days, at the system's review budget and threshold.
func DefaultQualityConfig(labelDelay time.Duration, budget int, threshold float64) QualityConfig {
	return QualityConfig{LabelDelay: labelDelay, Slack: Day, Days: 7, ReviewBudget: budget, ReviewThreshold: threshold, Every: time.Second}
}

// Join returns the monitoring join this quality is computed with: by transaction id, in
// event time, a transaction without a chargeback by its horizon is genuine (an implicit
// negative) once the chargeback feed itself has passed that horizon (OutcomeClock), and
// quality per whole UTC day.
func (c QualityConfig) Join() monitoring.JoinConfig {
	return monitoring.JoinConfig{Model: ModelName, Horizon: c.LabelDelay + c.Slack, ImplicitNegative: true, Window: 1, K: c.ReviewBudget,
		ActionThreshold: c.ReviewThreshold, Period: Day, Periods: c.Days, OutcomeClock: true}
}

// Validate reports a configuration that cannot work.
func (c QualityConfig) Validate() error {
	if c.LabelDelay <= 0 || c.Slack < 0 || c.Days < 1 || c.ReviewBudget < 1 || c.Every <= 0 {
		return fmt.Errorf("online quality: want label delay > 0, slack ≥ 0, days ≥ 1, budget ≥ 1 and every > 0 (got %+v)", c)
	}
	return c.Join().Validate()
}

// Durable consumer names of the online quality.
const (
	OutcomesDurable    = "fraud-outcomes"
	QualityPredDurable = "fraud-quality-predictions"
	QualityOutDurable  = "fraud-quality-outcomes"
)

// Quality runs the system's online quality in three parts: Outcomes turns each chargeback
// on fraud.label into an outcome on monitoring's outcome stream (outcomes.fraud, event
// time = when it arrived); Join feeds the prediction log (predictions.fraud, one record per
// model score at its transaction's event time) and those outcomes to a monitoring.Joiner;
// Export recomputes each model version's quality every cfg.Every and sets
// casebook_monitoring_online_quality{model="fraud",version,metric} with metric auc,
// precision_at_k (the mean over the window's days of the precision of each day's
// ReviewBudget highest scores), label_coverage, precision_at_action and
// recall_at_action (at the review threshold), labelled and the rest.
type Quality struct {
	cfg  QualityConfig
	log  *eventlog.Log
	join *monitoring.Joiner
	out  *monitoring.PredictionLog
}

// NewQuality builds the online quality over log, registering monitoring's metrics on reg.
func NewQuality(cfg QualityConfig, log *eventlog.Log, reg prometheus.Registerer) (*Quality, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := monitoring.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	join, err := monitoring.NewJoiner(cfg.Join(), m)
	if err != nil {
		return nil, err
	}
	out, err := monitoring.NewPredictionLog(log, m, nil)
	if err != nil {
		return nil, err
	}
	return &Quality{cfg: cfg, log: log, join: join, out: out}, nil
}

// Joiner is the running join (for tests and reports).
func (q *Quality) Joiner() *monitoring.Joiner { return q.join }

// Chargeback is the outcome a chargeback event reports: the transaction (by its event id)
// was fraud, known at the time the chargeback arrived.
func Chargeback(m *eventlog.Message) (predlog.Outcome, error) {
	tx, err := events.DecodeTx(m.Data)
	if err != nil {
		return predlog.Outcome{}, err
	}
	return predlog.Outcome{ID: events.TxID(tx.ID), Model: ModelName, Label: 1, Time: m.Time, Kind: "chargeback"}, nil
}

func consumer(stream, durable, subject string) eventlog.ConsumerConfig {
	cc := eventlog.DefaultConsumerConfig()
	cc.Stream, cc.Durable, cc.Subjects = stream, durable, []string{subject}
	return cc
}

// Outcomes republishes chargebacks as outcomes until ctx ends. Outcome event ids are one
// per transaction and kind, so a chargeback delivered twice is stored once.
func (q *Quality) Outcomes(ctx context.Context) error {
	return q.log.Consume(ctx, consumer(events.TxStream, OutcomesDurable, events.LabelSubject), func(ctx context.Context, m *eventlog.Message) error {
		o, err := Chargeback(m)
		if err != nil {
			return eventlog.Permanent(err)
		}
		return q.out.LogOutcomes(ctx, o)
	})
}

// Join applies the prediction log and the outcomes to the join until ctx ends or one of
// its two consumers fails (which stops the other).
func (q *Quality) Join(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := q.join.Handler()
	errc := make(chan error, 2)
	for _, c := range []eventlog.ConsumerConfig{
		consumer(predlog.PredictionStream, QualityPredDurable, predlog.PredictionSubject(ModelName)),
		consumer(predlog.OutcomeStream, QualityOutDurable, predlog.OutcomeSubject(ModelName)),
	} {
		go func() {
			err := q.log.Consume(ctx, c, h)
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	return errors.Join(<-errc, <-errc)
}

// Update advances the join to the newest prediction's event time and exports every
// version's quality, returning it.
func (q *Quality) Update() []monitoring.OnlineQuality {
	q.join.Advance(q.join.Clock())
	var out []monitoring.OnlineQuality
	for _, v := range q.join.Versions() {
		out = append(out, q.join.Quality(v))
	}
	return out
}

// Export calls Update every cfg.Every until ctx ends.
func (q *Quality) Export(ctx context.Context) error {
	t := time.NewTicker(q.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			q.Update()
		}
	}
}
