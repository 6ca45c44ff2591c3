package natstarget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/loadgen"
)

// Pending limits of the answer subscription. Answers are handled by one goroutine that
// only looks up a map entry, so it keeps up with far more than the generator sends; the
// buffer absorbs a scheduling hiccup instead of dropping answers (which would turn into
// timeouts that blame the system under test).
const (
	awaitPendingMsgs  = 1 << 20
	awaitPendingBytes = 1 << 30
)

// Errors of await mode. Each is wrapped in an *Error whose Kind names it.
var (
	// ErrNoAnswer means the request was stored but no answer event arrived before its
	// timeout.
	ErrNoAnswer = errors.New("no answer event before the timeout")
	// ErrDuplicateID means a request awaiting an answer carried the id of another request
	// still in flight: answers could not be told apart.
	ErrDuplicateID = errors.New("request id already awaiting an answer")
	// ErrNoID means a request awaiting an answer had no id to correlate the answer by.
	ErrNoID = errors.New("request awaiting an answer has no id")
)

// Error kinds of await mode.
const (
	KindNoAnswer    = "timeout: no answer event"
	KindDuplicateID = "await: duplicate id in flight"
	KindNoID        = "await: request without id"
)

// awaiter matches answer events to the requests waiting for them. Requests register a
// waiter under their id before they publish, so an answer that overtakes the publish ack
// is not lost.
type awaiter struct {
	sub       *nats.Subscription
	subject   string
	prefix    string
	correlate func(*nats.Msg) (string, bool)
	pending   sync.Map // request id → chan struct{} (buffered, 1)

	matched, unmatched, uncorrelated atomic.Int64
}

func newAwaiter(nc *nats.Conn, cfg Config) (*awaiter, error) {
	a := &awaiter{subject: cfg.AwaitSubject, prefix: cfg.AwaitPrefix, correlate: cfg.Correlate}
	if a.correlate == nil {
		a.correlate = a.byMsgID
	}
	sub, err := nc.Subscribe(cfg.AwaitSubject, a.answer)
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe to answers on %q: %w", loadgen.ErrInvalidConfig, cfg.AwaitSubject, err)
	}
	if err := sub.SetPendingLimits(awaitPendingMsgs, awaitPendingBytes); err != nil {
		return nil, fmt.Errorf("answer subscription limits: %w", err)
	}
	// The subscription must be live at the server before the first request goes out.
	if err := nc.FlushTimeout(cfg.ConnectTimeout); err != nil {
		return nil, fmt.Errorf("%w: subscribe to answers on %q: %w", loadgen.ErrUnreachable, cfg.AwaitSubject, err)
	}
	a.sub = sub
	return a, nil
}

// byMsgID is the default correlation: the answer's Nats-Msg-Id without the prefix.
func (a *awaiter) byMsgID(m *nats.Msg) (string, bool) {
	id := m.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		return "", false
	}
	if a.prefix == "" {
		return id, true
	}
	if len(id) <= len(a.prefix) || id[:len(a.prefix)] != a.prefix {
		return "", false
	}
	return id[len(a.prefix):], true
}

// answer runs on the subscription's goroutine for every answer event.
func (a *awaiter) answer(m *nats.Msg) {
	id, ok := a.correlate(m)
	if !ok {
		a.uncorrelated.Add(1)
		return
	}
	w, ok := a.pending.LoadAndDelete(id)
	if !ok {
		a.unmatched.Add(1)
		return
	}
	a.matched.Add(1)
	w.(chan struct{}) <- struct{}{}
}

// do publishes msg and waits for its answer, or only for the ack when req.NoAnswer.
func (a *awaiter) do(ctx context.Context, req loadgen.Request, msg *nats.Msg, publish func(context.Context, *nats.Msg) error) error {
	if req.NoAnswer {
		return publish(ctx, msg)
	}
	if req.ID == "" {
		return &Error{err: ErrNoID}
	}
	w := make(chan struct{}, 1)
	if _, dup := a.pending.LoadOrStore(req.ID, w); dup {
		return &Error{err: fmt.Errorf("%w: %q", ErrDuplicateID, req.ID)}
	}
	if err := publish(ctx, msg); err != nil {
		a.pending.CompareAndDelete(req.ID, w)
		return err
	}
	return a.wait(ctx, req.ID, w)
}

// wait waits for the answer to the request registered as id with waiter w.
func (a *awaiter) wait(ctx context.Context, id string, w chan struct{}) error {
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		// The answer may have won the race with the deadline; either way the entry goes.
		if !a.pending.CompareAndDelete(id, w) {
			return nil
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Error{err: fmt.Errorf("%w: %s", ErrNoAnswer, id)}
		}
		return &Error{err: ctx.Err()}
	}
}

func (a *awaiter) stats() AwaitStats {
	var dropped int64
	if n, err := a.sub.Dropped(); err == nil {
		dropped = int64(n)
	}
	return AwaitStats{
		Matched:      a.matched.Load(),
		Unmatched:    a.unmatched.Load(),
		Uncorrelated: a.uncorrelated.Load(),
		Dropped:      dropped,
	}
}

func (a *awaiter) notes() []string {
	s := a.stats()
	how := "the answer's Nats-Msg-Id"
	if a.prefix != "" {
		how = fmt.Sprintf("the answer's Nats-Msg-Id minus %q", a.prefix)
	}
	n := []string{
		fmt.Sprintf("await mode: latency runs from the intended send time to the answer event on %s (correlated by %s); requests marked as getting no answer complete at their JetStream ack", a.subject, how),
		fmt.Sprintf("answers: %d matched a waiting request, %d matched none (unknown id, answered twice, or after the request timed out), %d had no correlation id, %d dropped by the client (slow consumer)",
			s.Matched, s.Unmatched, s.Uncorrelated, s.Dropped),
	}
	return n
}

// start registers req's waiter and publishes msg asynchronously, without waiting; the
// returned function waits for the ack and, unless req.NoAnswer, the answer. The pacer calls
// start in schedule order, so the stream stores requests in that order.
func (a *awaiter) start(req loadgen.Request, msg *nats.Msg, js jetstream.JetStream) func(context.Context) error {
	fail := func(err error) func(context.Context) error {
		return func(context.Context) error { return &Error{err: err} }
	}
	var w chan struct{}
	if !req.NoAnswer {
		if req.ID == "" {
			return fail(ErrNoID)
		}
		w = make(chan struct{}, 1)
		if _, dup := a.pending.LoadOrStore(req.ID, w); dup {
			return fail(fmt.Errorf("%w: %q", ErrDuplicateID, req.ID))
		}
	}
	fut, err := js.PublishMsgAsync(msg)
	if err != nil {
		if w != nil {
			a.pending.CompareAndDelete(req.ID, w)
		}
		return fail(err)
	}
	return func(ctx context.Context) error {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			if w != nil {
				a.pending.CompareAndDelete(req.ID, w)
			}
			return &Error{err: err}
		case <-ctx.Done():
			if w != nil {
				a.pending.CompareAndDelete(req.ID, w)
			}
			return &Error{err: ctx.Err()}
		}
		if w == nil {
			return nil
		}
		return a.wait(ctx, req.ID, w)
	}
}
