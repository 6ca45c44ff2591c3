package loadgen_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

func startHTTP(t *testing.T, h http.Handler) *loadgentest.Server {
	t.Helper()
	s, err := loadgentest.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newHTTPTarget(t *testing.T, url string, conns int) *httptarget.Target {
	t.Helper()
	cfg := httptarget.DefaultConfig()
	cfg.URL = url
	cfg.MaxConns = conns
	tg, err := httptarget.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func run(t *testing.T, cfg loadgen.Config, tg loadgen.Target, wl loadgen.Workload) *loadgen.Report {
	t.Helper()
	e, err := loadgen.New(cfg, tg, wl, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rep, err := e.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// TestStallCorrectedVsUncorrected is the coordinated-omission test: the server freezes for
// one second in the middle of an open-loop run. Measured from the intended send time, the
// ~1000 requests scheduled during the freeze waited up to a second, so the corrected p99
// shows the stall; measured from the actual send time only the 8 requests that were in
// flight did, so the uncorrected p99 hides it and only its max gives it away.
func TestStallCorrectedVsUncorrected(t *testing.T) {
	stall := loadgentest.NewStall()
	srv := startHTTP(t, stall)
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 1000}}
	cfg.Duration = 4 * time.Second
	cfg.Workers = 8
	tg := newHTTPTarget(t, srv.URL, cfg.Workers)
	stall.Arm(time.Now().Add(1500*time.Millisecond), time.Second)
	rep := run(t, cfg, tg, loadgen.Fixed{Body: []byte(`{}`)})

	if rep.Failed != 0 {
		t.Fatalf("failed %d, want 0 (errors %v)", rep.Failed, rep.Errors)
	}
	if rep.NotSent != 0 {
		// A slow machine may not have cleared the stall's backlog before the window closed;
		// that is reported, and does not change what this test is about.
		t.Logf("%d requests not sent", rep.NotSent)
	}
	const stallMs = 1000.0
	checks := []struct {
		name string
		got  float64
		ok   func(float64) bool
		want string
	}{
		{"corrected p99", rep.Corrected.P99Ms, func(v float64) bool { return v >= stallMs/2 }, ">= 500ms"},
		{"corrected p90", rep.Corrected.P90Ms, func(v float64) bool { return v >= 100 }, ">= 100ms"},
		{"corrected max", rep.Corrected.MaxMs, func(v float64) bool { return v >= 0.9*stallMs }, ">= 900ms"},
		{"uncorrected p99", rep.Uncorrected.P99Ms, func(v float64) bool { return v < stallMs/10 }, "< 100ms"},
		{"uncorrected max", rep.Uncorrected.MaxMs, func(v float64) bool { return v >= 0.9*stallMs }, ">= 900ms"},
		{"late sends", float64(rep.Late), func(v float64) bool { return v >= 500 }, ">= 500"},
	}
	for _, c := range checks {
		if !c.ok(c.got) {
			t.Errorf("%s = %v, want %s", c.name, c.got, c.want)
		}
	}
	if held := stall.Held(); held < 1 || held > cfg.Workers {
		t.Errorf("stall held %d requests, want 1..%d (only the workers' in-flight requests reach a frozen server)", held, cfg.Workers)
	}
}

// blockingTarget ignores nothing: it blocks until its context ends.
type blockingTarget struct{ calls atomic.Int64 }

func (b *blockingTarget) Do(ctx context.Context, _ loadgen.Request) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}
func (b *blockingTarget) Close() error { return nil }

// stuckTarget ignores its context entirely.
type stuckTarget struct{ release chan struct{} }

func (s *stuckTarget) Do(context.Context, loadgen.Request) error { <-s.release; return nil }
func (s *stuckTarget) Close() error                              { return nil }

// instantTarget answers at once.
type instantTarget struct{ calls atomic.Int64 }

func (i *instantTarget) Do(context.Context, loadgen.Request) error { i.calls.Add(1); return nil }
func (i *instantTarget) Close() error                              { return nil }

func TestRunStopsByItself(t *testing.T) {
	t.Parallel()
	stuck := &stuckTarget{release: make(chan struct{})}
	t.Cleanup(func() { close(stuck.release) })
	tests := []struct {
		name    string
		mode    loadgen.Mode
		target  loadgen.Target
		timeout time.Duration
		within  time.Duration
	}{
		{"open loop, target blocks until its deadline", loadgen.Open, &blockingTarget{}, 300 * time.Millisecond, 3 * time.Second},
		{"closed loop, target blocks until its deadline", loadgen.Closed, &blockingTarget{}, 300 * time.Millisecond, 3 * time.Second},
		{"open loop, target ignores its deadline", loadgen.Open, stuck, 100 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadgen.DefaultConfig()
			cfg.Mode = tc.mode
			cfg.Users = 4
			cfg.Workers = 4
			cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 100}}
			cfg.Duration = 500 * time.Millisecond
			cfg.Timeout = tc.timeout
			start := time.Now()
			rep := run(t, cfg, tc.target, loadgen.Fixed{})
			if el := time.Since(start); el > tc.within {
				t.Errorf("Run took %v, want at most %v", el, tc.within)
			}
			if rep.ErrorRate == 0 {
				t.Errorf("ErrorRate = 0, want > 0: every request should have failed (errors %v)", rep.Errors)
			}
		})
	}
}

func TestMaxRequestsCapsTheRun(t *testing.T) {
	for _, mode := range []loadgen.Mode{loadgen.Open, loadgen.Closed} {
		tg := &instantTarget{}
		cfg := loadgen.DefaultConfig()
		cfg.Mode = mode
		cfg.Users = 3
		cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 10000}}
		cfg.Duration = 5 * time.Second
		cfg.MaxRequests = 250
		start := time.Now()
		rep := run(t, cfg, tg, loadgen.Fixed{})
		if got := tg.calls.Load(); got != 250 || rep.Sent != 250 {
			t.Errorf("%s loop: target calls %d, report sent %d, want 250 and 250", mode, got, rep.Sent)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("%s loop: run took %v after reaching its cap, want it to stop early", mode, el)
		}
	}
}

// TestSaturatedGeneratorCountsNotSent: one worker, a target that takes 50 ms, 200 requests a
// second: most of the schedule cannot be sent, and the report must say so.
func TestSaturatedGeneratorCountsNotSent(t *testing.T) {
	t.Parallel()
	tg := loadgen.Target(slowTarget(50 * time.Millisecond))
	cfg := loadgen.DefaultConfig()
	cfg.Workers = 1
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 200}}
	cfg.Duration = time.Second
	rep := run(t, cfg, tg, loadgen.Fixed{})
	if rep.Scheduled != 200 {
		t.Errorf("Scheduled = %d, want 200", rep.Scheduled)
	}
	if rep.NotSent < 150 || rep.Errors[loadgen.KindNotSent] != rep.NotSent {
		t.Errorf("NotSent = %d (errors %v), want >= 150 and listed under %q", rep.NotSent, rep.Errors, loadgen.KindNotSent)
	}
	if rep.Sent+rep.NotSent != rep.Scheduled {
		t.Errorf("Sent %d + NotSent %d != Scheduled %d", rep.Sent, rep.NotSent, rep.Scheduled)
	}
	if rep.ErrorRate < 0.7 {
		t.Errorf("ErrorRate = %v, want >= 0.7 (not-sent requests count as errors)", rep.ErrorRate)
	}
}

type slowTarget time.Duration

func (s slowTarget) Do(ctx context.Context, _ loadgen.Request) error {
	select {
	case <-time.After(time.Duration(s)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (slowTarget) Close() error { return nil }

func TestRunInterrupted(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 100}}
	cfg.Duration = time.Minute
	e, err := loadgen.New(cfg, &instantTarget{}, loadgen.Fixed{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := e.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if rep == nil || !rep.Interrupted || rep.Sent == 0 {
		t.Fatalf("Run report = %+v, want a partial, interrupted report", rep)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := loadgen.DefaultConfig()
	good.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 10}}
	good.Duration = time.Second
	tests := []struct {
		name   string
		mutate func(*loadgen.Config)
		want   string
	}{
		{"rate zero", func(c *loadgen.Config) { c.Schedule.Profile = loadgen.Constant{} }, "above zero"},
		{"rate negative", func(c *loadgen.Config) { c.Schedule.Profile = loadgen.Constant{PerSecond: -5} }, "above zero"},
		{"no duration", func(c *loadgen.Config) { c.Duration = 0 }, "duration"},
		{"duration over an hour", func(c *loadgen.Config) { c.Duration = 2 * time.Hour }, "duration"},
		{"no request cap", func(c *loadgen.Config) { c.MaxRequests = 0 }, "max requests"},
		{"no workers", func(c *loadgen.Config) { c.Workers = 0 }, "workers"},
		{"closed without users", func(c *loadgen.Config) { c.Mode = loadgen.Closed }, "users"},
		{"unknown mode", func(c *loadgen.Config) { c.Mode = "sideways" }, "mode"},
		{"negative tick", func(c *loadgen.Config) { c.Tick = -time.Millisecond }, "tick"},
		{"tick over 10ms", func(c *loadgen.Config) { c.Tick = time.Second }, "tick"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			_, err := loadgen.New(cfg, &instantTarget{}, loadgen.Fixed{}, nil)
			if !errors.Is(err, loadgen.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%s) error = %v, want ErrInvalidConfig mentioning %q", tc.name, err, tc.want)
			}
		})
	}
}
