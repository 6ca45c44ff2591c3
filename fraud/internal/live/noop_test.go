package live

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunStreamNoop: `fraud stream --noop` (the benchmark floor) starts without simulating
// or training and answers every transaction published to it with one approving decision on
// the noop path.
func TestRunStreamNoop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := DefaultStreamConfig()
	cfg.Noop, cfg.Port, cfg.MetricsAddr, cfg.Progress = true, port, "", 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- RunStream(ctx, cfg, &out) }()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "ready:"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after a minute: %s", out.String())
		}
	}
	if strings.Contains(out.String(), "model v") {
		t.Errorf("the no-op stream trained a model: %s", out.String())
	}
	lc := eventlog.DefaultConfig()
	lc.URL = "nats://" + ln.Addr().String()
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var evs []eventlog.Event
	for i := range 20 {
		ev, err := events.TxEvent(sim.Transaction{ID: int64(i), Customer: i, Terminal: i, Amount: 10, Time: time.Unix(int64(i), 0)})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := log.PublishBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got := map[int64]decision.Decision{}
	for deadline := time.Now().Add(time.Minute); len(got) < 20 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		clear(got)
		if _, err := log.Replay(ctx, stream.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
			var d decision.Decision
			if err := json.Unmarshal(m.Data, &d); err != nil {
				return err
			}
			if _, dup := got[d.TransactionID]; dup {
				t.Errorf("transaction %d decided twice", d.TransactionID)
			}
			got[d.TransactionID] = d
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range int64(20) {
		if d, ok := got[i]; !ok || d.Path != stream.PathNoop || d.Action != decision.Approve {
			t.Errorf("transaction %d: decision %+v (found %v), want an approval on path %s", i, d, ok, stream.PathNoop)
		}
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Errorf("RunStream = %v", err)
	}
}
