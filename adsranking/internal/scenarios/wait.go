package scenarios

import (
	"context"
	"fmt"
	"time"
)

// stallLimit is how long a wait for the live system to catch up may see no progress at
// all before the scenario gives up. Waits end on the condition, not on a clock: a busy
// machine is slower, not wrong.
const stallLimit = 2 * time.Minute

// waitCount waits until count() reaches target, polling every few milliseconds. It fails
// only when the count has not moved for stallLimit (or ctx ends), naming what it waited
// for and where it stopped.
func waitCount(ctx context.Context, what string, count func() int64, target int64) error {
	last, since := count(), time.Now()
	for last < target {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (at %d of %d)", what, ctx.Err(), last, target)
		case <-time.After(2 * time.Millisecond):
		}
		if n := count(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > stallLimit {
			return fmt.Errorf("waiting for %s: no progress for %v (at %d of %d)", what, stallLimit, last, target)
		}
	}
	return nil
}
