package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// MaterializeConfig tunes materialization.
type MaterializeConfig struct {
	// BatchSize is how many rows go to the online store per write.
	BatchSize int
	Logger    *slog.Logger
}

// DefaultMaterializeConfig writes 2,000 rows per round trip.
func DefaultMaterializeConfig() MaterializeConfig { return MaterializeConfig{BatchSize: 2000} }

// Validate names every problem.
func (c MaterializeConfig) Validate() error {
	if c.BatchSize < 1 {
		return fmt.Errorf("%w: materialize: BatchSize must be positive, got %d", ErrInvalidConfig, c.BatchSize)
	}
	return nil
}

// Materializer copies the newest offline values of each entity to the online store.
type Materializer struct {
	off     *OfflineStore
	on      OnlineStore
	cfg     MaterializeConfig
	metrics *Metrics
	logger  *slog.Logger
}

// NewMaterializer wires a materializer. metrics may be nil.
func NewMaterializer(off *OfflineStore, on OnlineStore, metrics *Metrics, cfg MaterializeConfig) (*Materializer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Materializer{off: off, on: on, cfg: cfg, metrics: metrics, logger: logger.With("component", "features/materialize")}, nil
}

// MaterializeStats says what a run did.
type MaterializeStats struct {
	Days     int // day partitions processed
	Rows     int // offline rows read
	Entities int // newest rows offered to the online store
	Applied  int // rows the online store took (newer than what it held)
	Values   int // feature values in applied rows
	From, To time.Time
}

// Range materializes rows with from <= time < to. It is idempotent: the online store keeps
// the newest row per entity, so a second run over the same range applies nothing.
func (m *Materializer) Range(ctx context.Context, view string, from, to time.Time) (MaterializeStats, error) {
	return m.run(ctx, view, from, to, nil)
}

// Incremental materializes from the view's persisted watermark up to until, one UTC day at
// a time, saving the watermark after each day: a run killed midway resumes at the first day
// it did not finish, and rewriting that day's rows is harmless. Rows that land in the
// offline store behind the watermark (a backfill) need a Range run.
func (m *Materializer) Incremental(ctx context.Context, view string, until time.Time) (MaterializeStats, error) {
	from, err := m.Watermark(view)
	if err != nil {
		return MaterializeStats{}, err
	}
	if !until.After(from) {
		return MaterializeStats{From: from, To: until}, nil
	}
	return m.run(ctx, view, from, until, func(t time.Time) error { return m.saveWatermark(view, t) })
}

func (m *Materializer) run(ctx context.Context, view string, from, to time.Time, checkpoint func(time.Time) error) (MaterializeStats, error) {
	st := MaterializeStats{From: from, To: to}
	v, err := m.off.reg.View(view)
	if err != nil {
		return st, fmt.Errorf("materialize: %w", err)
	}
	start := from
	if start.IsZero() {
		if start = m.off.Oldest(view); start.IsZero() {
			return st, nil
		}
	}
	if newest := m.off.Newest(view); !newest.IsZero() && to.After(newest) {
		to = newest.Add(time.Nanosecond) // nothing beyond; do not walk empty days
	}
	if !start.Before(to) {
		return st, nil
	}
	for day := start.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		lo, hi := maxT(day, start), minT(day.Add(24*time.Hour), to)
		rows, err := m.off.Scan(ctx, view, lo, hi)
		if err != nil {
			return st, fmt.Errorf("materialize %s: %w", view, err)
		}
		newest := map[string]int{}
		for i := range rows {
			if j, ok := newest[rows[i].Entity]; !ok || rows[i].Newer(&rows[j]) {
				newest[rows[i].Entity] = i
			}
		}
		batch := make([]Row, 0, m.cfg.BatchSize)
		flush := func() error {
			ws, err := m.on.Write(ctx, view, batch)
			if err != nil {
				return fmt.Errorf("materialize %s day %s: %w", view, dayKey(day), err)
			}
			st.Applied += ws.Applied
			st.Values += ws.Applied * len(v.Features)
			batch = batch[:0]
			return nil
		}
		for _, i := range newest {
			batch = append(batch, rows[i])
			if len(batch) == m.cfg.BatchSize {
				if err := flush(); err != nil {
					return st, err
				}
			}
		}
		if err := flush(); err != nil {
			return st, err
		}
		st.Days++
		st.Rows += len(rows)
		st.Entities += len(newest)
		if checkpoint != nil {
			if err := checkpoint(hi); err != nil {
				return st, err
			}
		}
	}
	if m.metrics != nil {
		m.metrics.materialized(view, st.Values)
	}
	m.logger.Info("materialized", "view", view, "from", from, "to", to, "rows", st.Rows, "applied", st.Applied)
	return st, nil
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type watermarkFile struct {
	Watermark time.Time `json:"watermark"`
	Saved     time.Time `json:"saved"`
}

func (m *Materializer) watermarkPath(view string) string {
	return filepath.Join(m.off.cfg.Dir, "materialize", view+".json")
}

// Watermark is the event time below which Incremental has materialized the view (zero if
// it never ran).
func (m *Materializer) Watermark(view string) (time.Time, error) {
	b, err := os.ReadFile(m.watermarkPath(view))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("materialize watermark: %w", err)
	}
	var w watermarkFile
	if err := json.Unmarshal(b, &w); err != nil {
		return time.Time{}, fmt.Errorf("materialize watermark %s: %w", m.watermarkPath(view), err)
	}
	return w.Watermark, nil
}

func (m *Materializer) saveWatermark(view string, t time.Time) error {
	p := m.watermarkPath(view)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("materialize watermark: %w", err)
	}
	b, _ := json.Marshal(watermarkFile{Watermark: t.UTC(), Saved: time.Now().UTC()})
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("materialize watermark: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("materialize watermark: %w", err)
	}
	return nil
}
