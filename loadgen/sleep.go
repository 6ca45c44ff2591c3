package loadgen

import (
	"context"
	"time"
)

// A sleeper waits until an offset from the start of the run. The pacer's precision is the
// generator's floor: a send that leaves late adds its lag to every corrected latency.
//
// Go's own timers are not enough here: when the process is otherwise idle they fire up to
// a millisecond late, because the Linux netpoller waits in whole milliseconds. Spinning
// instead would keep every P busy and starve the netpoller, delaying the very responses
// being timed. On Linux the pacer therefore sleeps on a timerfd, which the netpoller wakes
// within tens of microseconds; elsewhere it falls back to a time.Timer.
type sleeper interface {
	// sleepUntil blocks until now() >= at and returns true, or returns false once ctx ends.
	sleepUntil(ctx context.Context, now func() time.Duration, at time.Duration) bool
	close()
}

// maxSleepChunk bounds one uninterruptible wait, so cancellation is noticed promptly.
const maxSleepChunk = 50 * time.Millisecond

// timerSleeper is the portable fallback.
type timerSleeper struct{ t *time.Timer }

func newTimerSleeper() *timerSleeper {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timerSleeper{t: t}
}

func (s *timerSleeper) sleepUntil(ctx context.Context, now func() time.Duration, at time.Duration) bool {
	for {
		d := at - now()
		if d <= 0 {
			return true
		}
		s.t.Reset(d)
		select {
		case <-s.t.C:
		case <-ctx.Done():
			s.t.Stop()
			return false
		}
	}
}

func (s *timerSleeper) close() { s.t.Stop() }

// newPacerSleeper is the pacer's sleeper; a test swaps it to count wake-ups.
var newPacerSleeper = newSleeper
