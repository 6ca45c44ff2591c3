package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// syncBuffer is a bytes.Buffer the loop writes to while the test reads it.
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

// TestMonitorLoop: mlp monitor --loop reads the prediction log on a NATS server, takes the
// champion's drift reference from it, prints what it decided, and stops cleanly when its
// context ends (as on SIGINT).
func TestMonitorLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Setenv("CASEBOOK_NATS_URL", "")
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	sf := storeFlags{dir: dir}
	reg, closeReg, err := sf.open(ctx, walkthrough.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeReg()
	def, err := fraudPipeline("logreg", 2000, 1, registry.Champion, "test")
	if err != nil {
		t.Fatal(err)
	}
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir = t.TempDir()
	p, err := pipeline.New(def, reg, pc)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand}); err != nil || !res.Moved {
		t.Fatalf("train the champion: moved %v, %v", res.Moved, err)
	}
	champ, err := reg.Resolve(ctx, "fraud", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	// The streams as mlp serve --prediction-log makes them: the loop must read them as they
	// are, not insist on a config of its own.
	if err := predlog.EnsureStreams(ctx, l, predictionLogMaxAge); err != nil {
		t.Fatal(err)
	}
	pl, err := monitoring.NewPredictionLog(l, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	preds := make([]predlog.Prediction, 600)
	for i := range preds {
		f := map[string]float64{}
		for j, n := range champ.Schema.Names() {
			f[n] = float64((i*7+j)%13) / 13
		}
		preds[i] = predlog.Prediction{ID: fmt.Sprintf("tx-%d", i), Model: "fraud", Version: champ.Number, Alias: registry.Champion,
			Time: at.Add(time.Duration(i) * time.Minute), Features: f, Score: float64(i%10) / 10, Path: "primary"}
	}
	if err := pl.Log(ctx, preds...); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(lctx, []string{"monitor", "fraud", "--loop", "--nats", l.URL(), "--dir", dir, "--interval", "10ms",
			"--reference", "500", "--checkpoints", t.TempDir(), "--family", "logreg"}, walkthrough.Config{}, &out)
	}()
	for !strings.Contains(out.String(), "reference → watching") {
		select {
		case err := <-done:
			t.Fatalf("mlp monitor --loop returned %v before taking the reference:\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("no reference step printed:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop() // what SIGINT does through main's signal context
	if err := <-done; err != nil {
		t.Fatalf("mlp monitor --loop stopped with %v, want nil:\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "loop: fraud champion v1, phase watching") || !strings.Contains(s, "loop: stopped in phase watching after reading 600 predictions") {
		t.Errorf("output does not say what the loop watched and read:\n%s", s)
	}

	for _, args := range [][]string{
		{"monitor", "fraud", "--loop", "--demo"},
		{"monitor", "fraud", "--loop", "--nats", l.URL(), "--dir", dir, "--family", "forest"},
	} {
		err := run(ctx, args, walkthrough.Config{}, &out)
		if args[3] == "--demo" && !errors.Is(err, scenario.ErrUsage) {
			t.Errorf("mlp %v = %v, want a usage error", args, err)
		}
		if err == nil {
			t.Errorf("mlp %v = nil, want an error", args)
		}
	}
	if err := run(ctx, []string{"monitor", "nomodel", "--loop", "--nats", l.URL(), "--dir", dir}, walkthrough.Config{}, &out); !errors.Is(err, registry.ErrModelNotFound) && !errors.Is(err, registry.ErrAliasNotFound) {
		t.Errorf("mlp monitor nomodel --loop = %v, want a not-found error", err)
	}
}
