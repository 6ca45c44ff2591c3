package features

import (
	"context"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// BackfillStats says what a backfill recomputed.
type BackfillStats struct {
	Events int // events read from the log in the range (with window history)
	Rows   int // rows written to the offline store
	Days   int // day partitions rewritten
	Stats  Stats
}

// Backfill recomputes a view for the UTC days covering [from, to) from the event log with
// the batch execution, and rewrites those day partitions as new versions. It reads the log
// from the beginning and keeps events from the longest window before from, so windows at the
// start of the range are complete. With opts.IgnoreLateness (the usual repair) events the
// stream dropped as too late are included. Rows are stamped with the last log position read
// (unless opts.AsOfSeq says otherwise), so materializing the range afterwards replaces the
// online rows the stream computed from less of the log.
func Backfill(ctx context.Context, log *eventlog.Log, stream string, subjects []string, v *FeatureView, off *OfflineStore, from, to time.Time, opts BatchOptions) (BackfillStats, error) {
	var st BackfillStats
	from = from.UTC().Truncate(24 * time.Hour)
	if t := to.UTC().Truncate(24 * time.Hour); t.Before(to) {
		to = t.Add(24 * time.Hour)
	}
	history := from.Add(-v.MaxSpan() - v.Bucket)
	var evs []Event
	rs, err := log.Replay(ctx, stream, eventlog.FromBeginning(), subjects, func(_ context.Context, m *eventlog.Message) error {
		if !m.Time.Before(history) && m.Time.Before(to) {
			evs = append(evs, eventOf(m))
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("backfill %s: %w", v.Name, err)
	}
	st.Events = len(evs)
	if opts.AsOfSeq == 0 {
		opts.AsOfSeq = rs.LastSeq
	}
	res, err := ComputeBatch(v, evs, opts)
	if err != nil {
		return st, fmt.Errorf("backfill %s: %w", v.Name, err)
	}
	st.Stats = res.Stats
	var rows []Row
	days := map[string]bool{}
	for _, r := range res.Rows {
		if !r.Time.Before(from) && r.Time.Before(to) {
			rows = append(rows, r)
			days[dayKey(r.Time)] = true
		}
	}
	if err := off.Rewrite(ctx, v.Name, rows, fmt.Sprintf("backfill %s..%s", dayKey(from), dayKey(to))); err != nil {
		return st, fmt.Errorf("backfill %s: %w", v.Name, err)
	}
	st.Rows, st.Days = len(rows), len(days)
	return st, nil
}
