package scenario

import (
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
