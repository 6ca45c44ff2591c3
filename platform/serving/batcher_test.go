package serving

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// gatedModel blocks its first Predict until released, then records batch sizes.
type gatedModel struct {
	ml.Model
	gate  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func (g *gatedModel) Predict(b ml.Batch, out []float64) error {
	<-g.gate
	g.mu.Lock()
	g.sizes = append(g.sizes, b.Rows())
	g.mu.Unlock()
	return g.Model.Predict(b, out)
}

// TestBatcherGathersAndSplits: requests that queue while a batch runs are gathered into
// one Predict call of at most MaxBatch rows, and each request gets exactly its own rows'
// scores back.
func TestBatcherGathersAndSplits(t *testing.T) {
	data, m1, _ := trainedModels(t)
	g := &gatedModel{Model: m1, gate: make(chan struct{})}
	met, _ := newMetrics(nil)
	cfg := BatchConfig{MaxBatch: 16, QueueSize: 256, Workers: 1, PreferredSizes: []int{8}}
	h := newHost("m", 1, 0, g, cfg, newScheduler(1, false), met.forHost("m", 1))
	defer h.stop()
	const n = 40
	calls := make([]*call, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range calls {
		rows := 1 + i%3
		x := data.X[i*features : (i+rows)*features]
		calls[i] = &call{ctx: ctx, x: x, rows: rows, done: make(chan struct{})}
		if err := h.submit(calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	close(g.gate)
	for i, c := range calls {
		<-c.done
		if c.err != nil {
			t.Fatalf("call %d: %v", i, c.err)
		}
		want := make([]float64, c.rows)
		_ = m1.Predict(ml.Batch{Schema: m1.Schema(), X: c.x}, want)
		for j := range want {
			if math.Abs(c.out[j]-want[j]) > 1e-12 {
				t.Fatalf("call %d row %d = %v, want %v", i, j, c.out[j], want[j])
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	total, maxSize := 0, 0
	for _, s := range g.sizes {
		total += s
		maxSize = max(maxSize, s)
	}
	if maxSize > cfg.MaxBatch || maxSize < 8 || len(g.sizes) >= n {
		t.Errorf("batch sizes %v: want some ≥ 8, none over %d, fewer calls than %d requests", g.sizes, cfg.MaxBatch, n)
	}
	if want := 3 * 3 * n / 3 * 2 / 3; total < want/2 {
		t.Errorf("rows predicted = %d, suspiciously few", total)
	}
}

// TestBatcherDropsExpired: a request whose deadline passed while queued is not predicted.
func TestBatcherDropsExpired(t *testing.T) {
	_, m1, _ := trainedModels(t)
	g := &gatedModel{Model: m1, gate: make(chan struct{})}
	met, _ := newMetrics(nil)
	h := newHost("m", 1, 0, g, BatchConfig{MaxBatch: 1, QueueSize: 8, Workers: 1}, newScheduler(1, false), met.forHost("m", 1))
	defer h.stop()
	live := &call{ctx: context.Background(), x: make([]float64, features), rows: 1, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	dead := &call{ctx: ctx, x: make([]float64, features), rows: 1, done: make(chan struct{})}
	_ = h.submit(live)
	_ = h.submit(dead)
	cancel()
	close(g.gate)
	<-live.done
	<-dead.done
	if live.err != nil || dead.err == nil {
		t.Errorf("live err = %v, dead err = %v; want nil and ErrDeadline", live.err, dead.err)
	}
	if len(g.sizes) != 1 {
		t.Errorf("Predict calls = %d, want 1 (the expired request is skipped)", len(g.sizes))
	}
}

func TestBatchConfigValidate(t *testing.T) {
	tests := []struct {
		c  BatchConfig
		ok bool
	}{
		{DefaultBatchConfig(), true},
		{BatchConfig{MaxBatch: 0, QueueSize: 1, Workers: 1}, false},
		{BatchConfig{MaxBatch: 4, QueueSize: 1, Workers: 1, PreferredSizes: []int{8}}, false},
		{BatchConfig{MaxBatch: 4, QueueSize: 1, Workers: 1, MaxQueueDelay: -1}, false},
		{BatchConfig{MaxBatch: 4, QueueSize: 0, Workers: 1}, false},
	}
	for _, tc := range tests {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}
