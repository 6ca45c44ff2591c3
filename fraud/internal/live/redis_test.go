package live

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
)

// metricValue reads a gauge or counter from reg: the one whose first label is label,
// or the unlabelled one when label is empty.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}

// TestRedisOutage runs the scorer on the real Redis online store and makes Redis stop
// answering (CLIENT PAUSE: every command blocks, as with a hung server or a partition)
// while transactions keep arriving. Decisions keep flowing from the rules, marked as such;
// the outage shows in the Prometheus metrics (feature_store_up 0, rule decisions and
// feature-store errors counted); when Redis answers again the model decides again; every
// transaction gets exactly one decision.
func TestRedisOutage(t *testing.T) {
	addr := env.RedisAddr(t)
	ctx := context.Background()
	log := openLog(t)
	reg := prometheus.NewRegistry()
	sys := smallSystem(t, reg, nil)
	rc := fredis.DefaultConfig()
	rc.Addr, rc.Prefix = addr, "outage-test:"
	store, err := fredis.New(rc, sys.Features)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stats := &stream.Stats{}
	met, err := stream.NewMetrics(reg, stats)
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := sys.Scorer(ctx, log, store, stats, met)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- scorer.Run(rctx, eventlog.DefaultConsumerConfig()) }()

	// Three parts of the live stream: before, during and after the outage.
	live := sys.Live
	third := len(live) / 3
	parts := [][]eventlog.Event{live[:third], live[third : 2*third], live[2*third:]}
	txIn := func(evs []eventlog.Event) (n int64) {
		for _, ev := range evs {
			if ev.Subject == events.TxSubject {
				n++
			}
		}
		return n
	}
	decided := int64(0)
	wait := func(part int) {
		t.Helper()
		decided += txIn(parts[part])
		deadline := time.Now().Add(30 * time.Second)
		for stats.Published.Load() < decided {
			if time.Now().After(deadline) {
				t.Fatalf("part %d: %d of %d decisions after 30 s", part, stats.Published.Load(), decided)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	publish := func(part int) {
		t.Helper()
		if _, err := log.PublishBatch(ctx, parts[part]); err != nil {
			t.Fatal(err)
		}
	}
	publish(0)
	wait(0)
	if up := metricValue(t, reg, "casebook_fraud_feature_store_up", ""); up != 1 || stats.Rules.Load() != 0 {
		t.Fatalf("before the outage: store up %v, %d rule decisions; want 1 and 0", up, stats.Rules.Load())
	}

	admin := goredis.NewClient(&goredis.Options{Addr: addr})
	defer admin.Close()
	const pause = 2500 * time.Millisecond // long enough that a slow CI machine still streams the middle third inside it
	if err := admin.Do(ctx, "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	paused := time.Now()
	publish(1)
	wait(1)
	downSeen := metricValue(t, reg, "casebook_fraud_feature_store_up", "")
	rulesDuring := metricValue(t, reg, "casebook_fraud_decisions_total", "rules")
	errsDuring := metricValue(t, reg, "casebook_fraud_feature_store_errors_total", "")
	if time.Since(paused) >= pause {
		t.Fatalf("the outage part took %v, longer than the %v pause: nothing here tests the outage", time.Since(paused), pause)
	}
	if downSeen != 0 || rulesDuring == 0 || errsDuring == 0 {
		t.Errorf("during the outage: casebook_fraud_feature_store_up %v, rule decisions %v, feature-store errors %v; want 0, > 0, > 0", downSeen, rulesDuring, errsDuring)
	}
	time.Sleep(time.Until(paused.Add(pause + 100*time.Millisecond)))
	publish(2)
	wait(2)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable); err == nil && st.Caught() {
			break // the trailing chargebacks are applied too
		}
	}
	up := metricValue(t, reg, "casebook_fraud_feature_store_up", "")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if up != 1 {
		t.Errorf("after the outage: casebook_fraud_feature_store_up %v, want 1 (last store error: %v)", up, scorer.StoreErr())
	}

	// Every transaction has exactly one decision; the outage's came from the rules.
	truth := map[int64]sim.Transaction{}
	for _, tx := range sys.Txs {
		truth[tx.ID] = tx
	}
	partOf := map[int64]int{}
	for p, evs := range parts {
		for _, ev := range evs {
			if ev.Subject == events.TxSubject {
				var tx sim.Transaction
				if err := json.Unmarshal(ev.Data, &tx); err != nil {
					t.Fatal(err)
				}
				partOf[tx.ID] = p
			}
		}
	}
	count := map[int64]int{}
	paths := [3]map[string]int{{}, {}, {}}
	if _, err := log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var dd decision.Decision
		if err := json.Unmarshal(m.Data, &dd); err != nil {
			return err
		}
		count[dd.TransactionID]++
		p := partOf[dd.TransactionID]
		paths[p][dd.Path]++
		if dd.Path == decision.PathRules {
			if !strings.Contains(dd.Reason, "unavailable") && !strings.Contains(dd.Reason, "timeout") {
				t.Errorf("rule decision for %d says %q; want the store's unavailability named", dd.TransactionID, dd.Reason)
			}
			if truth[dd.TransactionID].Amount > 220 && dd.Action != decision.Decline {
				t.Errorf("transaction %d of %.2f decided %s while degraded; want decline", dd.TransactionID, truth[dd.TransactionID].Amount, dd.Action)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(count) != len(partOf) {
		t.Errorf("%d transactions decided, want %d", len(count), len(partOf))
	}
	for id, n := range count {
		if n != 1 {
			t.Fatalf("transaction %d has %d decisions, want 1", id, n)
		}
	}
	if paths[0][decision.PathRules] != 0 || paths[1][decision.PathRules] == 0 || paths[2][decision.PathRules] != 0 {
		t.Errorf("rule decisions before / during / after the outage: %d / %d / %d; want 0 / > 0 / 0",
			paths[0][decision.PathRules], paths[1][decision.PathRules], paths[2][decision.PathRules])
	}
	t.Logf("paths before %v, during %v, after %v; store errors %d", paths[0], paths[1], paths[2], stats.FeatureErrors.Load())
}
