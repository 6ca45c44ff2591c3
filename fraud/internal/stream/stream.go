// Package stream is the fraud case study's streaming scorer: it consumes transactions from
// the event log, updates and reads the online features, scores through the serving layer
// in process, decides against thresholds (or the rules when the model path fails) and
// publishes one decision per transaction, idempotently by transaction id.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/nats-io/nats.go/jetstream"
)

// Re-exported names of the wire contract (package events).
const (
	TxStream        = events.TxStream
	TxSubject       = events.TxSubject
	LabelSubject    = events.LabelSubject
	DecisionStream  = events.DecisionStream
	DecisionSubject = events.DecisionSubject
	DefaultDurable  = "fraud-scorer"
)

// Model scores one feature vector; serving.Server is adapted to it in serving.go.
type Model interface {
	Score(ctx context.Context, x []float64) (score float64, version int, path string, err error)
}

// Stats count decisions by path and the feature-store failures; they are what the
// outage test reads and what a metrics exporter would publish.
type Stats struct {
	Model, Rules, FeatureErrors, ModelErrors, Published, Republished, Labels atomic.Int64
}

// Scorer turns transactions into decisions.
type Scorer struct {
	log        *eventlog.Log
	online     *txfeatures.Online
	model      Model
	thresholds decision.Thresholds
	rules      decision.Rules
	stats      *Stats
	vec        []float64
	// afterPublish, set by tests, runs between publishing a decision and acking its
	// transaction: the window a crash leaves a decision published but not acknowledged.
	afterPublish func(id string) error
}

// NewScorer builds a scorer over a feature registry and online store.
func NewScorer(log *eventlog.Log, reg *features.Registry, store features.OnlineStore, model Model,
	th decision.Thresholds, rules decision.Rules, stats *Stats) (*Scorer, error) {
	on, err := txfeatures.NewOnline(reg, store)
	if err != nil {
		return nil, err
	}
	return &Scorer{log: log, online: on, model: model, thresholds: th, rules: rules, stats: stats, vec: make([]float64, txfeatures.Width)}, nil
}

// Rebuild replays the transactions the durable consumer has acknowledged into the online
// features, so a restarted scorer sees the windows it had (feature state lives in memory).
// Events after the ack floor are left to the consumer.
func (s *Scorer) Rebuild(ctx context.Context, durable string) error {
	st, err := s.log.ConsumerState(ctx, TxStream, durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil // first start: nothing to rebuild
	case err != nil:
		return fmt.Errorf("rebuild features: %w", err)
	case st.AckFloor == 0:
		return nil
	}
	_, err = s.log.Replay(ctx, TxStream, eventlog.FromBeginning(), nil, func(ctx context.Context, m *eventlog.Message) error {
		if m.Sequence > st.AckFloor {
			return nil
		}
		_, err := s.Process(ctx, m.Subject, m.Data, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild features: %w", err)
	}
	return nil
}

// Run consumes transactions until ctx ends. It forces one delivery in flight: windows need
// event order, and with more in flight a crash lets later transactions overtake the
// unacknowledged ones, which then arrive behind the watermark and would be scored
// without features. That costs a round trip per transaction (see the case study's doc).
func (s *Scorer) Run(ctx context.Context, cfg eventlog.ConsumerConfig) error {
	cfg.Stream = TxStream
	cfg.MaxAckPending, cfg.BatchSize = 1, 1
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if err := s.Rebuild(ctx, cfg.Durable); err != nil {
		return err
	}
	return s.log.Consume(ctx, cfg, s.handle)
}

// Process applies one log event: a label updates the terminal features; a transaction
// updates the features and, if decide is set, is decided. It returns the decision, or nil.
func (s *Scorer) Process(ctx context.Context, subject string, data []byte, decide bool) (*decision.Decision, error) {
	var tx sim.Transaction
	if err := json.Unmarshal(data, &tx); err != nil {
		return nil, eventlog.Permanent(fmt.Errorf("decode %s: %w", subject, err))
	}
	switch {
	case subject == LabelSubject:
		s.stats.Labels.Add(1)
		if err := s.online.ApplyLabel(ctx, tx); err != nil {
			// The aggregator has the label; only the store write failed, and the terminal's
			// next transaction writes its row again. Retrying would stall the stream behind
			// an outage (one delivery in flight), so count it and go on.
			s.stats.FeatureErrors.Add(1)
		}
		return nil, nil
	case !decide:
		return nil, s.online.ApplyUnlabelled(ctx, tx)
	}
	d := s.Decide(ctx, tx)
	return &d, nil
}

func (s *Scorer) handle(ctx context.Context, m *eventlog.Message) error {
	d, err := s.Process(ctx, m.Subject, m.Data, true)
	if err != nil || d == nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return eventlog.Permanent(err)
	}
	ack, err := s.log.Publish(ctx, eventlog.Event{ID: events.DecisionID(m.ID), Subject: DecisionSubject, Data: b})
	if err != nil {
		return fmt.Errorf("publish decision %s: %w", m.ID, err)
	}
	if ack.Duplicate {
		s.stats.Republished.Add(1)
	} else {
		s.stats.Published.Add(1)
	}
	if s.afterPublish != nil {
		return s.afterPublish(m.ID)
	}
	return nil
}

// Decide updates the features with tx (its label unknown) and decides: the model's score against the
// thresholds, or the rules when the features or the model cannot be had.
func (s *Scorer) Decide(ctx context.Context, tx sim.Transaction) decision.Decision {
	d := decision.Decision{TransactionID: tx.ID}
	rf := decision.Features{Amount: tx.Amount}
	err := s.online.ApplyUnlabelled(ctx, tx)
	if err == nil {
		err = s.online.Vector(ctx, tx, s.vec)
	}
	if err != nil {
		s.stats.FeatureErrors.Add(1)
	} else {
		rf.HaveFeatures = true
		rf.CustomerNbTx1d = s.vec[3]
		rf.TerminalNbTx7d = s.vec[11]
		rf.TerminalRisk7d = s.vec[12]
		score, version, path, merr := s.model.Score(ctx, s.vec)
		if merr == nil {
			s.stats.Model.Add(1)
			d.Action, d.Score, d.ModelVersion, d.Path, d.ServingPath = s.thresholds.Decide(score), score, version, decision.PathModel, path
			return d
		}
		s.stats.ModelErrors.Add(1)
		err = merr
	}
	s.stats.Rules.Add(1)
	d.Action, d.Reason = s.rules.Decide(rf)
	d.Path = decision.PathRules
	d.Reason += " (" + err.Error() + ")"
	return d
}

// NewScorerWarm returns s attached to log, keeping the features s has applied (a scorer
// warmed from a backfill before it consumes).
func NewScorerWarm(s *Scorer, log *eventlog.Log) (*Scorer, error) {
	if log == nil {
		return nil, errors.New("scorer: nil event log")
	}
	c := *s
	c.log = log
	return &c, nil
}
