package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

type countingSleeper struct {
	sleeper
	sleeps *atomic.Int64
}

func (c countingSleeper) sleepUntil(ctx context.Context, now func() time.Duration, at time.Duration) bool {
	c.sleeps.Add(1)
	return c.sleeper.sleepUntil(ctx, now, at)
}

type countTarget struct{ calls atomic.Int64 }

func (c *countTarget) Do(context.Context, Request) error { c.calls.Add(1); return nil }
func (c *countTarget) Close() error                      { return nil }

// TestTickBoundsWakeups: with a tick the pacer sleeps at most once per tick however high
// the rate and still sends every request; without one it
// sleeps before (nearly) every request.
func TestTickBoundsWakeups(t *testing.T) {
	var sleeps atomic.Int64
	orig := newPacerSleeper
	newPacerSleeper = func() sleeper { return countingSleeper{sleeper: orig(), sleeps: &sleeps} }
	t.Cleanup(func() { newPacerSleeper = orig })

	for _, tick := range []time.Duration{0, 5 * time.Millisecond} {
		sleeps.Store(0)
		cfg := DefaultConfig()
		cfg.Schedule = Schedule{Profile: Constant{PerSecond: 2000}}
		cfg.Duration = 500 * time.Millisecond
		cfg.Tick = tick
		cfg.ProgressEvery = 0
		tg := &countTarget{}
		e, err := New(cfg, tg, Fixed{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent != 1000 || tg.calls.Load() != 1000 {
			t.Fatalf("tick %v: sent %d, target calls %d, want 1000 and 1000", tick, rep.Sent, tg.calls.Load())
		}
		n := sleeps.Load()
		// Each sleep ends at least a tick after the previous wake-up, so a 500 ms window
		// holds at most 500ms/tick + 1 of them.
		if tick > 0 && n > int64(cfg.Duration/tick)+1 {
			t.Errorf("tick %v: the pacer slept %d times in %v, want at most %d", tick, n, cfg.Duration, cfg.Duration/tick+1)
		}
		// Without a tick it sleeps for every request that is not yet due; on a loaded
		// machine some are already due when the pacer gets to them, so allow a margin.
		if tick == 0 && n < 500 {
			t.Errorf("no tick: the pacer slept %d times for 1000 requests, want one sleep per request (at least 500)", n)
		}
		if tick > 0 && rep.TickMs != 5 {
			t.Errorf("report tick_ms = %v, want 5", rep.TickMs)
		}
	}
}

// The progress line's recent p99 finds the windows a recorder has merged, which lag the
// present by up to maxOpenWindows windows.
func TestRecentSeesMergedWindows(t *testing.T) {
	width := 600 * time.Millisecond
	s := newSeries(width, time.Minute, time.Second)
	c, u := newCoarse(), newCoarse()
	_ = c.RecordValue(1000)
	_ = u.RecordValue(1000)
	now := 20 * time.Second
	// The newest window merged so far ends maxOpenWindows windows before now.
	idx := int(now/width) - maxOpenWindows - 1
	s.add(idx, c, u, 1, 0)
	if got := s.recent(now, time.Second).TotalCount(); got != 1 {
		t.Errorf("recent(%v) holds %d values, want the 1 merged %v ago", now, got, now-time.Duration(idx+1)*width)
	}
}
