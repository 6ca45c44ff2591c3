package live

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// TestStreamEndToEnd: the assembled system decides every live transaction exactly once,
// logs each model score under its transaction id, and exports its counters and the
// freshness of the feature views it writes.
func TestStreamEndToEnd(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	if err := monitoring.EnsureStreams(ctx, log, time.Hour); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sys := smallSystem(t, reg, log)
	if sys.LiveTx == 0 || len(sys.History) == 0 {
		t.Fatalf("live %d transactions, history %d events; want both", sys.LiveTx, len(sys.History))
	}
	stats := &stream.Stats{}
	met, err := stream.NewMetrics(reg, stats)
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := sys.Scorer(ctx, log, memory.New(sys.Features), stats, met)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.PublishBatch(ctx, sys.Live); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	cc := eventlog.DefaultConsumerConfig()
	go func() { done <- scorer.Run(rctx, cc) }()
	deadline := time.Now().Add(30 * time.Second)
	for stats.Published.Load() < int64(sys.LiveTx) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	decided := map[int64]int{}
	model := 0
	if _, err := log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var dd decision.Decision
		if err := json.Unmarshal(m.Data, &dd); err != nil {
			return err
		}
		decided[dd.TransactionID]++
		if dd.Path == decision.PathModel {
			model++
		}
		if want := events.DecisionID(events.TxID(dd.TransactionID)); m.ID != want {
			t.Errorf("decision event id %q, want %q", m.ID, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(decided) != sys.LiveTx {
		t.Errorf("%d transactions decided, want %d", len(decided), sys.LiveTx)
	}
	for id, n := range decided {
		if n != 1 {
			t.Fatalf("transaction %d has %d decisions, want 1", id, n)
		}
	}
	if model != sys.LiveTx {
		t.Errorf("%d model-path decisions of %d (no outage here)", model, sys.LiveTx)
	}
	// The serving layer's prediction log: one record per model score, under the transaction id.
	var preds int
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		preds = 0
		seen := map[string]bool{}
		if _, err := log.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
			ps, err := predlog.DecodePredictions(m)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if !seen[p.ID] {
					seen[p.ID] = true
					preds++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if preds >= model {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if preds != model {
		t.Errorf("%d prediction records, want one per model decision (%d)", preds, model)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"casebook_fraud_decisions_total", "casebook_fraud_feature_store_up", "casebook_fraud_decision_lag_seconds", "casebook_serving_requests_total",
		"casebook_feature_freshness_seconds", "casebook_feature_events_total"} {
		if !strings.Contains(all, want) {
			t.Errorf("metric %s not exported (have %s)", want, all)
		}
	}
	// Freshness: the newest event the scorer stored in each view is at least the newest
	// live transaction (both views take transactions) and at most the newest live event.
	var newestTx, newestEvent time.Time
	for _, ev := range sys.Live {
		if ev.Subject == events.TxSubject && ev.Time.After(newestTx) {
			newestTx = ev.Time
		}
		if ev.Time.After(newestEvent) {
			newestEvent = ev.Time
		}
	}
	stored := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "casebook_feature_newest_event_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "view" {
					stored[lp.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	for _, view := range []string{txfeatures.CustomerView, txfeatures.TerminalView} {
		got, ok := stored[view]
		lo, hi := float64(newestTx.UnixNano())/1e9, float64(newestEvent.UnixNano())/1e9
		if !ok || got < lo || got > hi {
			t.Errorf("casebook_feature_newest_event_timestamp_seconds{view=%q} = %v (exported %v), want within [%v, %v]", view, got, ok, lo, hi)
		}
	}
	t.Logf("%d live transactions, %d batches (mean %.1f)", sys.LiveTx, stats.Batches.Load(), float64(stats.BatchedTx.Load())/float64(max(1, stats.Batches.Load())))
}

// TestRunStreamMetricsPortTaken: `fraud stream` whose metrics address is taken stops with
// the listen error instead of running on without metrics.
func TestRunStreamMetricsPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := DefaultStreamConfig()
	cfg.MetricsAddr = taken.Addr().String()
	if err := RunStream(context.Background(), cfg, io.Discard); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("RunStream with the metrics port taken = %v, want the listen error", err)
	}
}
