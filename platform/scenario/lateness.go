package scenario

import (
	"os"
	"slices"
	"strconv"
	"strings"
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

// RunQueueWait is how long the calling OS thread has spent, since it started, runnable but
// waiting for a core: the kernel's schedstat, read from /proc/thread-self/schedstat. ok is
// false where that is not available (not Linux, or a kernel without it). A scenario that
// times work on one goroutine locks it to its thread (runtime.LockOSThread) and reads this
// before and after each call: the difference is time the machine took from the call, which
// a busy laptop adds and the code under test does not.
func RunQueueWait() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, false
	}
	return parseSchedstat(string(b))
}

// parseSchedstat reads the second field of a schedstat line ("on-cpu-ns wait-ns slices").
func parseSchedstat(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}
