// Package live assembles the fraud case study's streaming system from simulated history:
// features defined for the online path, a model trained on the history and chosen
// thresholds, a registry with that model as champion, the serving layer in process, and a
// scorer whose online features are warmed with the history, ready to consume the live
// part of the stream. The fraud/stream scenario, `fraud stream` (the system loadgen drives)
// and the tests share it.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/serving"
)

// Day is a simulated day.
const Day = 24 * time.Hour

// StoreBreaker is how long the scorer skips the online store after a failure.
const StoreBreaker = 250 * time.Millisecond

// Config shapes the system. Days are simulation days: the model trains on [0, TrainEnd),
// thresholds are chosen on [TrainEnd, ValidEnd), the features are warmed with everything
// before StreamFrom and the live stream starts there.
type Config struct {
	TrainEnd, ValidEnd, StreamFrom int
	// LabelDelay is how long after a fraud its chargeback arrives.
	LabelDelay time.Duration
	// Bucket is the feature windows' bucket (one hour online; see the case study).
	Bucket time.Duration
	// TxLateness is how far behind the newest transaction one may arrive and still count
	// (producers publishing concurrently reorder neighbours a little).
	TxLateness time.Duration
	// ReviewBudget is the cards investigators can check a day.
	ReviewBudget int
	// Actor names who registers and promotes the model in the registry's audit log.
	Actor string
	// Metrics receives the serving layer's metrics (nil: a private registry).
	Metrics prometheus.Registerer
	// PredictionLog, when set, receives the serving layer's prediction records.
	PredictionLog serving.PredictionLogger
	// Logger receives the registry's and the serving layer's logs (refused alias moves,
	// breaker changes); nil discards them.
	Logger *slog.Logger
	// Tokenizer replaces customer ids by keyed-hash tokens before anything else sees the
	// transactions (events.Tokenize). Required: main builds it from the environment
	// (pii.FromEnv), and only the local default falls back to pii.Demo.
	Tokenizer *pii.Tokenizer
	// RetryHorizon is how long after a transaction's first copy a producer's late retry is
	// still recognised by the scorer (stream.ScorerConfig.RetryHorizon; zero:
	// events.RetryHorizon).
	RetryHorizon time.Duration
	// rawIDs skips the tokenization: only the PII scan's control run sets it, to show the
	// scan finds raw ids where they would leak.
	rawIDs bool
}

// DefaultConfig trains on 4 weeks, validates on the next week and streams from day 60,
// with chargebacks 7 days late and 100 cards a day for investigators.
func DefaultConfig() Config {
	return Config{TrainEnd: 46, ValidEnd: 53, StreamFrom: 60, LabelDelay: 7 * Day, Bucket: time.Hour, TxLateness: time.Hour, ReviewBudget: 100, Actor: "fraud/live"}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if !(0 < c.TrainEnd && c.TrainEnd < c.ValidEnd && c.ValidEnd <= c.StreamFrom) {
		errs = append(errs, fmt.Errorf("want 0 < TrainEnd (%d) < ValidEnd (%d) ≤ StreamFrom (%d)", c.TrainEnd, c.ValidEnd, c.StreamFrom))
	}
	if c.LabelDelay <= 0 || c.LabelDelay >= 8*Day {
		errs = append(errs, fmt.Errorf("the label delay %v must be in (0, 8 days): the terminal views accept labels up to 8 days late", c.LabelDelay))
	}
	if c.RetryHorizon < 0 {
		errs = append(errs, fmt.Errorf("the retry horizon %v must not be negative", c.RetryHorizon))
	}
	if c.TxLateness < 0 {
		errs = append(errs, fmt.Errorf("the transaction lateness %v must not be negative", c.TxLateness))
	}
	if c.Bucket <= 0 {
		errs = append(errs, fmt.Errorf("the bucket %v must be positive", c.Bucket))
	}
	if c.ReviewBudget < 1 {
		errs = append(errs, fmt.Errorf("the review budget %d must be at least 1", c.ReviewBudget))
	}
	if c.Tokenizer == nil {
		errs = append(errs, fmt.Errorf("no PII tokenizer: set %s or %s (pii.FromEnv); local runs may use pii.Demo", pii.EnvKey, pii.EnvKeyFile))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("live config: %w", err)
	}
	return nil
}

// System is the assembled case study.
type System struct {
	Config     Config
	Txs        []sim.Transaction
	Features   *features.Registry
	Registry   *registry.Registry
	Server     *serving.Server
	Thresholds decision.Thresholds
	Policy     decision.Policy
	Version    registry.Version
	// ValidAUC is the model's AUC on the validation days.
	ValidAUC float64
	// History is the log events before StreamFrom (transactions and the chargebacks that
	// arrived before it); Live the rest, in arrival order.
	History, Live []eventlog.Event
	// LiveTx counts the transactions in Live.
	LiveTx int
	dir    string
}

// Build trains, registers and serves a logistic regression on txs (in time order, with
// their labels) and splits the event stream. Close releases it. The customer ids of txs are
// raw: Build tokenizes them first, and System.Txs holds the tokenized copy.
func Build(ctx context.Context, cfg Config, txs []sim.Transaction) (*System, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.rawIDs {
		txs = events.Tokenize(cfg.Tokenizer, txs)
	}
	s := &System{Config: cfg, Txs: txs, Features: features.NewRegistry()}
	if err := txfeatures.RegisterStream(s.Features, cfg.Bucket, cfg.TxLateness, 8*Day); err != nil {
		return nil, err
	}
	x, err := txfeatures.Offline(s.Features, txs)
	if err != nil {
		return nil, err
	}
	train := ml.Dataset{Schema: ml.FloatSchema(txfeatures.Names...)}
	valid := ml.Dataset{Schema: train.Schema}
	var valTx []sim.Transaction
	for i, t := range txs {
		row := x[i*txfeatures.Width : (i+1)*txfeatures.Width]
		switch {
		case t.Day < cfg.TrainEnd:
			train.X, train.Y = append(train.X, row...), append(train.Y, b2f(t.Fraud))
		case t.Day < cfg.ValidEnd:
			valid.X, valid.Y = append(valid.X, row...), append(valid.Y, b2f(t.Fraud))
			valTx = append(valTx, t)
		}
	}
	if train.Rows() == 0 || valid.Rows() == 0 {
		return nil, fmt.Errorf("live: %d training and %d validation transactions; simulate more days", train.Rows(), valid.Rows())
	}
	model, err := ml.TrainLogReg(ctx, train, ml.DefaultLogRegConfig())
	if err != nil {
		return nil, err
	}
	p := make([]float64, valid.Rows())
	if err := model.Predict(valid.Batch(), p); err != nil {
		return nil, err
	}
	s.ValidAUC = ml.AUC(valid.Y, p)
	scored := make([]decision.Scored, len(valTx))
	for k, t := range valTx {
		scored[k] = decision.Scored{Day: t.Day, Card: t.Customer, Score: p[k], Fraud: t.Fraud}
	}
	s.Policy = decision.DefaultPolicy()
	s.Policy.ReviewBudget = cfg.ReviewBudget
	if s.Thresholds, err = decision.Choose(scored, s.Policy); err != nil {
		return nil, err
	}
	imp, err := pipeline.GlobalImportance(model, valid, "holdout", pipeline.DefaultImportanceRows)
	if err != nil {
		return nil, err
	}
	if err := s.serve(ctx, model, train.Fingerprint(), imp); err != nil {
		s.Close()
		return nil, err
	}
	evs, err := events.Replay(txs, cfg.LabelDelay)
	if err != nil {
		s.Close()
		return nil, err
	}
	from := cfg.StreamFrom
	split := len(evs)
	for i, ev := range evs {
		var t sim.Transaction
		if ev.Subject == events.TxSubject && json.Unmarshal(ev.Data, &t) == nil && t.Day >= from {
			split = i
			break
		}
	}
	s.History, s.Live = evs[:split], evs[split:]
	for _, ev := range s.Live {
		if ev.Subject == events.TxSubject {
			s.LiveTx++
		}
	}
	return s, nil
}

func (s *System) serve(ctx context.Context, model ml.Model, fingerprint string, importance *registry.Importance) error {
	dir, err := os.MkdirTemp("", "fraud-live-*")
	if err != nil {
		return err
	}
	s.dir = dir
	fc := regfs.DefaultConfig()
	fc.Dir = dir
	rstore, err := regfs.Open(fc)
	if err != nil {
		return err
	}
	rc := registry.DefaultConfig()
	rc.Logger = s.Config.Logger
	if s.Registry, err = registry.New(rstore, rc); err != nil {
		return err
	}
	art, err := model.MarshalBinary()
	if err != nil {
		return err
	}
	hash, err := s.Features.SchemaHash(txfeatures.Service)
	if err != nil {
		return err
	}
	v, _, err := s.Registry.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
		Model: "fraud", Family: string(model.Family()), Schema: model.Schema(), RegisteredBy: s.Config.Actor,
		Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: s.ValidAUC}}, DataFingerprint: fingerprint,
		FeatureService: txfeatures.Service, FeatureServiceHash: hash,
		Importance: importance,
		Privacy:    &registry.Privacy{PIIPolicy: s.Config.Tokenizer.Policy("customer ids (CUSTOMER_ID)")},
	}})
	if err != nil {
		return err
	}
	s.Version = v
	if _, err := s.Registry.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v.Number,
		Actor: s.Config.Actor, Gates: registry.Gates{EvalSet: "holdout", Metric: ml.MetricAUC}}); err != nil {
		return err
	}
	scfg := serving.DefaultConfig()
	scfg.Registerer = s.Config.Metrics
	scfg.PredictionLog = s.Config.PredictionLog
	scfg.Logger = s.Config.Logger
	scfg.Features = s.Features // a version trained on other views is refused (CheckSchema)
	mc := serving.DefaultModelConfig("fraud")
	mc.SLA = time.Second
	mc.FeatureService = txfeatures.Service
	scfg.Models = []serving.ModelConfig{mc}
	s.Server, err = serving.New(ctx, s.Registry, scfg)
	return err
}

// Scorer returns a scorer over store, its features warmed with the history (as a
// deployment would from its backfill), consuming from log (nil: deciding in process only),
// observing its latency in met (nil: not observed).
func (s *System) Scorer(ctx context.Context, log *eventlog.Log, store features.OnlineStore, stats *stream.Stats, met *stream.Metrics) (*stream.Scorer, error) {
	return stream.NewScorer(ctx, stream.ScorerConfig{
		Log: log, Features: s.Features, Store: store, Model: stream.Served{Server: s.Server, Name: "fraud"},
		Thresholds: s.Thresholds, Rules: decision.DefaultRules(), Stats: stats, Metrics: met,
		StoreBreaker: StoreBreaker, History: s.History, Logger: s.Config.Logger, RetryHorizon: s.Config.RetryHorizon,
	})
}

// Close stops serving and removes the registry's directory.
func (s *System) Close() {
	if s.Server != nil {
		s.Server.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
