package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/alertrules"
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

// loopFixture is what mlp monitor --loop runs against: an embedded NATS server with the
// prediction log's streams as mlp serve --prediction-log makes them, a filesystem registry
// in dir whose fraud champion was trained by the pipeline, and a writer to the log.
func loopFixture(ctx context.Context, t *testing.T) (l *eventlog.Log, dir string, champ registry.Version, pl *monitoring.PredictionLog) {
	t.Helper()
	t.Setenv("CASEBOOK_NATS_URL", "")
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dir = t.TempDir()
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
	if champ, err = reg.Resolve(ctx, "fraud", registry.Champion); err != nil {
		t.Fatal(err)
	}
	// The streams as mlp serve --prediction-log makes them: the loop must read them as they
	// are, not insist on a config of its own.
	if err := predlog.EnsureStreams(ctx, l, predictionLogMaxAge); err != nil {
		t.Fatal(err)
	}
	if pl, err = monitoring.NewPredictionLog(l, nil, nil); err != nil {
		t.Fatal(err)
	}
	return l, dir, champ, pl
}

// TestMonitorLoop: mlp monitor --loop reads the prediction log on a NATS server, takes the
// champion's drift reference from it, prints what it decided, and stops cleanly when its
// context ends (as on SIGINT).
func TestMonitorLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, dir, champ, pl := loopFixture(ctx, t)
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

// TestMonitorLoopMetrics: mlp monitor --loop --metrics serves, on Prometheus /metrics,
// every casebook_monitoring_ series an alert in deploy/prometheus/alerts.yaml reads or
// names, fed
// by the loop as it watches drift and data quality, joins outcomes and evaluates its
// alerts; the drift it is shown fires an alert there.
func TestMonitorLoopMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rulesPath, err := alertrules.Path(".")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := alertrules.Load(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	want := rules.Metrics("casebook_monitoring_")
	if len(want) < 8 {
		t.Fatalf("alerts.yaml reads %d monitoring series (%v); want the drift, quality, decay, label delay and alert ones", len(want), want)
	}
	l, dir, champ, pl := loopFixture(ctx, t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// shift 0: the reference's values; shift 3: every feature far outside the reference's
	// range (out_of_range issues, PSI drift). Every third prediction's outcome is a fraud.
	batch := func(from, n int, shift float64) ([]predlog.Prediction, []predlog.Outcome) {
		preds, outs := make([]predlog.Prediction, n), make([]predlog.Outcome, n)
		for k := range preds {
			i := from + k
			f := map[string]float64{}
			for j, name := range champ.Schema.Names() {
				f[name] = float64((i*7+j)%13)/13 + shift
			}
			pt := at.Add(time.Duration(i) * time.Minute)
			preds[k] = predlog.Prediction{ID: fmt.Sprintf("tx-%d", i), Model: "fraud", Version: champ.Number, Alias: registry.Champion,
				Time: pt, Features: f, Score: float64(i%10) / 10, Path: "primary"}
			outs[k] = predlog.Outcome{ID: preds[k].ID, Model: "fraud", Label: float64(min(1, (i%3+1)/3)), Time: pt.Add(time.Hour), Kind: "chargeback"}
		}
		return preds, outs
	}
	ref, _ := batch(0, 500, 0)
	if err := pl.Log(ctx, ref...); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(lctx, []string{"monitor", "fraud", "--loop", "--nats", l.URL(), "--dir", dir, "--interval", "10ms",
			"--reference", "500", "--checkpoints", t.TempDir(), "--family", "logreg", "--metrics", "127.0.0.1:0"}, walkthrough.Config{}, &out)
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("mlp monitor --loop returned %v while waiting for %s:\n%s", err, what, out.String())
			case <-ctx.Done():
				t.Fatalf("no %s:\n%s", what, out.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	addr := regexp.MustCompile(`metrics: (http://\S+/metrics)`)
	waitFor("metrics address printed", func() bool { return addr.MatchString(out.String()) })
	url := addr.FindStringSubmatch(out.String())[1]
	waitFor("reference step", func() bool { return strings.Contains(out.String(), "reference → watching") })

	drifted, outs := batch(500, 600, 3)
	_, refOuts := batch(0, 500, 0)
	if err := pl.Log(ctx, drifted...); err != nil {
		t.Fatal(err)
	}
	if err := pl.LogOutcomes(ctx, append(refOuts, outs...)...); err != nil {
		t.Fatal(err)
	}
	var page string
	series := map[string]bool{}
	firing := regexp.MustCompile(`(?m)^casebook_monitoring_alert_firing\{[^}]*\} 1$`)
	waitFor("scrape with every alerted monitoring series and a firing alert", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d, %v", url, resp.StatusCode, err)
		}
		page = string(b)
		clear(series)
		for line := range strings.Lines(page) {
			if name, _, ok := strings.Cut(line, "{"); ok && !strings.HasPrefix(line, "#") {
				series[name] = true
			}
		}
		for _, n := range want {
			if !series[n] {
				return false
			}
		}
		return firing.MatchString(page)
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("mlp monitor --loop stopped with %v, want nil:\n%s", err, out.String())
	}
	if !strings.Contains(page, `casebook_monitoring_data_quality_issues_total{check="out_of_range"`) {
		t.Errorf("no out_of_range issues on /metrics after values far outside the reference:\n%s", page)
	}
}

// TestMonitorLoopMetricsPortTaken: mlp monitor --loop whose --metrics address is taken
// stops with the listen error instead of running on without metrics.
func TestMonitorLoopMetricsPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("CASEBOOK_NATS_URL", "")
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(ctx, []string{"monitor", "fraud", "--loop", "--nats", l.URL(), "--dir", t.TempDir(), "--metrics", ln.Addr().String()}, walkthrough.Config{}, io.Discard)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("mlp monitor --loop with the metrics port taken = %v, want the listen error", err)
	}
}
