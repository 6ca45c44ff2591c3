package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runToEnd runs s over log until the durable consumer has acknowledged everything (the
// bound only stops a stuck test; on a busy machine catching up can take a while).
func runToEnd(t testing.TB, log *eventlog.Log, s *Scorer, cc eventlog.ConsumerConfig) {
	t.Helper()
	ctx := context.Background()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, cc) }()
	// Caught up means acked through the stream's last event, not Caught() alone: a durable
	// just created can report nothing pending before its first delivery.
	info, err := log.Stream(ctx, TxStream)
	if err != nil {
		t.Fatal(err)
	}
	caught := false
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := log.ConsumerState(ctx, TxStream, DefaultDurable); err == nil && st.Caught() && st.AckFloor >= info.LastSeq {
			caught = true
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !caught {
		t.Fatal("the scorer did not catch up within 5 minutes")
	}
}

// The decisions of the streaming path, in log order, on a fixed simulation (seed 0, the
// fixture's model), are exactly those recorded in testdata/decisions.golden: changes made
// for speed (reused buffers, fewer allocations) must not change a single decision, score
// bit included. A change meant to alter decisions (features, model, thresholds) rewrites
// the file with -update and says why in its commit.
func TestDecisionsGolden(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	log := openForgetful(t)
	evs, err := events.Replay(f.txs[:3000], 3*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.PublishBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 256 // several runs per batch, so run splitting is exercised
	s := f.scorer(t, log, memory.New(f.reg), &Stats{})
	runToEnd(t, log, s, cc)

	var got bytes.Buffer
	n := 0
	if _, err := log.Replay(ctx, DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var d decision.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		n++
		fmt.Fprintf(&got, "%d %s %s %x %d %s %s %q\n", d.TransactionID, m.Header[HeaderTxSeq], d.Action, d.Score, d.ModelVersion, d.Path, d.ServingPath, d.Reason)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("%d decisions, want 3000", n)
	}
	path := filepath.Join("testdata", "decisions.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("decision %d = %s, want %s (testdata/decisions.golden)", i+1, gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Fatalf("%d decision lines, want %d", len(gl), len(wl))
	}
}

// The no-op scorer (the benchmark's floor) publishes exactly one approving decision per
// transaction, none for a chargeback, through the same log and consumer.
func TestNoopOneDecisionPerTransaction(t *testing.T) {
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
	labels := 0
	for _, ev := range evs {
		if ev.Subject == LabelSubject {
			labels++
		}
	}
	stats := &Stats{}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 64
	runToEnd(t, log, NewNoop(log, stats, nil), cc)
	got := decisionsByTx(t, log)
	for _, tx := range f.txs[:600] {
		ds := got[tx.ID]
		if len(ds) != 1 || ds[0].Path != PathNoop || ds[0].Action != decision.Approve {
			t.Fatalf("transaction %d: decisions %+v, want one approval on path %s", tx.ID, ds, PathNoop)
		}
	}
	if len(got) != 600 || stats.Noop.Load() != 600 || stats.Labels.Load() != int64(labels) || stats.Model.Load() != 0 {
		t.Errorf("%d transactions decided, stats noop %d labels %d model %d; want 600, 600, %d, 0",
			len(got), stats.Noop.Load(), stats.Labels.Load(), stats.Model.Load(), labels)
	}
}
