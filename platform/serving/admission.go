package serving

import (
	"context"
	"math"
	"sync"
	"time"
)

// Priorities: 0 is the highest class. Shadow traffic runs below every class.
const (
	// NumPriorities is the number of request priority classes (0 highest).
	NumPriorities  = 3
	shadowPriority = NumPriorities
	numLevels      = NumPriorities + 1
)

// scheduler hands out CPU slots (by default one per core) to batches that are ready to
// run, the highest priority first and FIFO within a priority. Every model's workers go
// through it, so models are isolated by their own queues (bulkheads) and the cores are
// shared by priority: a flood on a low class waits here, and is then refused by
// admission, while a high class keeps its latency. Triton orders requests by priority
// inside one model's queue; this orders batches across models.
type scheduler struct {
	mu       sync.Mutex
	slots    int
	free     int
	fifo     bool // priorities ignored (the baseline a benchmark compares with)
	waiters  [numLevels][]*slotWaiter
	seq      uint64
	slotWait [numLevels]ewma
}

type slotWaiter struct {
	ch      chan struct{}
	granted bool
	seq     uint64
}

func newScheduler(slots int, fifo bool) *scheduler {
	return &scheduler{slots: slots, free: slots, fifo: fifo}
}

// tryAcquire takes a slot if one is free and nobody at this priority or above waits.
func (s *scheduler) tryAcquire(prio int) bool {
	if s.fifo {
		prio = 0
	}
	s.mu.Lock()
	ok := s.free > 0 && s.noWaitersAtOrAbove(prio)
	if ok {
		s.free--
	}
	s.mu.Unlock()
	if ok {
		s.slotWait[prio].observe(0, time.Now())
	}
	return ok
}

// acquire blocks until a slot is granted or ctx ends.
func (s *scheduler) acquire(ctx context.Context, prio int) error {
	if s.fifo {
		prio = 0
	}
	t0 := time.Now()
	s.mu.Lock()
	if s.free > 0 && s.noWaitersAtOrAbove(prio) {
		s.free--
		s.mu.Unlock()
		s.slotWait[prio].observe(0, t0)
		return nil
	}
	s.seq++
	w := &slotWaiter{ch: make(chan struct{}, 1), seq: s.seq}
	s.waiters[prio] = append(s.waiters[prio], w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		now := time.Now()
		s.slotWait[prio].observe(now.Sub(t0).Seconds(), now)
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.granted {
			s.mu.Unlock()
			s.release()
		} else {
			q := s.waiters[prio]
			for i := range q {
				if q[i] == w {
					s.waiters[prio] = append(q[:i:i], q[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
		}
		now := time.Now()
		s.slotWait[prio].observe(now.Sub(t0).Seconds(), now)
		return ctx.Err()
	}
}

func (s *scheduler) noWaitersAtOrAbove(prio int) bool {
	for p := 0; p <= prio; p++ {
		if len(s.waiters[p]) > 0 {
			return false
		}
	}
	return true
}

// release returns a slot, handing it straight to the best waiter if there is one.
func (s *scheduler) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.waiters {
		if q := s.waiters[p]; len(q) > 0 {
			w := q[0]
			s.waiters[p] = q[1:]
			w.granted = true
			w.ch <- struct{}{}
			return
		}
	}
	s.free++
}

// expectedSlotWait is the recent slot wait at a priority.
func (s *scheduler) expectedSlotWait(prio int, now time.Time) time.Duration {
	if s.fifo {
		prio = 0
	}
	return time.Duration(s.slotWait[prio].value(now) * float64(time.Second))
}

// ewma is an exponentially weighted moving average whose value also decays toward zero
// while nothing is observed, so an estimate that made admission refuse everything cannot
// keep refusing forever: it fades until a request gets through and measures again.
type ewma struct {
	mu sync.Mutex
	v  float64
	at time.Time
}

const (
	ewmaAlpha    = 0.2
	ewmaHalfLife = 200 * time.Millisecond
)

func (e *ewma) observe(x float64, now time.Time) {
	e.mu.Lock()
	if e.at.IsZero() {
		e.v = x
	} else {
		e.v += ewmaAlpha * (x - e.v)
	}
	e.at = now
	e.mu.Unlock()
}

func (e *ewma) value(now time.Time) float64 {
	e.mu.Lock()
	v, at := e.v, e.at
	e.mu.Unlock()
	if at.IsZero() {
		return 0
	}
	idle := now.Sub(at)
	if idle <= ewmaHalfLife {
		return v
	}
	return v * math.Exp2(-float64(idle-ewmaHalfLife)/float64(ewmaHalfLife))
}

// admit decides whether a request with budget left can be answered in time by h. It
// predicts the wait from the requests already queued for the model and the recent time per
// request, CPU slot wait at the model's priority included.
func (h *host) admit(budget time.Duration, now time.Time) error {
	if int(h.pending.Load()) >= cap(h.queue) {
		return &OverloadError{Model: h.name, Reason: "queue-full", Budget: budget, RetryAfter: 100 * time.Millisecond}
	}
	// perReq already holds the slot wait of recent batches; with nothing observed yet (a
	// model that just started) the scheduler's recent wait at this priority stands in.
	perReq := max(h.perRequest.value(now), h.sched.expectedSlotWait(h.prio, now).Seconds())
	queued := float64(h.pending.Load())
	wait := time.Duration((queued/float64(h.cfg.Workers) + 1) * perReq * float64(time.Second))
	if wait > budget {
		return &OverloadError{Model: h.name, Reason: "deadline", Predicted: wait, Budget: budget, RetryAfter: max(wait, 10*time.Millisecond)}
	}
	return nil
}
