package serving

import (
	"fmt"
	"slices"
	"time"
)

// BatchConfig is a model's dynamic batching and bulkhead: its queue, its workers and how
// each worker gathers requests into one Predict call.
type BatchConfig struct {
	// MaxBatch is the most rows one Predict call takes; 1 turns batching off. A single
	// request with more rows than this runs alone.
	MaxBatch int
	// MaxQueueDelay is how long a worker may hold the first request of a batch waiting for
	// more (Triton's max_queue_delay_microseconds). 0 batches only what is already queued.
	MaxQueueDelay time.Duration
	// PreferredSizes dispatch a batch at once when it reaches one of these row counts.
	PreferredSizes []int
	// QueueSize bounds the requests waiting for this model; a full queue refuses with 503.
	QueueSize int
	// Workers is how many batches of this model may run at once.
	Workers int
}

// DefaultBatchConfig batches what is queued, up to 64 rows, without waiting.
func DefaultBatchConfig() BatchConfig {
	return BatchConfig{MaxBatch: 64, QueueSize: 1024, Workers: 2}
}

// Validate reports a setting that cannot work.
func (c BatchConfig) Validate() error {
	switch {
	case c.MaxBatch < 1:
		return fmt.Errorf("%w: MaxBatch = %d, want ≥ 1", ErrInvalidConfig, c.MaxBatch)
	case c.MaxQueueDelay < 0 || c.MaxQueueDelay > time.Second:
		return fmt.Errorf("%w: MaxQueueDelay = %v, want in [0, 1s]", ErrInvalidConfig, c.MaxQueueDelay)
	case c.QueueSize < 1:
		return fmt.Errorf("%w: QueueSize = %d, want ≥ 1", ErrInvalidConfig, c.QueueSize)
	case c.Workers < 1:
		return fmt.Errorf("%w: Workers = %d, want ≥ 1", ErrInvalidConfig, c.Workers)
	}
	for _, p := range c.PreferredSizes {
		if p < 1 || p > c.MaxBatch {
			return fmt.Errorf("%w: preferred size %d outside [1, MaxBatch=%d]", ErrInvalidConfig, p, c.MaxBatch)
		}
	}
	return nil
}

// worker is one of a host's batch loops: take the first waiting call, gather more until
// the batch is full, reaches a preferred size with nothing else queued, or the first call
// has waited MaxQueueDelay; then run it.
func (h *host) worker() {
	defer h.wg.Done()
	var (
		batch []*call
		carry *call
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	for {
		first := carry
		carry = nil
		if first == nil {
			c, ok := <-h.queue
			if !ok {
				return
			}
			first = c
		}
		batch = append(batch[:0], first)
		rows := first.rows
		closed := false
		deadline := first.enqueued.Add(h.cfg.MaxQueueDelay)
	gather:
		for rows < h.cfg.MaxBatch {
			if h.preferred(rows) && len(h.queue) == 0 {
				break
			}
			var (
				c  *call
				ok bool
			)
			select {
			case c, ok = <-h.queue:
			default:
				wait := time.Until(deadline)
				if wait <= 0 {
					break gather
				}
				timer.Reset(wait)
				select {
				case c, ok = <-h.queue:
					if !timer.Stop() {
						<-timer.C
					}
				case <-timer.C:
					break gather
				}
			}
			if !ok {
				closed = true
				break
			}
			if rows+c.rows > h.cfg.MaxBatch {
				carry = c
				break
			}
			batch = append(batch, c)
			rows += c.rows
		}
		h.run(batch, rows)
		clear(batch)
		if closed && carry == nil {
			return
		}
	}
}

func (h *host) preferred(rows int) bool {
	return slices.Contains(h.cfg.PreferredSizes, rows)
}
