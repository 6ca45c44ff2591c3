package stream

import (
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// PathNoop is the decision path of a no-op scorer (NewNoop).
const PathNoop = "noop"

// NewNoop returns a scorer that is the streaming pipeline without the fraud system: it
// consumes, decodes, publishes one decision per transaction and acknowledges exactly as a
// Scorer does (same batches, same log, same idempotency), but approves every transaction
// without features or a model. It is the floor of the end-to-end benchmark: what the event
// log, the consumer and the load generator cost on their own, so that the fraud system's
// CPU per decision and latency read as a ratio to it.
func NewNoop(log *eventlog.Log, stats *Stats, met *Metrics) *Scorer {
	return &Scorer{log: log, stats: stats, met: met, noop: true}
}

// noopRun decides run without features or model: each transaction approved, path noop.
func (s *Scorer) noopRun(run []item, out []decision.Decision) []decision.Decision {
	for _, it := range run {
		if it.Label {
			s.stats.Labels.Add(1)
			continue
		}
		s.stats.Noop.Add(1)
		out = append(out, decision.Decision{TransactionID: it.Tx.ID, Action: decision.Approve, Path: PathNoop})
	}
	return out
}
