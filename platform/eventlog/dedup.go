package eventlog

import "sync"

// Dedup remembers the ids of the most recent events applied, so that a redelivered event is
// applied once. It lives in memory: it protects a handler against redelivery within one
// process. To survive a crash, keep the applied ids where the effects are kept, in the same
// write (a Redis hash field, a database row), and use this only as a fast path.
type Dedup struct {
	mu    sync.Mutex
	seen  map[string]struct{}
	ring  []string
	next  int
	limit int
}

// NewDedup remembers up to capacity ids; the oldest are forgotten first. The capacity must
// exceed the number of events that can be redelivered at once (MaxAckPending).
func NewDedup(capacity int) *Dedup {
	if capacity < 1 {
		capacity = 1
	}
	return &Dedup{seen: make(map[string]struct{}, capacity), ring: make([]string, capacity), limit: capacity}
}

// Apply runs apply unless id was applied before, and remembers id if apply succeeds. It
// reports whether apply ran. Calls for the same id are serialised.
func (d *Dedup) Apply(id string, apply func() error) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[id]; ok {
		return false, nil
	}
	if err := apply(); err != nil {
		return true, err
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.seen, old)
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % d.limit
	d.seen[id] = struct{}{}
	return true, nil
}

// Len is how many ids are remembered.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
