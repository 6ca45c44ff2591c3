package serving

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// host runs one loaded model version: its queue, its workers and its batcher. Each model
// version has its own host, so a slow or stalled model fills only its own queue (a
// bulkhead); the cores are shared through the scheduler by priority.
type host struct {
	name    string
	version int
	prio    int
	model   ml.Model
	schema  ml.Schema
	k       int
	cfg     BatchConfig
	sched   *scheduler
	met     *hostMetrics

	queue   chan *call
	pending atomic.Int64 // calls queued or running
	mu      sync.RWMutex
	closed  bool
	wg      sync.WaitGroup

	perRequest ewma         // seconds per request from slot wait to answer, amortized over its batch
	lastOK     atomic.Int64 // unix nanoseconds of the last successful batch
	inAcquire  atomic.Int32 // workers waiting for a CPU slot
	fault      atomic.Pointer[Fault]
}

// call is one request's rows on their way through a host.
type call struct {
	ctx      context.Context
	x        []float64
	rows     int
	out      []float64
	err      error
	enqueued time.Time
	done     chan struct{}
	// onDone, when set, is called instead of closing done (shadow calls: nobody waits).
	onDone func(*call)
}

// Fault is injected trouble for a model version: the operator's (and the scenarios') way
// to show what the fallback chain does when the model service is down or stalled.
type Fault struct {
	// Down makes every batch fail at once, as if the model process had died.
	Down bool
	// Stall holds every batch this long before predicting, as if the model hung.
	Stall time.Duration
}

func newHost(name string, version, prio int, m ml.Model, cfg BatchConfig, sched *scheduler, met *hostMetrics) *host {
	if sched.slots > 1 {
		// No one model version may hold every CPU slot: a model that hangs inside
		// Predict must leave a core for the others.
		cfg.Workers = min(cfg.Workers, sched.slots-1)
	}
	h := &host{name: name, version: version, prio: prio, model: m, schema: m.Schema(), k: m.Schema().Len(), cfg: cfg,
		sched: sched, met: met, queue: make(chan *call, cfg.QueueSize)}
	h.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go h.worker()
	}
	return h
}

// lateFromLoad tells, for a request enqueued at enq that timed out, whether it was late
// because of load (the model answered other batches meanwhile, or its workers are waiting
// for a CPU slot) rather than because the model is stuck or broken. Only the second kind
// may open the breaker: load is admission control's business.
func (h *host) lateFromLoad(enq time.Time) bool {
	return h.lastOK.Load() > enq.UnixNano() || h.inAcquire.Load() > 0
}

// warm runs the model on a batch of zeros so that the first real request does not pay
// for lazily built state; a model that cannot predict is not swapped in.
func (h *host) warm() error {
	rows := max(1, min(h.cfg.MaxBatch, 64))
	out := make([]float64, rows)
	for range 3 {
		if err := h.model.Predict(ml.Batch{Schema: h.schema, X: make([]float64, rows*h.k)}, out); err != nil {
			return fmt.Errorf("warm %s v%d: %w", h.name, h.version, err)
		}
	}
	return nil
}

// submit enqueues c without blocking. It fails with ErrHostStopped after stop (the
// caller then retries on the version that replaced this one) and with an OverloadError
// when the queue is full.
func (h *host) submit(c *call) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return ErrHostStopped
	}
	c.enqueued = time.Now()
	h.pending.Add(1)
	select {
	case h.queue <- c:
		return nil
	default:
		h.pending.Add(-1)
		return &OverloadError{Model: h.name, Reason: "queue-full", RetryAfter: 100 * time.Millisecond}
	}
}

// stop refuses new calls and returns once every queued call has been answered: in-flight
// requests finish on the version they started on.
func (h *host) stop() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.queue)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *host) finish(c *call, err error) {
	c.err = err
	h.pending.Add(-1)
	if c.onDone != nil {
		c.onDone(c)
		return
	}
	close(c.done)
}

// run predicts one batch: drop calls whose deadline passed while they queued, wait for
// a CPU slot at the model's priority, predict once for all rows, hand each call its rows.
func (h *host) run(batch []*call, rows int) {
	live := batch[:0]
	var latest time.Time
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			rows -= c.rows
			h.met.expired.Inc()
			h.finish(c, fmt.Errorf("%w: expired after %v in the queue", ErrDeadline, time.Since(c.enqueued).Round(time.Microsecond)))
			continue
		}
		if d, ok := c.ctx.Deadline(); !ok {
			latest = time.Now().Add(time.Minute)
		} else if d.After(latest) {
			latest = d
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	tAcquire := time.Now()
	// The common case, no fault and a free slot, needs no context (and no timer).
	if h.fault.Load() != nil || !h.sched.tryAcquire(h.prio) {
		ctx, cancel := context.WithDeadline(context.Background(), latest)
		defer cancel()
		if err := h.injected(ctx); err != nil {
			for _, c := range live {
				h.finish(c, err)
			}
			return
		}
		tAcquire = time.Now()
		h.inAcquire.Add(1)
		err := h.sched.acquire(ctx, h.prio)
		h.inAcquire.Add(-1)
		if err != nil {
			for _, c := range live {
				h.met.expired.Inc()
				h.finish(c, fmt.Errorf("%w: waiting for a CPU slot", ErrDeadline))
			}
			return
		}
	}
	t0 := time.Now()
	err := h.predict(live, rows)
	h.sched.release()
	if err == nil {
		h.lastOK.Store(time.Now().UnixNano())
		// Only successes teach admission how fast the model is: a stall that ended in an
		// error would make it refuse requests the fallback chain should answer. The time
		// includes the wait for a CPU slot, which is what a request behind this batch waits.
		h.perRequest.observe(time.Since(tAcquire).Seconds()/float64(len(live)), time.Now())
	}
	h.met.batchRows.Observe(float64(rows))
	for _, c := range live {
		h.met.queueWait.Observe(t0.Sub(c.enqueued).Seconds())
		h.finish(c, err)
	}
}

// injected applies a Fault before the batch takes a CPU slot: a model server that has died
// or hung costs its callers time, not this process's cores.
func (h *host) injected(ctx context.Context) error {
	f := h.fault.Load()
	if f == nil {
		return nil
	}
	if f.Down {
		return fmt.Errorf("%s v%d: %w (injected)", h.name, h.version, ErrHostStopped)
	}
	if f.Stall > 0 {
		t := time.NewTimer(f.Stall)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: model stalled (injected)", ErrDeadline)
		}
	}
	return nil
}

func (h *host) predict(live []*call, rows int) error {
	if len(live) == 1 {
		c := live[0]
		c.out = make([]float64, c.rows)
		return h.model.Predict(ml.Batch{Schema: h.schema, X: c.x}, c.out)
	}
	x := make([]float64, 0, rows*h.k)
	for _, c := range live {
		x = append(x, c.x...)
	}
	out := make([]float64, rows)
	if err := h.model.Predict(ml.Batch{Schema: h.schema, X: x}, out); err != nil {
		return err
	}
	off := 0
	for _, c := range live {
		c.out = out[off : off+c.rows : off+c.rows]
		off += c.rows
	}
	return nil
}
