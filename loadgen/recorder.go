package loadgen

import (
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds. The range covers a whole run plus its drain (a request
// queued at the start of an hour-long run and answered at its end) with three significant
// digits, i.e. 1 µs resolution below 2 ms and 0.1% above.
const (
	histUnit   = time.Microsecond
	histMax    = int64(2 * time.Hour / histUnit)
	fineDigits = 3
	// Per-window and send-lag histograms only feed plots and a progress line; two digits (1%)
	// keep each one small.
	coarseDigits = 2
)

func newFine() *hdr.Histogram   { return hdr.New(1, histMax, fineDigits) }
func newCoarse() *hdr.Histogram { return hdr.New(1, histMax, coarseDigits) }

func toUnits(d time.Duration) int64 {
	v := int64(d / histUnit)
	if v < 0 {
		return 0
	}
	return min(v, histMax)
}

// recorder is the record of a few workers (see recorderShards): its mutex is shared by
// them only, and lets the engine stop waiting for a worker stuck in a Target that ignores
// its deadline without racing with it.
type recorder struct {
	mu        sync.Mutex
	lateAfter time.Duration
	series    *series

	corrected   *hdr.Histogram // from intended send time to answer
	uncorrected *hdr.Histogram // from actual send time to answer
	lag         *hdr.Histogram // from intended to actual send time
	sent        int64
	failed      int64
	late        int64
	errors      map[string]int64

	// The latency-over-time windows this recorder is filling, merged into series when
	// newer windows push them out (workers sharing a recorder finish requests a little out
	// of schedule order, so a few windows stay open at once).
	wins []recWindow
}

// maxOpenWindows bounds the windows a recorder keeps before merging the oldest.
const maxOpenWindows = 4

type recWindow struct {
	idx        int
	winC, winU *hdr.Histogram
	n, errs    int64
}

func newRecorder(lateAfter time.Duration, s *series) *recorder {
	return &recorder{
		lateAfter:   lateAfter,
		series:      s,
		corrected:   newFine(),
		uncorrected: newFine(),
		lag:         newCoarse(),
		errors:      map[string]int64{},
	}
}

// record notes one finished request. Offsets are from the start of the run.
func (r *recorder) record(intended, sent, done time.Duration, err error) {
	r.series.completed(done)
	r.mu.Lock()
	defer r.mu.Unlock()
	c, u := toUnits(done-intended), toUnits(done-sent)
	_ = r.corrected.RecordValue(c) // toUnits keeps values in range
	_ = r.uncorrected.RecordValue(u)
	lag := sent - intended
	_ = r.lag.RecordValue(toUnits(lag))
	r.sent++
	if lag > r.lateAfter {
		r.late++
	}
	if err != nil {
		r.failed++
		r.errors[ErrorKind(err)]++
	}
	w := r.window(r.series.index(intended))
	_ = w.winC.RecordValue(c)
	_ = w.winU.RecordValue(u)
	w.n++
	if err != nil {
		w.errs++
	}
}

// window returns the open window idx, opening it (and merging the oldest open one into the
// series when too many are open) if needed.
func (r *recorder) window(idx int) *recWindow {
	for i := range r.wins {
		if r.wins[i].idx == idx {
			return &r.wins[i]
		}
	}
	if len(r.wins) == maxOpenWindows {
		oldest := 0
		for i := range r.wins {
			if r.wins[i].idx < r.wins[oldest].idx {
				oldest = i
			}
		}
		o := &r.wins[oldest]
		r.series.add(o.idx, o.winC, o.winU, o.n, o.errs)
		o.winC.Reset()
		o.winU.Reset()
		o.idx, o.n, o.errs = idx, 0, 0
		return o
	}
	r.wins = append(r.wins, recWindow{idx: idx, winC: newCoarse(), winU: newCoarse()})
	return &r.wins[len(r.wins)-1]
}

// flushLocked hands every open window to the shared series. Workers take requests in
// schedule order, so each window is merged about once per recorder.
func (r *recorder) flushLocked() {
	for i := range r.wins {
		w := &r.wins[i]
		if w.n > 0 {
			r.series.add(w.idx, w.winC, w.winU, w.n, w.errs)
		}
		w.winC.Reset()
		w.winU.Reset()
		w.n, w.errs = 0, 0
	}
}

// series is the shared latency-over-time record, bucketed by intended send time (what a
// user arriving at that moment experienced), plus completions bucketed by answer time.
type series struct {
	width time.Duration
	mu    sync.Mutex
	wins  []seriesWindow
	done  []atomic.Int64
}

type seriesWindow struct {
	corrected, uncorrected *hdr.Histogram
	n, errs                int64
}

func newSeries(width, horizon, drain time.Duration) *series {
	n := int((horizon+width-1)/width) + 1
	return &series{
		width: width,
		wins:  make([]seriesWindow, n),
		done:  make([]atomic.Int64, int((horizon+drain)/width)+2),
	}
}

func (s *series) index(at time.Duration) int {
	return min(max(int(at/s.width), 0), len(s.wins)-1)
}

func (s *series) completed(at time.Duration) {
	s.done[min(max(int(at/s.width), 0), len(s.done)-1)].Add(1)
}

func (s *series) add(w int, c, u *hdr.Histogram, n, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := &s.wins[w]
	if sw.corrected == nil {
		sw.corrected, sw.uncorrected = newCoarse(), newCoarse()
	}
	sw.corrected.Merge(c)
	sw.uncorrected.Merge(u)
	sw.n += n
	sw.errs += errs
}

// recent merges the windows that ended within span before the newest the series can hold
// complete: the progress line's running percentile. A recorder merges a window into the
// series only once it has opened maxOpenWindows newer ones, so the series lags now by up
// to that many windows (looking back only span from now, long windows found none: the
// progress line of a 60 s run printed "p99 -" throughout).
func (s *series) recent(now, span time.Duration) *hdr.Histogram {
	h := newCoarse()
	s.mu.Lock()
	defer s.mu.Unlock()
	lag := maxOpenWindows * s.width
	for i := range s.wins {
		start := time.Duration(i) * s.width
		end := start + s.width
		if end > now || end < now-lag-span-s.width {
			continue
		}
		if c := s.wins[i].corrected; c != nil {
			h.Merge(c)
		}
	}
	return h
}
