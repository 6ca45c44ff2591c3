package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

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

// findDecision reads back from DecisionStream the decision on the transaction at TxStream
// sequence txSeq (header HeaderTxSeq), newest first: the tail of the stream, widened four
// times at each step until it is found or the whole stream was read. found is false if the
// log holds no such decision (yet). It is for the rare repeat (an HTTP caller scoring a
// transaction id twice), not the hot path, and touches nothing of the scorer's state.
func findDecision(ctx context.Context, log *eventlog.Log, txSeq uint64) (d decision.Decision, found bool, err error) {
	info, err := log.Stream(ctx, DecisionStream)
	if err != nil || info.Messages == 0 {
		return d, false, err
	}
	want := strconv.FormatUint(txSeq, 10)
	hi := info.LastSeq
	for span := uint64(256); ; span *= 4 {
		lo := info.FirstSeq
		if hi+1-lo > span {
			lo = hi + 1 - span
		}
		_, err := log.Replay(ctx, DecisionStream, eventlog.FromSequence(lo), nil, func(_ context.Context, m *eventlog.Message) error {
			if found || m.Sequence > hi || m.Header[HeaderTxSeq] != want {
				return nil
			}
			if err := json.Unmarshal(m.Data, &d); err != nil {
				return fmt.Errorf("decision at %d: %w", m.Sequence, err)
			}
			found = true
			return nil
		})
		if err != nil || found || lo == info.FirstSeq {
			return d, found, err
		}
		hi = lo - 1
	}
}
