package features

import (
	"context"
	"errors"
	"sync/atomic"
)

// Switchable wraps an online store that an operator (a scenario, a test) can take down:
// while Down is set, every call fails with an *UnavailableError, as the Redis store's calls
// do when Redis does not answer, so callers exercise their degraded path without a real
// outage. It does not pass WriteRead through, so a write-then-read fails with it too.
type Switchable struct {
	OnlineStore
	Down atomic.Bool
}

var _ OnlineStore = (*Switchable)(nil)

var errSwitchedOff = errors.New("switched off (a simulated outage)")

func (s *Switchable) err(op string) error {
	return &UnavailableError{Store: "switchable", Op: op, Err: errSwitchedOff}
}

// Write implements OnlineStore.
func (s *Switchable) Write(ctx context.Context, view string, rows []Row) (WriteStats, error) {
	if s.Down.Load() {
		return WriteStats{}, s.err("write")
	}
	return s.OnlineStore.Write(ctx, view, rows)
}

// Delete implements OnlineStore.
func (s *Switchable) Delete(ctx context.Context, view string, entities []string) (int, error) {
	if s.Down.Load() {
		return 0, s.err("delete")
	}
	return s.OnlineStore.Delete(ctx, view, entities)
}

// Read implements OnlineStore.
func (s *Switchable) Read(ctx context.Context, req ReadRequest) (*ReadResult, error) {
	if s.Down.Load() {
		return nil, s.err("read")
	}
	return s.OnlineStore.Read(ctx, req)
}
