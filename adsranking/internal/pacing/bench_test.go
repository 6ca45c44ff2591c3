package pacing

import (
	"sync/atomic"
	"testing"
	"time"
)

// benchSetup is a ledger of 20 campaigns with budgets that never run out, and each pacer
// after one control step. Reservations live 1 s of simulated time at 100 µs per request,
// so the table holds a steady ~20,000 reservations (window plus retention), as it would in
// production at a larger scale.
func benchSetup(b *testing.B) (*Ledger, map[string]Pacer) {
	b.Helper()
	cfg := LedgerConfig{Mode: ReserveAtDecision, Window: time.Second, Retention: time.Second, Shards: 64}
	l, err := NewLedger(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for id := int64(1); id <= 20; id++ {
		if err := l.SetBudget(id, 1<<60); err != nil {
			b.Fatal(err)
		}
	}
	plan := Plan{DayStart: t0, Curve: DefaultDiurnal()}
	th, err := NewThrottle(plan, DefaultThrottleConfig(), l)
	if err != nil {
		b.Fatal(err)
	}
	pid, err := NewPID(plan, DefaultPIDConfig(), l)
	if err != nil {
		b.Fatal(err)
	}
	pacers := map[string]Pacer{"none": None{}, "throttle": th, "pid": pid}
	for _, p := range pacers {
		p.Update(t0)
	}
	// Every campaign far ahead of plan after an hour, so the controls are below 1 and the
	// throttle flips its coin.
	for id := int64(1); id <= 20; id++ {
		if _, err := l.Reserve(id, uint64(id), 1<<58, t0); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range pacers {
		p.Update(t0.Add(time.Hour))
	}
	for name, p := range pacers {
		if part, mult := p.State(1); name != "none" && part*mult >= 1 {
			b.Fatalf("%s: participation %v, multiplier %v, want one below 1", name, part, mult)
		}
	}
	return l, pacers
}

// step is the bidder's hot path for one request and its winning candidate: Decide, then
// Reserve its bid, then settle it (every other one won and confirmed, the rest lost and
// released).
func step(l *Ledger, p Pacer, ev uint64, now time.Time) {
	campaign := int64(mix(ev)%20) + 1
	ok, m := p.Decide(campaign, ev, now)
	if !ok {
		return
	}
	amount := Micros(m * 20_000)
	r, err := l.Reserve(campaign, ev, amount, now)
	if err != nil {
		return
	}
	if ev&1 == 0 {
		_ = l.Confirm(r, amount/2, now)
	} else {
		_ = l.Release(r)
	}
}

func BenchmarkHotPath(b *testing.B) {
	for _, name := range []string{"none", "throttle", "pid"} {
		b.Run(name+"/serial", func(b *testing.B) {
			l, pacers := benchSetup(b)
			p := pacers[name]
			b.ReportAllocs()
			ev := uint64(0)
			for b.Loop() {
				ev++
				step(l, p, ev, t0.Add(time.Duration(ev)*100*time.Microsecond))
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			l, pacers := benchSetup(b)
			p := pacers[name]
			var goroutines atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Request ids and the clock per goroutine, not from a shared counter whose
				// cache line would dominate what is measured.
				g := goroutines.Add(1)
				for ev := uint64(1); pb.Next(); ev++ {
					step(l, p, ev<<8|g, t0.Add(time.Duration(ev)*100*time.Microsecond))
				}
			})
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, name := range []string{"throttle", "pid"} {
		b.Run(name, func(b *testing.B) {
			_, pacers := benchSetup(b)
			p := pacers[name]
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ev := uint64(0)
				for pb.Next() {
					ev++
					p.Decide(int64(ev%20)+1, ev, t0)
				}
			})
		})
	}
}

func BenchmarkReserve(b *testing.B) {
	b.Run("reserve+release/serial", func(b *testing.B) {
		l, _ := benchSetup(b)
		b.ReportAllocs()
		ev := uint64(0)
		for b.Loop() {
			ev++
			now := t0.Add(time.Duration(ev) * 100 * time.Microsecond)
			if r, err := l.Reserve(int64(ev%20)+1, ev, 1000, now); err == nil {
				_ = l.Release(r)
			}
		}
	})
	b.Run("refused/serial", func(b *testing.B) { // an exhausted campaign: no lock at all
		l, _ := benchSetup(b)
		if err := l.SetBudget(1, 0); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		ev := uint64(0)
		for b.Loop() {
			ev++
			_, _ = l.Reserve(1, ev, 1000, t0)
		}
	})
}

func BenchmarkSimulateDay(b *testing.B) {
	cfg := DefaultSimConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SimulateDay(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
