package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// tinyFraud is a fraud workload small enough to simulate in milliseconds: about 700 live
// events from day 5 on.
const tinyFraud = "fraud:customers=40,terminals=80,days=15,start=5"

// fakeScorer stands in for `fraud stream`: it declares the case study's streams and
// answers each transaction with its decision event, as the scorer does.
func fakeScorer(t *testing.T) (url string, txs, labels *atomic.Int64) {
	t.Helper()
	srv, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, sc := range events.Streams() {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sc.Name, Subjects: sc.Subjects, Storage: jetstream.MemoryStorage, Duplicates: sc.Duplicates}); err != nil {
			t.Fatal(err)
		}
	}
	txs, labels = &atomic.Int64{}, &atomic.Int64{}
	if _, err := nc.Subscribe(events.LabelSubject, func(*nats.Msg) { labels.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(events.TxSubject, func(m *nats.Msg) {
		txs.Add(1)
		id := m.Header.Get(jetstream.MsgIDHeader)
		d := nats.NewMsg(events.DecisionSubject(id))
		d.Header.Set(jetstream.MsgIDHeader, events.DecisionID(id))
		d.Data = []byte(`{"action":"allow"}`)
		_ = nc.PublishMsg(d)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return srv.URL(), txs, labels
}

// TestFraudWorkloadEndToEnd: `--workload fraud` alone implies await mode on the case
// study's subjects; every transaction gets its decision and the report says what it timed.
func TestFraudWorkloadEndToEnd(t *testing.T) {
	url, txs, labels := fakeScorer(t)
	code, stdout, stderr := runCLI("run", "--target", url, "--workload", tinyFraud, "--rate", "500", "--duration", "400ms", "--progress", "0", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	for _, w := range []string{
		"await fraud.tx,fraud.label → fraud.decision.> (JetStream publish, timed to the answer event)",
		"fraud simulation (seed 0, 40 customers, 80 terminals, 15 days), live from day 5",
		"sent 200, ok 200, failed 0",
		"answer event on fraud.decision.>",
		`Nats-Msg-Id minus "decision-"`,
		"errors       0.000% (none)",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if got := txs.Load() + labels.Load(); got != 200 || txs.Load() == 0 {
		t.Errorf("scorer saw %d transactions and %d labels, want 200 events", txs.Load(), labels.Load())
	}
}

// TestFraudReplay: `--schedule replay:SPEEDUP` sends the fraud events at their recorded
// times, sped up: a tiny simulation's ~10 live days at 8,640,000× last about 0.1 s, so a
// 2 s window sends every event, and the report names the replay.
func TestFraudReplay(t *testing.T) {
	url, txs, labels := fakeScorer(t)
	code, stdout, stderr := runCLI("run", "--target", url, "--workload", tinyFraud, "--schedule", "replay:8640000", "--duration", "2s", "--progress", "0", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	if !strings.Contains(stdout, "replay of the fraud workload's event times at 8640000×") {
		t.Errorf("report does not name the replay:\n%s", stdout)
	}
	if !strings.Contains(stdout, "failed 0, not sent 0") {
		t.Errorf("report lacks a clean send:\n%s", stdout)
	}
	time.Sleep(20 * time.Millisecond)
	if txs.Load() == 0 || labels.Load() == 0 {
		t.Errorf("scorer saw %d transactions and %d labels, want both", txs.Load(), labels.Load())
	}
	code, _, stderr = runCLI("run", "--target", "http://127.0.0.1:1/x", "--schedule", "replay:10", "--duration", "1s")
	if code != 2 || !strings.Contains(stderr, "needs a workload with event times") {
		t.Errorf("replay without the fraud workload = exit %d (%s), want 2 naming the workload", code, stderr)
	}
}

// TestFraudUsageErrors: bad await or fraud command lines exit 2 before any load.
func TestFraudUsageErrors(t *testing.T) {
	url, txs, labels := fakeScorer(t)
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"await without await subject", []string{"run", "--target", url, "--nats-mode", "await", "--subject", "x", "--rate", "10", "--duration", "1s"}, "needs --await-subject"},
		{"await subject equals subject", []string{"run", "--target", url, "--nats-mode", "await", "--subject", "x", "--await-subject", "x", "--rate", "10", "--duration", "1s"}, "also a request subject"},
		{"bad publish kind", []string{"run", "--target", url, "--subject", "x", "--nats-publish", "eventually", "--rate", "10", "--duration", "1s"}, `--nats-publish "eventually"`},
		{"fraud over http", []string{"run", "--target", "http://127.0.0.1:1/x", "--workload", "fraud", "--rate", "10", "--duration", "1s"}, "must be nats://"},
		{"fraud bad spec", []string{"run", "--target", url, "--workload", "fraud:start=99,days=10", "--rate", "10", "--duration", "1s"}, "start day 99"},
		{"fraud unknown key", []string{"run", "--target", url, "--workload", "fraud:cards=10", "--rate", "10", "--duration", "1s"}, `unknown key "cards"`},
		{"fraud too short", []string{"run", "--target", url, "--workload", tinyFraud, "--rate", "20000", "--duration", "30s"}, "would send 600000 requests but the fraud workload holds"},
		{"fraud closed loop without cap", []string{"run", "--target", url, "--workload", tinyFraud, "--closed", "4", "--duration", "1s"}, "would send 100000000 requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("loadgen %s = exit %d, %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.wantMsg)
			}
		})
	}
	if n := txs.Load() + labels.Load(); n != 0 {
		t.Errorf("scorer received %d events from bad command lines, want 0", n)
	}
}

// TestFraudFitsWithMaxRequests: a capped run fits even when rate × duration would not.
func TestFraudFitsWithMaxRequests(t *testing.T) {
	url, _, _ := fakeScorer(t)
	code, stdout, stderr := runCLI("run", "--target", url, "--workload", tinyFraud, "--rate", "20000", "--duration", "30s", "--max-requests", "100", "--progress", "0")
	if code != 0 || !strings.Contains(stdout, "sent 100, ok 100") {
		t.Errorf("capped run = exit %d (%s):\n%s\nwant exit 0 with 100 ok", code, stderr, stdout)
	}
}

// TestFraudCSVReplay: `--workload fraud:csv=FILE,start=DAY,speedup=N` replays a CSV in the
// handbook's layout at its event times, N times faster: every transaction of the file from
// the start day is published exactly once (read back from the stream by id), every fraud
// whose chargeback arrives after the first live transaction has its chargeback, and every
// transaction is answered by a decision.
func TestFraudCSVReplay(t *testing.T) {
	sc := sim.DefaultConfig()
	sc.Customers, sc.Terminals, sc.Days = 40, 80, 15
	d, err := sim.Generate(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tx.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteCSV(f, d.Transactions, sim.TimeText); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	const start, delay = 5, 7 * 24 * time.Hour
	wantTx, wantLabel := map[string]bool{}, map[string]bool{}
	var first time.Time
	for _, tx := range d.Transactions {
		if tx.Day >= start {
			wantTx[events.TxID(tx.ID)] = true
			if first.IsZero() {
				first = tx.Time
			}
		}
	}
	for _, tx := range d.Transactions {
		if tx.Fraud && tx.Time.Add(delay).After(first) {
			wantLabel["label-"+events.TxID(tx.ID)] = true
		}
	}
	url, _, _ := fakeScorer(t)
	spec := fmt.Sprintf("fraud:csv=%s,start=%d,speedup=8640000", path, start)
	code, stdout, stderr := runCLI("run", "--target", url, "--workload", spec, "--duration", "2s", "--progress", "0", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	n := len(wantTx) + len(wantLabel)
	for _, w := range []string{
		"replay of the fraud workload's event times at 8640000×",
		fmt.Sprintf("fraud transactions of %s, live from day %d: %d events (%d transactions, %d chargebacks", path, start, n, len(wantTx), len(wantLabel)),
		fmt.Sprintf("sent %d, ok %d, failed 0, not sent 0", n, n),
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	lc := eventlog.DefaultConfig()
	lc.URL = url
	log, err := eventlog.Open(context.Background(), lc)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	seen := map[string]int{}
	if _, err := log.Replay(context.Background(), events.TxStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		seen[m.ID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, k := range seen {
		if k != 1 || !(wantTx[id] || wantLabel[id]) {
			t.Errorf("event %s stored %d times (a live row of the CSV: %v)", id, k, wantTx[id] || wantLabel[id])
		}
	}
	for id := range wantTx {
		if seen[id] != 1 {
			t.Errorf("transaction %s of the CSV stored %d times, want once", id, seen[id])
		}
	}
	for id := range wantLabel {
		if seen[id] != 1 {
			t.Errorf("chargeback %s stored %d times, want once", id, seen[id])
		}
	}
	code, _, stderr = runCLI("run", "--target", url, "--workload", "fraud:csv="+path+",speedup=10", "--schedule", "constant", "--rate", "10", "--duration", "1s")
	if code != 2 || !strings.Contains(stderr, "speedup=10 asks for --schedule replay:10") {
		t.Errorf("speedup with another schedule = exit %d (%s), want 2 naming the conflict", code, stderr)
	}
	code, _, stderr = runCLI("run", "--target", url, "--workload", "fraud:csv="+filepath.Join(t.TempDir(), "none.csv"), "--rate", "10", "--duration", "1s")
	if code != 2 || !strings.Contains(stderr, "none.csv") {
		t.Errorf("missing CSV = exit %d (%s), want 2 naming the file", code, stderr)
	}
}
