package stream

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/serving"
)

type fixture struct {
	txs    []sim.Transaction
	reg    *features.Registry
	server *serving.Server
	th     decision.Thresholds
}

// setup simulates 40 days, trains logistic regression on days 0-29, registers it as
// champion and serves it in process; the stream replays days 30-39.
func setup(t testing.TB) fixture {
	t.Helper()
	ctx := context.Background()
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 200, 400, 40
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	freg := features.NewRegistry()
	if err := txfeatures.RegisterLabelled(freg, time.Hour, 8*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	x, err := txfeatures.Offline(freg, d.Transactions)
	if err != nil {
		t.Fatal(err)
	}
	var train ml.Dataset
	train.Schema = ml.FloatSchema(txfeatures.Names...)
	var stream []sim.Transaction
	for i, tx := range d.Transactions {
		if tx.Day >= 30 {
			stream = append(stream, tx)
			continue
		}
		train.X = append(train.X, x[i*txfeatures.Width:(i+1)*txfeatures.Width]...)
		y := 0.0
		if tx.Fraud {
			y = 1
		}
		train.Y = append(train.Y, y)
	}
	m, err := ml.TrainLogReg(ctx, train, ml.DefaultLogRegConfig())
	if err != nil {
		t.Fatal(err)
	}
	art, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fc := regfs.DefaultConfig()
	fc.Dir = t.TempDir()
	store, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(store, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
		Model: "fraud", Family: string(m.Family()), Schema: m.Schema(), RegisteredBy: "test",
		Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: 0.8}}, DataFingerprint: train.Fingerprint(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v.Number,
		Actor: "test", Gates: registry.Gates{EvalSet: "holdout", Metric: ml.MetricAUC}}); err != nil {
		t.Fatal(err)
	}
	scfg := serving.DefaultConfig()
	mc := serving.DefaultModelConfig("fraud")
	mc.SLA = 2 * time.Second
	scfg.Models = []serving.ModelConfig{mc}
	srv, err := serving.New(ctx, reg, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return fixture{txs: stream, reg: freg, server: srv, th: decision.Thresholds{Review: 0.05, Decline: 0.9}}
}

func (f fixture) scorer(t *testing.T, log *eventlog.Log, store features.OnlineStore, stats *Stats) *Scorer {
	t.Helper()
	s, err := NewScorer(context.Background(), ScorerConfig{Log: log, Features: f.reg, Store: store, Model: Served{Server: f.server, Name: "fraud"},
		Thresholds: f.th, Rules: decision.DefaultRules(), Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openForgetful opens an embedded log with the case study's streams, except that the
// decision stream forgets ids after 100 ms (the server's least): a decision published twice
// later than that is stored twice, so only the scorer's own check can prevent it.
func openForgetful(t *testing.T) *eventlog.Log { return openForgetfulTx(t, 0) }

// openForgetfulTx is openForgetful whose transaction stream also forgets ids after txWindow
// (zero: the case study's window), so that a producer's retry after it is stored twice.
func openForgetfulTx(t *testing.T, txWindow time.Duration) *eventlog.Log {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	for _, sc := range events.Streams() {
		if sc.Name == DecisionStream {
			sc.Duplicates = 100 * time.Millisecond
		}
		if sc.Name == TxStream && txWindow > 0 {
			sc.Duplicates = txWindow
		}
		if _, err := log.EnsureStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	return log
}

// decisionsByTx reads every decision in the log, by transaction.
// requireOneDecisionEach checks that every transaction of evs has exactly one decision in
// got, equal to the decision of a reference scorer fed evs one by one (no copies, no
// restarts), and returns the reference decisions by transaction; each, if given, also sees
// every pair. The count of transactions decided must equal the reference's.
func requireOneDecisionEach(t *testing.T, f fixture, evs []eventlog.Event, got map[int64][]decision.Decision, what string, each func(want, logged decision.Decision)) int {
	t.Helper()
	ctx := context.Background()
	ref := f.scorer(t, nil, memory.New(f.reg), &Stats{})
	ntx := 0
	for _, ev := range evs {
		want, err := ref.Process(ctx, ev.Subject, ev.Data, true)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			continue
		}
		ntx++
		ds := got[want.TransactionID]
		if len(ds) != 1 {
			t.Fatalf("transaction %d has %d decisions in the log, want 1", want.TransactionID, len(ds))
		}
		if ds[0].Action != want.Action || math.Abs(ds[0].Score-want.Score) > 1e-12 || ds[0].Path != want.Path {
			t.Fatalf("transaction %d: decision %+v %s, %+v from the reference", want.TransactionID, ds[0], what, *want)
		}
		if each != nil {
			each(*want, ds[0])
		}
	}
	return ntx
}

func decisionsByTx(t *testing.T, log *eventlog.Log) map[int64][]decision.Decision {
	t.Helper()
	got := map[int64][]decision.Decision{}
	if _, err := log.Replay(context.Background(), DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var d decision.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		got[d.TransactionID] = append(got[d.TransactionID], d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// Kill the scorer mid-stream and start a new one with empty memory: every transaction gets
// exactly one decision in the log, and the decisions equal those of one uninterrupted
// scorer (the restarted one rebuilt its features from the log).
func TestRestartExactlyOneDecision(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	log := openForgetfulTx(t, 100*time.Millisecond)
	// Transactions without their labels, and each fraud's chargeback 3 days later.
	evs, err := events.Replay(f.txs, 3*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The first half, then producer retries of some of it after the transaction stream's
	// duplicates window (stored twice), then the rest: the kill comes after the retries, so
	// the restarted scorer must recognise them while it rebuilds.
	half := len(evs) / 2
	if _, err := log.PublishBatch(ctx, evs[:half]); err != nil {
		t.Fatal(err)
	}
	retries := republishAfterWindow(t, log, everyNth(evs[:half], 9))
	if _, err := log.PublishBatch(ctx, evs[half:]); err != nil {
		t.Fatal(err)
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.AckWait = time.Second
	cc.BatchSize = 64
	stats := &Stats{}
	run := func(stopAt int64) {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s := f.scorer(t, log, memory.New(f.reg), stats)
		if stopAt > 0 {
			// The crash: after publishing the decision, before acking the transaction.
			s.afterPublish = func([]string) error {
				if stats.Published.Load() >= stopAt {
					cancel()
					return errors.New("killed")
				}
				return nil
			}
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx, cc) }()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if stopAt > 0 && stats.Published.Load() >= stopAt {
				break
			}
			if stopAt == 0 {
				st, err := log.ConsumerState(ctx, TxStream, DefaultDurable)
				if err == nil && st.Caught() {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	}
	run(int64(2 * len(f.txs) / 3))     // killed two thirds of the way, after the retries
	time.Sleep(200 * time.Millisecond) // down for longer than the decision ids are remembered
	run(0)                             // restarted with empty memory, until caught up

	got := decisionsByTx(t, log)
	// The reference: one scorer that never stopped, fed the same events in log order.
	ref := f.scorer(t, log, memory.New(f.reg), &Stats{})
	wantD := map[int64]decision.Decision{}
	for _, ev := range evs {
		d, err := ref.Process(ctx, ev.Subject, ev.Data, true)
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			wantD[d.TransactionID] = *d
		}
	}
	for _, tx := range f.txs {
		ds := got[tx.ID]
		if len(ds) != 1 {
			t.Fatalf("transaction %d has %d decisions in the log, want 1", tx.ID, len(ds))
		}
		want := wantD[tx.ID]
		if ds[0].Action != want.Action || math.Abs(ds[0].Score-want.Score) > 1e-12 || ds[0].Path != decision.PathModel {
			t.Fatalf("transaction %d: decision %+v after restart, %+v uninterrupted", tx.ID, ds[0], want)
		}
	}
	if stats.Skipped.Load() == 0 {
		t.Errorf("no decision was found already published after the restart: the kill did not land between publish and ack")
	}
	if n := stats.Republished.Load(); n != 0 {
		t.Errorf("%d decisions were published again (and dropped only by the log's duplicate window), want 0", n)
	}
	if len(got) != len(f.txs) {
		t.Errorf("%d transactions decided, want %d", len(got), len(f.txs))
	}
	if stats.Labels.Load() == 0 {
		t.Errorf("no label was applied")
	}
	if n := stats.Retried.Load(); n < int64(retries) {
		t.Errorf("%d retried copies recognised, want at least the %d published (more if the restart read them again)", n, retries)
	}
	t.Logf("%d transactions and %d labels, %d retried after the window, %d decisions published, %d found already published after the kill, %d retries recognised",
		len(f.txs), len(evs)-len(f.txs), retries, stats.Published.Load(), stats.Skipped.Load(), stats.Retried.Load())
}

// everyNth is every nth event of evs.
func everyNth(evs []eventlog.Event, n int) []eventlog.Event {
	var out []eventlog.Event
	for i := 0; i < len(evs); i += n {
		out = append(out, evs[i])
	}
	return out
}

// republishAfterWindow publishes evs again, as a producer retrying late would, until the log
// has stored every one a second time (the duplicates window has passed for it), and returns
// how many. It waits for the window, not for a time: an ack still marked duplicate is
// published again.
func republishAfterWindow(t *testing.T, log *eventlog.Log, evs []eventlog.Event) int {
	t.Helper()
	ctx := context.Background()
	left := evs
	for deadline := time.Now().Add(30 * time.Second); len(left) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still deduplicated by the log after 30 s", len(left))
		}
		time.Sleep(150 * time.Millisecond)
		acks, err := log.PublishBatch(ctx, left)
		if err != nil {
			t.Fatal(err)
		}
		var again []eventlog.Event
		for i, a := range acks {
			if a.Duplicate {
				again = append(again, left[i])
			}
		}
		left = again
	}
	return len(evs)
}

// A producer publishes some transactions and chargebacks again after the log's duplicates
// window, so the log stores them twice (some before later events, some at the end): each
// transaction still gets exactly one decision, and every decision equals that of a scorer
// that never saw the copies (so no copy was counted in the features).
func TestRetryAfterWindowDecidedOnce(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	log := openForgetfulTx(t, 100*time.Millisecond)
	evs, err := events.Replay(f.txs[:1200], 3*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 64
	stats := &Stats{}
	s := f.scorer(t, log, memory.New(f.reg), stats)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, cc) }()
	// The scorer decides each part before its retries arrive, so a second decision would
	// come later than the decision stream's duplicates window too, and be stored.
	publish := func(evs []eventlog.Event) {
		if _, err := log.PublishBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
		waitCaught(t, log)
	}
	half := len(evs) / 2
	publish(evs[:half])
	// Retries of every 5th event of the first half, among them the newest few (their
	// event times are inside the features' lateness).
	retries := republishAfterWindow(t, log, append(everyNth(evs[:half-8], 5), evs[half-8:half]...))
	publish(evs[half:])
	retries += republishAfterWindow(t, log, everyNth(evs[half:], 7))
	waitCaught(t, log)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}

	got := decisionsByTx(t, log)
	ntx := requireOneDecisionEach(t, f, evs, got, "with retries in the log", nil)
	if len(got) != ntx {
		t.Errorf("%d transactions decided, want %d", len(got), ntx)
	}
	if n := stats.Retried.Load(); n != int64(retries) {
		t.Errorf("%d retried copies recognised, want %d", n, retries)
	}
	t.Logf("%d events, %d retried after the window; %d decisions", len(evs), retries, len(got))
}

// waitCaught waits until the scorer's durable has acknowledged everything in the
// transaction stream, failing after 30 s without progress.
func waitCaught(t *testing.T, log *eventlog.Log) {
	t.Helper()
	ctx := context.Background()
	var floor uint64
	for last := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		st, err := log.ConsumerState(ctx, TxStream, DefaultDurable)
		if err == nil && st.Caught() {
			return
		}
		if err == nil && st.AckFloor > floor {
			floor, last = st.AckFloor, time.Now()
		}
		if time.Since(last) > 30*time.Second {
			t.Fatalf("the scorer made no progress for 30 s (ack floor %d, %v)", floor, err)
		}
	}
}

// A batch fails after its decisions were published (as when a publish ack is lost) and is
// retried after a backoff longer than the log's duplicate window: the retry must not
// publish them again.
func TestRetryAfterPublishPublishesNothingTwice(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	log := openForgetful(t)
	evs, err := events.Replay(f.txs[:600], 3*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.PublishBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 64
	cc.Backoff = []time.Duration{250 * time.Millisecond} // longer than the window
	stats := &Stats{}
	s := f.scorer(t, log, memory.New(f.reg), stats)
	failed := false
	s.afterPublish = func([]string) error {
		if !failed && stats.Published.Load() >= 200 {
			failed = true
			return errors.New("ack lost")
		}
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, cc) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := log.ConsumerState(ctx, TxStream, DefaultDurable); err == nil && st.Caught() {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	got := decisionsByTx(t, log)
	for _, tx := range f.txs[:600] {
		if len(got[tx.ID]) != 1 {
			t.Fatalf("transaction %d has %d decisions, want 1", tx.ID, len(got[tx.ID]))
		}
	}
	if !failed || stats.Skipped.Load() == 0 || stats.Republished.Load() != 0 {
		t.Errorf("failed %v, skipped %d, republished %d: want a failure, skips, and nothing republished",
			failed, stats.Skipped.Load(), stats.Republished.Load())
	}
}

// With the online store down, decisions keep coming from the rules, marked as such, large
// amounts are still declined, and the outage shows in the counters; when it is back the
// model decides again.
func TestFeatureStoreOutage(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	store := &features.Switchable{OnlineStore: memory.New(f.reg)}
	stats := &Stats{}
	s := f.scorer(t, nil, store, stats)
	n := len(f.txs) / 3
	paths := map[string]int{}
	for i, tx := range f.txs[:3*n] {
		store.Down.Store(i >= n && i < 2*n)
		d := s.Decide(ctx, tx)
		down := i >= n && i < 2*n
		want := decision.PathModel
		if down {
			want = decision.PathRules
		}
		if d.Path != want {
			t.Fatalf("transaction %d (store down %v): path %s (%s), want %s", tx.ID, down, d.Path, d.Reason, want)
		}
		if down && tx.Amount > 220 && d.Action != decision.Decline {
			t.Errorf("transaction %d: amount %.2f while degraded: %s, want decline", tx.ID, tx.Amount, d.Action)
		}
		paths[d.Path]++
	}
	if stats.FeatureErrors.Load() != int64(n) || stats.Rules.Load() != int64(n) || stats.Model.Load() != int64(2*n) {
		t.Errorf("stats: feature errors %d, rules %d, model %d; want %d, %d, %d",
			stats.FeatureErrors.Load(), stats.Rules.Load(), stats.Model.Load(), n, n, 2*n)
	}
	t.Logf("paths: %v", paths)
}
