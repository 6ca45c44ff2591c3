package stream

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/prometheus/client_golang/prometheus"
)

// A producer retries transactions and chargebacks long after FirstSeen's horizon (here
// 100 ms, the copies more than 5 horizons after their first), and the scorer is stopped
// and a fresh one started between two such rounds: each transaction still gets exactly one
// decision, equal to that of a scorer that never saw the copies (so no copy reached the
// features; probes a week later read the chargebacks' terminals), and the restarted scorer
// classifies the copies it replays as the first one did.
func TestRetryBeyondHorizonDecidedOnce(t *testing.T) {
	const horizon = 100 * time.Millisecond
	f := setup(t)
	ctx := context.Background()
	log := openForgetfulTx(t, 100*time.Millisecond)
	evs, err := events.Replay(f.txs[:1500], 6*time.Hour) // chargebacks in every part
	if err != nil {
		t.Fatal(err)
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 64
	start := func(stats *Stats) (stop func()) {
		s, err := NewScorer(ctx, ScorerConfig{Log: log, Features: f.reg, Store: memory.New(f.reg), Model: Served{Server: f.server, Name: "fraud"},
			Thresholds: f.th, Rules: decision.DefaultRules(), Stats: stats, RetryHorizon: horizon})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx, cc) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
		}
	}
	publish := func(evs []eventlog.Event) {
		if _, err := log.PublishBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
		waitCaught(t, log)
	}
	only := func(subject string, evs []eventlog.Event) (out []eventlog.Event) {
		for _, ev := range evs {
			if ev.Subject == subject {
				out = append(out, ev)
			}
		}
		return out
	}
	labels := func(evs []eventlog.Event) []eventlog.Event { return only(LabelSubject, evs) }
	// retryLate retries transactions (counted as retried, by the log's decisions) and
	// chargebacks (refused by the feature views, uncounted): it returns the transactions.
	retryLate := func(txs, labels []eventlog.Event) int {
		time.Sleep(5 * horizon)
		republishAfterWindow(t, log, labels)
		return republishAfterWindow(t, log, txs)
	}
	third := len(evs) / 3
	a, b, c := evs[:third], evs[third:2*third], evs[2*third:]

	stats1 := &Stats{}
	stop := start(stats1)
	publish(a)
	retries := retryLate(everyNth(only(TxSubject, a), 5), labels(a))
	waitCaught(t, log)
	publish(b)
	retries += retryLate(everyNth(only(TxSubject, b), 7), labels(b))
	waitCaught(t, log)
	stop()
	if n := stats1.Retried.Load(); n != int64(retries) {
		t.Errorf("%d retried transactions recognised, want %d", n, retries)
	}
	if stats1.LateLookups.Load() == 0 {
		t.Error("no late lookups: the copies were recognised without the log (horizon too long for the test?)")
	}
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, stats1); err != nil {
		t.Fatal(err)
	}
	if v := gathered(t, reg, "casebook_fraud_late_lookups_total"); v != float64(stats1.LateLookups.Load()) {
		t.Errorf("casebook_fraud_late_lookups_total = %v, want %d", v, stats1.LateLookups.Load())
	}
	// The restart replays everything above: the copies must be recognised again (beyond
	// the horizon: only through the log), or the rebuilt features double-count them.
	stats2 := &Stats{}
	stop = start(stats2)
	publish(c)
	retries += retryLate(everyNth(only(TxSubject, c), 6), labels(c))
	waitCaught(t, log)
	// Probes: a transaction on each charged-back terminal a week and more later, when the
	// chargebacks count in its risk features: a chargeback counted twice changes their score.
	var probes []eventlog.Event
	last := f.txs[1499].Time
	for i, ev := range labels(evs) {
		tx, err := events.DecodeTx(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		tx.ID, tx.Time = 1_000_000_000+int64(i), last.Add(8*24*time.Hour+time.Duration(i)*time.Second)
		pe, err := events.TxEvent(tx)
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, pe)
	}
	publish(probes)
	evs = append(evs, probes...)
	stop()
	if n := stats2.Retried.Load(); n != int64(retries) {
		t.Errorf("restarted scorer: %d retried transactions recognised (replay and live), want %d", n, retries)
	}

	got := decisionsByTx(t, log)
	ntx := requireOneDecisionEach(t, f, evs, got, "with late retries in the log", nil)
	if len(got) != ntx {
		t.Errorf("%d transactions decided, want %d", len(got), ntx)
	}
	t.Logf("%d events, %d transactions and %d chargebacks retried beyond the horizon; %d decisions; late lookups %d then %d", len(evs), retries, len(labels(evs)), len(got),
		stats1.LateLookups.Load(), stats2.LateLookups.Load())
}

// gathered is the value of the one counter named name in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not gathered as one series", name)
	return 0
}

// lateCheck: an event is late exactly when its event time is at or before the newest one
// of a generation FirstSeen dropped.
func TestLateCheck(t *testing.T) {
	h := time.Second
	c := newLateCheck(h)
	at := func(s float64) time.Time { return time.Unix(0, int64(s*float64(time.Second))) }
	steps := []struct {
		stored, event float64
		late          bool
	}{
		{0.1, 10, false},
		{0.5, 11, false},
		{1.2, 12, false}, // generation 1: 0 is still live
		{1.3, 11, false}, // a copy of an event of generation 0: FirstSeen still has it
		{2.1, 13, false}, // generation 2 drops 0 (newest event time 11)
		{2.2, 11, true},  // a copy of 0's newest: late
		{2.3, 11.5, false},
		{5.0, 20, false}, // a gap: 1 and 2 dropped too (newest 13)
		{5.1, 13, true},
		{5.2, 0, true}, // no event time: late once something was dropped
	}
	for i, st := range steps {
		et := time.Time{}
		if st.event != 0 {
			et = at(st.event)
		}
		if got := c.offer(at(st.stored), et); got != st.late {
			t.Errorf("step %d (stored %v, event %v): late = %v, want %v", i, st.stored, st.event, got, st.late)
		}
	}
}

// BenchmarkLateCheck is what the late test adds per event on the common path: events in
// order, 20,000 per second of log time, a generation every 2 minutes.
func BenchmarkLateCheck(b *testing.B) {
	c := newLateCheck(events.RetryHorizon)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	late := 0
	for i := range b.N {
		at := t0.Add(time.Duration(i) * 50 * time.Microsecond)
		if c.offer(at, at) {
			late++
		}
	}
	if late > 0 {
		b.Fatalf("%d in-order events taken for late", late)
	}
}
