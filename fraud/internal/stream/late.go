package stream

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// The retry check beyond FirstSeen's horizon.
//
// FirstSeen is exact for a copy whose first copy it still remembers: one stored in its
// current or previous generation of log time. It forgets a first copy only when that
// copy's generation ends, and a retry is byte for byte the event it repeats, event time
// included. So the scorer keeps, beside FirstSeen and in step with its generations, the
// newest event time among the events of each live generation, and folds a generation's
// into forgot when FirstSeen drops it: forgot is the newest event time of any event
// FirstSeen may have forgotten. An event whose event time is newer than forgot cannot be a
// copy of a forgotten one, so FirstSeen's answer is final; only the others ("late": event
// time at or before forgot, which for events arriving in event-time order means a copy
// stored a horizon or more after events newer than it) pay a lookup in the log: the
// decision on the transaction's id (one per transaction, each on its own subject, so one
// request: eventlog.LastBySubject). A decision whose HeaderTxSeq is below this event's
// sequence was made on an earlier copy: this one is a retry. None, or one on this very
// sequence (a first copy offered again after a crash), and it is a first copy, unless an
// earlier copy is in the same batch (its decision is not stored yet).
//
// A chargeback has no decision to look up, and needs none to be counted once: the feature
// views remember the id of every event whose event time is within their allowed lateness
// of the newest (features.Aggregator: a second copy is a Duplicate) and drop every event
// older than that (Dropped), and a copy carries its first copy's event time (for a label,
// its transaction's, txfeatures.LabelEvent). So a late chargeback copy is applied to
// nothing whatever its delay; what it costs is one more call to the views.
//
// Nothing here is on the common path but a division, a comparison and a max per event.
// The answer for a late event is a function of the log (the transaction stream up to it and
// the decisions and records of the events before it, all stored before their batch was
// acknowledged), so a restarted scorer classifies every copy as the crashed one did, and
// which events count as late does not change any answer, only which ones are looked up.
// The bound: the first copy's decision must still be in the log, so a retry is recognised
// for as long as FRAUD_DECISIONS keeps its events (forever as declared here,
// events.Streams), and the late test needs the first copy's generation to have been seen,
// which a scorer that rebuilds from the start of FRAUD_TX has (an event time of a copy
// whose first copy was removed from FRAUD_TX by a retention limit may look new: keep
// FRAUD_TX at least as long as the retries you must catch).

// lateCheck follows FirstSeen's generations (stored time / horizon, aligned the same way)
// and tells which events FirstSeen may have forgotten the first copy of.
type lateCheck struct {
	horizon int64
	gen     int64
	started bool
	maxE    [2]int64 // newest event time (ns) offered in each live generation, by parity
	forgot  int64    // newest event time of a dropped generation; math.MinInt64 if none
}

func newLateCheck(horizon time.Duration) *lateCheck {
	return &lateCheck{horizon: int64(max(horizon, 1)), maxE: [2]int64{math.MinInt64, math.MinInt64}, forgot: math.MinInt64}
}

// offer is called for every event offered to FirstSeen, in the same order and with the same
// stored time; it reports whether FirstSeen may have forgotten a first copy of it. An event
// without an event time is late as soon as anything was forgotten.
func (c *lateCheck) offer(stored, eventTime time.Time) bool {
	g := stored.UnixNano() / c.horizon
	switch {
	case !c.started:
		c.gen, c.started = g, true
	case g == c.gen+1: // FirstSeen drops generation gen-1, of g's parity
		c.forgot = max(c.forgot, c.maxE[g&1])
		c.maxE[g&1] = math.MinInt64
		c.gen = g
	case g > c.gen+1: // it drops everything
		c.forgot = max(c.forgot, c.maxE[0], c.maxE[1])
		c.maxE = [2]int64{math.MinInt64, math.MinInt64}
		c.gen = g
	}
	e := int64(math.MinInt64)
	if !eventTime.IsZero() {
		e = eventTime.UnixNano()
	}
	c.maxE[c.gen&1] = max(c.maxE[c.gen&1], e)
	return c.forgot != math.MinInt64 && e <= c.forgot
}

// firstCopy reports whether m is the first copy of its event in TxStream, for any delay
// between the copies: a producer that retries a publish after the log's duplicates window
// has it stored again, and only the first copy may touch the features or be decided.
// FirstSeen answers; a late event (lateCheck) is also looked up in the log, and in batch,
// the events of m's batch before it that were taken as first copies. It is checked before
// anything is applied, on the one ordered goroutine, so a crash anywhere leaves nothing to
// undo. A retry is counted, and whoever waits for its transaction is told where the
// decision is.
func (s *Scorer) firstCopy(ctx context.Context, m *eventlog.Message, batch []item) (bool, error) {
	if s.firstSeen == nil {
		return true, nil
	}
	first := s.firstSeen.First(m.ID, m.Sequence, m.Stored)
	late := s.late.offer(m.Stored, m.Time)
	if !first {
		s.retried(m)
		return false, nil
	}
	if !late {
		return true, nil
	}
	if m.Subject == LabelSubject {
		// A chargeback has no decision to look up, and needs none: see the package
		// comment above.
		return true, nil
	}
	s.stats.LateLookups.Add(1)
	for _, it := range batch {
		if it.id == m.ID && it.seq < m.Sequence {
			s.stats.Retried.Add(1)
			return false, nil // its decision goes out with this batch; a waiter gets that
		}
	}
	seq, ok, err := s.decidedSeq(ctx, m)
	if err != nil {
		return false, err
	}
	if ok && seq < m.Sequence {
		s.stats.Retried.Add(1)
		s.await.decidedAt(m.ID, seq)
		return false, nil
	}
	return true, nil
}

// decidedSeq is the TxStream sequence of the copy of transaction m that the log holds a
// decision on, if any.
func (s *Scorer) decidedSeq(ctx context.Context, m *eventlog.Message) (uint64, bool, error) {
	d, err := s.log.LastBySubject(ctx, DecisionStream, events.DecisionSubject(m.ID))
	if err != nil || d == nil {
		return 0, false, err
	}
	seq, err := strconv.ParseUint(d.Header[HeaderTxSeq], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s at %d in %s: header %s: %w", d.ID, d.Sequence, DecisionStream, HeaderTxSeq, err)
	}
	return seq, true, nil
}
