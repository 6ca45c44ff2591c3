package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// awaiters let a caller wait for the scorer's decision on one transaction, by its event
// id: the HTTP endpoint publishes a transaction to the log like any producer and waits
// here, so a transaction scored over HTTP is decided by the same ordered scorer, once,
// with the same features, model and rules. The scorer looks at them once per run of
// decisions (an atomic load) and takes the lock only when someone waits.
type awaiters struct {
	waiting atomic.Int64
	mu      sync.Mutex
	by      map[string][]chan awaited
}

// awaited is what a waiter learns: the decision made now (ok), or the TxStream sequence of
// the copy of its transaction whose decision is already in the log (a retry, or a
// decision found in the log after a restart).
type awaited struct {
	d   decision.Decision
	ok  bool
	seq uint64
}

// add registers a waiter for the transaction with event id; call remove when done.
func (a *awaiters) add(id string) chan awaited {
	ch := make(chan awaited, 1)
	a.mu.Lock()
	if a.by == nil {
		a.by = map[string][]chan awaited{}
	}
	a.by[id] = append(a.by[id], ch)
	a.mu.Unlock()
	a.waiting.Add(1)
	return ch
}

func (a *awaiters) remove(id string, ch chan awaited) {
	a.mu.Lock()
	defer a.mu.Unlock()
	chs := a.by[id]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			a.waiting.Add(-1)
			break
		}
	}
	if len(chs) == 0 {
		delete(a.by, id)
	} else {
		a.by[id] = chs
	}
}

// decided tells the waiters of items their decisions ds, once these are in the log.
func (a *awaiters) decided(items []item, ds []decision.Decision) {
	if a.waiting.Load() == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, it := range items {
		for _, ch := range a.by[it.id] {
			select {
			case ch <- awaited{d: ds[i], ok: true}:
			default:
			}
		}
	}
}

// decidedAt tells the waiters of transaction id that its decision is the one in the log on
// the copy at TxStream sequence seq.
func (a *awaiters) decidedAt(id string, seq uint64) {
	if a.waiting.Load() == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ch := range a.by[id] {
		select {
		case ch <- awaited{seq: seq}:
		default:
		}
	}
}

// findDecision reads back from DecisionStream the decision on the transaction with event id
// txID: one request on its own subject (eventlog.LastBySubject), whatever the stream's
// length. found is false if the log holds no such decision (yet). It is for the rare repeat
// (an HTTP caller scoring a transaction id twice), not the hot path, and touches nothing of
// the scorer's state.
func findDecision(ctx context.Context, log *eventlog.Log, txID string) (d decision.Decision, found bool, err error) {
	m, err := log.LastBySubject(ctx, DecisionStream, events.DecisionSubject(txID))
	if err != nil || m == nil {
		return d, false, err
	}
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return d, false, fmt.Errorf("decision %s at %d: %w", m.ID, m.Sequence, err)
	}
	return d, true, nil
}
