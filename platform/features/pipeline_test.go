package features_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{NATS: true, Redis: true}, &env))
}

// failingStore passes writes through until it has taken budget of them.
type failingStore struct {
	features.OnlineStore
	budget int
}

func (f *failingStore) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	if f.budget <= 0 {
		return features.WriteStats{}, &features.UnavailableError{Store: "test", Op: "write", Err: errors.New("killed")}
	}
	f.budget--
	return f.OnlineStore.Write(ctx, view, rows)
}

// spendingOffline fills an offline store with the batch rows of customer_spending over
// three days of transactions and returns them.
func spendingOffline(t *testing.T) (*features.OfflineStore, *features.Registry, []features.Row) {
	t.Helper()
	o, reg := openOffline(t, t.TempDir())
	v, _ := reg.View("customer_spending")
	var evs []features.Event
	for i, tx := range featurestest.Transactions(7, 6000, 300, 50, t0, 3*24*time.Hour) {
		evs = append(evs, tx.Event(uint64(i+1)))
	}
	res, err := features.ComputeBatch(v, evs, features.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Append(context.Background(), "customer_spending", res.Rows); err != nil {
		t.Fatal(err)
	}
	return o, reg, res.Rows
}

func newestByEntity(rows []features.Row, before time.Time) map[string]features.Row {
	out := map[string]features.Row{}
	for _, r := range rows {
		if !r.Time.Before(before) {
			continue
		}
		if old, ok := out[r.Entity]; !ok || r.Newer(&old) {
			out[r.Entity] = r
		}
	}
	return out
}

// sameOnline checks that the online store holds exactly want for the view.
func sameOnline(t *testing.T, s features.OnlineStore, view string, want map[string]features.Row, at time.Time) {
	t.Helper()
	ents := make([]string, 0, len(want))
	for e := range want {
		ents = append(ents, e)
	}
	res, err := s.Read(context.Background(), features.ReadRequest{At: at, Views: []features.ViewRequest{{View: view, Entities: ents}}})
	if err != nil {
		t.Fatal(err)
	}
	vr := res.Views[0]
	for i, e := range ents {
		for j := range vr.Features {
			got, w := vr.Get(i, j), want[e]
			if !got.Time.Equal(w.Time) || (got.Status == features.Present && !got.Value.Equal(w.Values[j])) {
				t.Fatalf("online %s %s = %v at %v, want %v at %v", e, vr.Features[j], got.Value, got.Time, w.Values[j], w.Time)
			}
		}
	}
}

func TestMaterializeResumesAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	o, reg, rows := spendingOffline(t)
	end := t0.Add(3 * 24 * time.Hour)
	want := newestByEntity(rows, end)

	// A run killed after a few writes leaves a watermark at the last finished day.
	online := memory.New(reg)
	cfg := features.DefaultMaterializeConfig()
	cfg.BatchSize = 50
	killed, _ := features.NewMaterializer(o, &failingStore{OnlineStore: online, budget: 9}, nil, cfg)
	if _, err := killed.Incremental(ctx, "customer_spending", end); !errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("Incremental with a dying store = %v, want ErrUnavailable", err)
	}
	wm, _ := killed.Watermark("customer_spending")
	if !wm.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("watermark after the kill = %v, want the end of the first day %v", wm, t0.Add(24*time.Hour))
	}
	m, _ := features.NewMaterializer(o, online, nil, cfg)
	st, err := m.Incremental(ctx, "customer_spending", end)
	if err != nil {
		t.Fatal(err)
	}
	if st.Days != 2 || !st.From.Equal(wm) {
		t.Errorf("resumed run = %+v, want 2 days from %v", st, wm)
	}
	sameOnline(t, online, "customer_spending", want, end)

	// Re-running changes nothing.
	again, err := m.Range(ctx, "customer_spending", t0, end)
	if err != nil {
		t.Fatal(err)
	}
	if again.Applied != 0 || again.Entities == 0 {
		t.Errorf("second Range = %+v, want rows offered and none applied", again)
	}
	if st, _ := m.Incremental(ctx, "customer_spending", end); st.Days != 0 {
		t.Errorf("Incremental with nothing new processed %d days", st.Days)
	}
}

func openEmbeddedLog(t *testing.T) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(context.Background(), eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if _, err := l.EnsureStream(context.Background(), eventlog.StreamConfig{Name: "TX", Subjects: []string{"tx.>"}}); err != nil {
		t.Fatal(err)
	}
	return l
}

func publish(t *testing.T, l *eventlog.Log, txs []featurestest.Tx) {
	t.Helper()
	evs := make([]eventlog.Event, len(txs))
	for i, tx := range txs {
		evs[i] = eventlog.Event{ID: tx.ID, Subject: "tx.card", Time: tx.Time, Data: tx.Encode()}
	}
	if _, err := l.PublishBatch(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// runUntilCaught runs the ingestor until its consumer has acked everything, then stops it.
func runUntilCaught(t *testing.T, l *eventlog.Log, in *features.Ingestor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := l.ConsumerState(context.Background(), "TX", "features")
		if err == nil && st.Caught() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestIngestMatchesBatchAcrossRestart streams transactions through the ingestor, restarts
// it, streams more, and requires the online store and the offline appends to equal the
// batch execution over the same log; it also checks the freshness metric and idempotence.
func TestIngestMatchesBatchAcrossRestart(t *testing.T) {
	l := openEmbeddedLog(t)
	o, reg := openOffline(t, t.TempDir())
	testIngest(t, l, o, reg, memory.New(reg))
}

// TestIngestOnRealEngines is the same on a NATS server and Redis in containers.
func TestIngestOnRealEngines(t *testing.T) {
	natsURL, redisAddr := env.NATSURL(t), env.RedisAddr(t)
	cfg := eventlog.DefaultConfig()
	cfg.URL = natsURL
	l, err := eventlog.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	_ = l.DeleteStream(context.Background(), "TX")
	if _, err := l.EnsureStream(context.Background(), eventlog.StreamConfig{Name: "TX", Subjects: []string{"tx.>"}}); err != nil {
		t.Fatal(err)
	}
	o, reg := openOffline(t, t.TempDir())
	rc := fredis.DefaultConfig()
	rc.Addr, rc.Timeout, rc.Prefix = redisAddr, 2*time.Second, "ingest:"
	online, err := fredis.New(rc, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = online.Close() })
	testIngest(t, l, o, reg, online)
}

func testIngest(t *testing.T, l *eventlog.Log, o *features.OfflineStore, reg *features.Registry, online features.OnlineStore) {
	ctx := context.Background()
	txs := featurestest.Transactions(9, 3000, 200, 40, t0, 2*24*time.Hour)
	clock := t0.Add(2*24*time.Hour + 10*time.Minute)
	promReg := prometheus.NewRegistry()
	metrics, err := features.NewMetrics(promReg, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	cfg := features.DefaultIngestConfig()
	cfg.Consumer.Stream, cfg.Consumer.Durable = "TX", "features"
	cfg.Views = []string{"customer_spending", "terminal_risk"}
	cfg.OfflineFlushRows = 700

	publish(t, l, txs[:2000])
	in, err := features.NewIngestor(l, reg, online, o, metrics, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaught(t, l, in)

	// A new process: state must be rebuilt from the log before the next events.
	publish(t, l, txs[2000:])
	in2, err := features.NewIngestor(l, reg, online, o, metrics, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaught(t, l, in2)

	var evs []features.Event
	if _, err := l.Replay(ctx, "TX", eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		evs = append(evs, features.Event{ID: m.ID, Time: m.Time, Seq: m.Sequence, Data: m.Data})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, view := range cfg.Views {
		v, _ := reg.View(view)
		batch, err := features.ComputeBatch(v, evs, features.BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameOnline(t, online, view, newestByEntity(batch.Rows, clock), clock)
		appended, err := o.Scan(ctx, view, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if got := newestByEntity(appended, clock); len(got) != len(newestByEntity(batch.Rows, clock)) {
			t.Errorf("%s: offline appends cover %d entities, batch %d", view, len(got), len(newestByEntity(batch.Rows, clock)))
		}
		if len(appended) < len(batch.Rows) {
			t.Errorf("%s: %d rows appended offline, batch computed %d", view, len(appended), len(batch.Rows))
		}
	}

	// Idempotent by event id: handing the ingestor an event again changes nothing.
	before := in2.Stats()["customer_spending"]
	m := &eventlog.Message{Event: eventlog.Event{ID: txs[2999].ID, Time: txs[2999].Time, Data: txs[2999].Encode()}, Sequence: 3000}
	if err := in2.Handle(ctx, m); err != nil {
		t.Fatal(err)
	}
	if after := in2.Stats()["customer_spending"]; after.Duplicate != before.Duplicate+1 || after.Applied != before.Applied {
		t.Errorf("a redelivered event: stats %+v -> %+v, want one more duplicate and nothing applied", before, after)
	}

	// Freshness: the newest applied event is the last transaction; the clock is 10 min on.
	lag := clock.Sub(txs[2999].Time).Seconds()
	if got := testutil.ToFloat64(metricFor(t, promReg, "casebook_feature_freshness_seconds", "customer_spending")); got != lag {
		t.Errorf("casebook_feature_freshness_seconds{view=customer_spending} = %v, want %v", got, lag)
	}
	if f := metrics.Freshness("customer_spending"); f.Lag != clock.Sub(txs[2999].Time) {
		t.Errorf("Freshness = %+v, want lag %v", f, clock.Sub(txs[2999].Time))
	}
}

// metricFor gathers one series of a gauge as a collector testutil can read.
func metricFor(t *testing.T, g prometheus.Gatherer, name, view string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "view" && lp.GetValue() == view {
					return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetGauge().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no %s{view=%q}", name, view)
	return nil
}

// TestBackfillRepairsDroppedEvents delays one producer beyond the allowed lateness: the
// stream drops its events (counted), the offline rows are wrong, and a backfill from the
// log rewrites the partitions with values equal to the batch over every event.
func TestBackfillRepairsDroppedEvents(t *testing.T) {
	ctx := context.Background()
	l := openEmbeddedLog(t)
	o, reg := openOffline(t, t.TempDir())
	v, _ := reg.View("customer_spending") // 10 minutes allowed lateness
	txs := featurestest.Transactions(11, 2000, 100, 20, t0, 24*time.Hour)
	// Every 5th transaction reaches the log 30 minutes late.
	var onTime, late []featurestest.Tx
	for i, tx := range txs {
		if i%5 == 0 {
			late = append(late, tx)
		} else {
			onTime = append(onTime, tx)
		}
	}
	var ordered []featurestest.Tx
	j := 0
	for _, tx := range onTime {
		for j < len(late) && late[j].Time.Add(30*time.Minute).Before(tx.Time) {
			ordered = append(ordered, late[j])
			j++
		}
		ordered = append(ordered, tx)
	}
	ordered = append(ordered, late[j:]...)
	publish(t, l, ordered)

	cfg := features.DefaultIngestConfig()
	cfg.Consumer.Stream, cfg.Consumer.Durable = "TX", "features"
	cfg.Views = []string{"customer_spending"}
	in, err := features.NewIngestor(l, reg, memory.New(reg), o, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaught(t, l, in)
	if st := in.Stats()["customer_spending"]; st.Dropped < int64(len(late))-5 {
		t.Fatalf("stream dropped %d events, want about %d", st.Dropped, len(late))
	}
	// The truth: every event, in log order (float sums depend on the order of addition).
	truth, _ := features.ComputeBatch(v, eventsOf(ordered), features.BatchOptions{IgnoreLateness: true})

	countWrong := func() int {
		rows, err := o.Scan(ctx, "customer_spending", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[rowKey]features.Row{}
		for _, r := range rows {
			got[rowKey{r.Entity, r.Time.UnixNano()}] = r
		}
		wrong := 0
		for _, r := range truth.Rows {
			g, ok := got[rowKey{r.Entity, r.Time.UnixNano()}]
			if !ok || !rowEqual(g, r) {
				wrong++
			}
		}
		return wrong
	}
	before := countWrong()
	if before == 0 {
		t.Fatal("the dropped events left no wrong rows; the test shows nothing")
	}
	st, err := features.Backfill(ctx, l, "TX", nil, v, o, t0, t0.Add(24*time.Hour), features.BatchOptions{IgnoreLateness: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := countWrong(); after != 0 {
		t.Errorf("after backfill %d rows differ from the truth (before: %d)", after, before)
	}
	p := o.Manifest().Views["customer_spending"].Partitions["2026-01-05"]
	if p.Version < 2 || len(p.Replaced) == 0 {
		t.Errorf("backfill did not make a new partition version: %+v", p)
	}
	t.Logf("wrong rows before backfill %d of %d; backfill %+v", before, len(truth.Rows), st)
}

func eventsOf(txs []featurestest.Tx) []features.Event {
	evs := make([]features.Event, len(txs))
	for i, tx := range txs {
		evs[i] = tx.Event(uint64(i + 1))
	}
	return evs
}

// TestIngestKeepsRowsWhileOnlineStoreIsDown: when the online store fails, the handler
// returns an error (the log redelivers) and keeps the rows; the redelivered event is a
// duplicate for the aggregator, yet the kept rows are written then.
func TestIngestKeepsRowsWhileOnlineStoreIsDown(t *testing.T) {
	ctx := context.Background()
	_, reg := openOffline(t, t.TempDir())
	online := memory.New(reg)
	flaky := &failingStore{OnlineStore: online, budget: 0}
	cfg := features.DefaultIngestConfig()
	cfg.Consumer.Stream, cfg.Consumer.Durable, cfg.Views = "TX", "features", []string{"customer_spending"}
	in, err := features.NewIngestor(nil, reg, flaky, nil, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tx := featurestest.Tx{ID: "a", Customer: "c1", Terminal: "t1", Amount: 12.5, Time: t0}
	m := &eventlog.Message{Event: eventlog.Event{ID: tx.ID, Time: tx.Time, Data: tx.Encode()}, Sequence: 1}
	if err := in.Handle(ctx, m); !errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("Handle with the store down = %v, want ErrUnavailable (so the log redelivers)", err)
	}
	flaky.budget = 10
	if err := in.Handle(ctx, m); err != nil { // the redelivery
		t.Fatalf("Handle of the redelivery = %v", err)
	}
	res, err := online.Read(ctx, features.ReadRequest{At: t0, Views: []features.ViewRequest{{View: "customer_spending", Features: []string{"tx_count_1d"}, Entities: []string{"c1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Views[0].Get(0, 0); got.Status != features.Present || got.Value.Int() != 1 {
		t.Errorf("after the redelivery tx_count_1d = %v %v, want PRESENT 1 (applied once, written once the store is back)", got.Status, got.Value)
	}
	if st := in.Stats()["customer_spending"]; st.Applied != 1 || st.Duplicate != 1 {
		t.Errorf("stats = %+v, want the event applied once and its redelivery a duplicate", st)
	}
}
