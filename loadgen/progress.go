package loadgen

import (
	"fmt"
	"sync"
	"time"
)

// startProgress prints a status line every ProgressEvery until the returned stop is called:
// elapsed time, the send rate over the last interval against the target, answers, errors,
// late sends and a running corrected p99.
func (e *Engine) startProgress(st *run) (stop func()) {
	every := st.cfg.ProgressEvery
	if e.progress == nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var lastSent int64
		last := time.Duration(0)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := st.now()
			sent := st.sent.Load()
			rate := float64(sent-lastSent) / (now - last).Seconds()
			lastSent, last = sent, now
			e.printProgress(st, now, sent, rate)
		}
	})
	return func() { close(done); wg.Wait() }
}

func (e *Engine) printProgress(st *run, now time.Duration, sent int64, rate float64) {
	cfg := st.cfg
	target := fmt.Sprintf("closed loop, %d users", cfg.Users)
	if cfg.Mode == Open {
		target = fmt.Sprintf("target %.0f/s", cfg.Schedule.Profile.Rate(min(now, cfg.Duration)))
	}
	failed := st.failed.Load()
	completed := st.completed.Load()
	errPct := 0.0
	if completed > 0 {
		errPct = 100 * float64(failed) / float64(completed)
	}
	p99 := "-"
	if h := st.series.recent(now, time.Second); h.TotalCount() > 0 {
		p99 = fmtMs(toMs(h.ValueAtPercentile(99)))
	}
	phase := ""
	if now > cfg.Duration {
		phase = " draining"
	}
	fmt.Fprintf(e.progress, "[%6.1fs/%v%s] sent %d (%.0f/s, %s) answered %d errors %d (%.2f%%) late %d p99 %s (recent, corrected)\n",
		now.Seconds(), cfg.Duration, phase, sent, rate, target, completed, failed, errPct, st.late.Load(), p99)
}
