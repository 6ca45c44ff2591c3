package scenario

import (
	"runtime"
	"testing"
	"time"
)

func TestLatenessStats(t *testing.T) {
	ms := time.Millisecond
	var samples []time.Duration
	for i := range 100 {
		samples = append(samples, time.Duration(i%10)*time.Microsecond)
	}
	samples = append(samples, 40*ms, 3*ms) // one long stall, one short
	got := latenessStats(samples)
	if got.Samples != 102 || got.Max != 40*ms || got.P99 != 3*ms {
		t.Errorf("latenessStats = %+v, want 102 samples, max 40ms, p99 3ms", got)
	}
	if got := latenessStats(nil); got != (LatenessStats{}) {
		t.Errorf("latenessStats(nil) = %+v, want zero", got)
	}
}

// TestLatenessStops: Stop ends the sampling goroutine and returns what it measured; it
// asserts nothing about how late the machine is.
func TestLatenessStops(t *testing.T) {
	l := StartLateness()
	for {
		l.mu.Lock()
		n := len(l.samples)
		l.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	st := l.Stop()
	if st.Samples < 3 || st.Max < st.P99 || st.P99 < 0 {
		t.Errorf("Stop() = %+v, want ≥ 3 samples and 0 ≤ p99 ≤ max", st)
	}
	select {
	case <-l.done:
	default:
		t.Error("the sampling goroutine is still running after Stop")
	}
}

func TestParseSchedstat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"940160 77260 1\n", 77260, true},
		{"0 0 0", 0, true},
		{"940160", 0, false},
		{"", 0, false},
		{"1 x 2", 0, false},
		{"1 -5 2", 0, false},
	} {
		got, ok := parseSchedstat(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRunQueueWait: where the kernel offers it, the counter reads and never goes back.
func TestRunQueueWait(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, ok := RunQueueWait()
	if !ok {
		t.Skip("no /proc/thread-self/schedstat here")
	}
	b, ok := RunQueueWait()
	if !ok || b < a {
		t.Errorf("RunQueueWait() = %v then %v (ok %v), want a counter that never decreases", a, b, ok)
	}
}
