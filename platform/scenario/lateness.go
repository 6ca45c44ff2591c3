package scenario

import (
	"slices"
	"sync"
	"time"
)

// Lateness measures how late this process gets to run on the machine right now: one
// goroutine asks for a 1 ms sleep again and again and records how much later than asked it
// woke. On a quiet machine that is tens of microseconds; with other processes on the
// cores it is what they take from this one, and it lands on every latency a scenario
// measures over the same stretch. A timing claim states its bound against it ("p99 inside
// the deadline, allowing for the lateness measured alongside"), so that it holds on a busy
// laptop and still fails when the code under test is slow.
type Lateness struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []time.Duration
}

// LatenessStats summarises a Lateness measurement.
type LatenessStats struct {
	Samples  int
	P99, Max time.Duration
}

// StartLateness starts measuring; Stop ends it.
func StartLateness() *Lateness {
	l := &Lateness{stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *Lateness) run() {
	defer close(l.done)
	const nap = time.Millisecond
	t := time.NewTimer(nap)
	defer t.Stop()
	asked := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.mu.Lock()
			l.samples = append(l.samples, max(0, now.Sub(asked)-nap))
			l.mu.Unlock()
			asked = time.Now()
			t.Reset(nap)
		}
	}
}

// Stop ends the measurement and returns it. It may be called once.
func (l *Lateness) Stop() LatenessStats {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return latenessStats(l.samples)
}

func latenessStats(samples []time.Duration) LatenessStats {
	if len(samples) == 0 {
		return LatenessStats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return LatenessStats{Samples: len(s), P99: s[min(len(s)-1, len(s)*99/100)], Max: s[len(s)-1]}
}
