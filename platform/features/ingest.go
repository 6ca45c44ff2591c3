package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// IngestConfig says which events feed which views.
type IngestConfig struct {
	// Consumer is the durable consumer on the event log (Stream, Durable, Subjects...).
	Consumer eventlog.ConsumerConfig
	// Views are the registered views every event is offered to.
	Views []string
	// OfflineFlushRows: rows buffered per view before they are appended to the offline
	// store as a new file. Rows still buffered when the process dies are not lost for good:
	// the log keeps the events and Backfill recomputes them.
	OfflineFlushRows int
	Logger           *slog.Logger
}

// DefaultIngestConfig fills the knobs; set Consumer.Stream, Consumer.Durable and Views.
func DefaultIngestConfig() IngestConfig {
	return IngestConfig{Consumer: eventlog.DefaultConsumerConfig(), OfflineFlushRows: 50_000}
}

// Validate names every problem.
func (c IngestConfig) Validate() error {
	var errs []error
	if err := c.Consumer.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Views) == 0 {
		errs = append(errs, errors.New("no views to ingest into"))
	}
	if c.OfflineFlushRows < 1 {
		errs = append(errs, fmt.Errorf("OfflineFlushRows must be positive, got %d", c.OfflineFlushRows))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: ingest: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Ingestor is the streaming path: a durable event-log consumer that runs each view's
// Aggregator and writes the rows it emits to the online store and, buffered, to the offline
// store. It is idempotent by event id (the aggregators skip ids they applied), and rows the
// online store did not take are kept, newest per entity, and retried before the event is
// acknowledged, so a Redis outage delays values but does not lose them.
type Ingestor struct {
	log     *eventlog.Log
	reg     *Registry
	online  OnlineStore
	offline *OfflineStore
	metrics *Metrics
	cfg     IngestConfig
	logger  *slog.Logger

	mu      sync.Mutex
	aggs    []*Aggregator
	views   []*FeatureView
	unsent  []map[string]Row // per view: rows not yet taken by the online store
	pending [][]Row          // per view: rows not yet appended offline
}

// NewIngestor wires the streaming path. offline and metrics may be nil.
func NewIngestor(log *eventlog.Log, reg *Registry, online OnlineStore, offline *OfflineStore, metrics *Metrics, cfg IngestConfig) (*Ingestor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := &Ingestor{log: log, reg: reg, online: online, offline: offline, metrics: metrics, cfg: cfg,
		logger: logger.With("component", "features/ingest", "consumer", cfg.Consumer.Durable)}
	for _, name := range cfg.Views {
		v, err := reg.View(name)
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		a, err := NewAggregator(v)
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		in.views = append(in.views, v)
		in.aggs = append(in.aggs, a)
		in.unsent = append(in.unsent, map[string]Row{})
		in.pending = append(in.pending, nil)
	}
	return in, nil
}

// Run rebuilds the aggregation state from the events the durable consumer has already
// acknowledged (a replay that writes nothing), then consumes until ctx ends, and finally
// flushes buffered offline rows.
func (in *Ingestor) Run(ctx context.Context) error {
	if err := in.warmUp(ctx); err != nil {
		return err
	}
	err := in.log.Consume(ctx, in.cfg.Consumer, in.Handle)
	ferr := in.Flush(context.WithoutCancel(ctx))
	return errors.Join(err, ferr)
}

var errCaughtUp = errors.New("caught up with the acknowledged events")

func (in *Ingestor) warmUp(ctx context.Context) error {
	st, err := in.log.ConsumerState(ctx, in.cfg.Consumer.Stream, in.cfg.Consumer.Durable)
	if err != nil || st.AckFloor == 0 {
		return nil // a new consumer: nothing was applied before
	}
	_, err = in.log.Replay(ctx, in.cfg.Consumer.Stream, eventlog.FromBeginning(), in.cfg.Consumer.Subjects, func(_ context.Context, m *eventlog.Message) error {
		if m.Sequence > st.AckFloor {
			return errCaughtUp
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		for _, a := range in.aggs {
			_, _, _ = a.Apply(eventOf(m)) // rows were written before the restart
		}
		return nil
	})
	if err != nil && !errors.Is(err, errCaughtUp) {
		return fmt.Errorf("ingest %s: rebuild state: %w", in.cfg.Consumer.Durable, err)
	}
	in.logger.Info("state rebuilt from the log", "ack_floor", st.AckFloor)
	return nil
}

func eventOf(m *eventlog.Message) Event {
	return Event{ID: m.ID, Time: m.Time, Seq: m.Sequence, Data: m.Data}
}

// Handle applies one event to every view; it is the consumer's handler. An event every
// view rejects is dead-lettered; an online store failure is returned so the event is
// redelivered (and the unsent rows are retried first).
func (in *Ingestor) Handle(ctx context.Context, m *eventlog.Message) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	ev := eventOf(m)
	var invalid []error
	for i, a := range in.aggs {
		rows, o, err := a.Apply(ev)
		name := in.views[i].Name
		if err != nil {
			invalid = append(invalid, err)
			if in.metrics != nil {
				in.metrics.ObserveInvalid(name)
			}
			continue
		}
		if in.metrics != nil {
			in.metrics.Observe(name, ev.Time, o)
		}
		for _, r := range rows {
			if old, ok := in.unsent[i][r.Entity]; !ok || r.Newer(&old) {
				in.unsent[i][r.Entity] = r
			}
		}
		in.pending[i] = append(in.pending[i], rows...)
	}
	if err := in.sendOnline(ctx); err != nil {
		return err
	}
	if err := in.flushOffline(ctx, false); err != nil {
		return err
	}
	if len(invalid) == len(in.aggs) {
		return eventlog.Permanent(errors.Join(invalid...))
	}
	for _, err := range invalid {
		in.logger.Warn("event rejected by a view", "id", m.ID, "err", err)
	}
	return nil
}

func (in *Ingestor) sendOnline(ctx context.Context) error {
	for i, rows := range in.unsent {
		if len(rows) == 0 {
			continue
		}
		batch := make([]Row, 0, len(rows))
		for _, r := range rows {
			batch = append(batch, r)
		}
		if _, err := in.online.Write(ctx, in.views[i].Name, batch); err != nil {
			return fmt.Errorf("ingest %s: %w", in.views[i].Name, err)
		}
		clear(rows)
	}
	return nil
}

func (in *Ingestor) flushOffline(ctx context.Context, all bool) error {
	if in.offline == nil {
		return nil
	}
	for i, rows := range in.pending {
		if len(rows) == 0 || (!all && len(rows) < in.cfg.OfflineFlushRows) {
			continue
		}
		if err := in.offline.Append(ctx, in.views[i].Name, rows); err != nil {
			return fmt.Errorf("ingest %s: %w", in.views[i].Name, err)
		}
		in.pending[i] = nil
	}
	return nil
}

// Flush writes unsent online rows and appends every buffered offline row.
func (in *Ingestor) Flush(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return errors.Join(in.sendOnline(ctx), in.flushOffline(ctx, true))
}

// Stats returns each view's outcome counts.
func (in *Ingestor) Stats() map[string]Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]Stats{}
	for i, a := range in.aggs {
		out[in.views[i].Name] = a.Stats()
	}
	return out
}

// Newest returns each view's newest applied event time.
func (in *Ingestor) Newest() map[string]time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]time.Time{}
	for i, a := range in.aggs {
		out[in.views[i].Name] = a.Newest()
	}
	return out
}
