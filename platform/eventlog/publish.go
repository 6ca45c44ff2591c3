package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Ack is the server's receipt for one published event.
type Ack struct {
	Stream   string
	Sequence uint64
	// Duplicate is true when the event id was already stored inside the duplicates window:
	// nothing new was written, and Sequence is the original event's position.
	Duplicate bool
}

// Publish appends one event and waits for the server to store it. Retrying a failed
// Publish with the same event is safe: the id makes the second one a no-op.
func (l *Log) Publish(ctx context.Context, ev Event) (Ack, error) {
	if err := ev.validate(); err != nil {
		return Ack{}, err
	}
	m := ev.msg(time.Now())
	if err := l.checkSize(m); err != nil {
		return Ack{}, err
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	pa, err := l.js.PublishMsg(ctx, m)
	if err != nil {
		return Ack{}, l.publishError(ev, err)
	}
	return Ack{Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}, nil
}

// BatchError reports which events of a batch were not stored. Events not listed were
// stored (or were duplicates). Retrying the whole batch is safe because ids deduplicate.
type BatchError struct {
	Failed map[int]error // by index in the batch
}

func (e *BatchError) Error() string {
	var first error
	firstIdx := -1
	for i, err := range e.Failed {
		if firstIdx < 0 || i < firstIdx {
			firstIdx, first = i, err
		}
	}
	return fmt.Sprintf("publish batch: %d events not stored (first, #%d: %v)", len(e.Failed), firstIdx, first)
}

// Unwrap exposes every failure to errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		errs = append(errs, err)
	}
	return errs
}

// PublishBatch appends events asynchronously, keeping many in flight, and waits until the
// server has acknowledged every one. It returns an Ack per event (zero for failed ones) and a
// *BatchError naming the failures. Events are validated first: an invalid event fails the
// whole call before anything is sent.
func (l *Log) PublishBatch(ctx context.Context, evs []Event) ([]Ack, error) {
	msgs, err := l.messages(evs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	acks := make([]Ack, len(evs))
	failed := map[int]error{}
	// Keep at most MaxAsyncPending in flight: past that the client stalls and then errors.
	for lo := 0; lo < len(msgs); lo += l.cfg.MaxAsyncPending {
		hi := min(lo+l.cfg.MaxAsyncPending, len(msgs))
		p := l.send(evs[lo:hi], msgs[lo:hi])
		p.wait(ctx, acks[lo:hi], func(i int, err error) { failed[lo+i] = err })
	}
	if len(failed) > 0 {
		return acks, &BatchError{Failed: failed}
	}
	return acks, nil
}

// Pending is a batch PublishAsync sent whose acknowledgements have not been collected.
type Pending struct {
	l       *Log
	evs     []Event
	futures []jetstream.PubAckFuture
	early   map[int]error // failures at send time
}

// PublishAsync validates evs and sends them without waiting for the server: Wait collects
// the acknowledgements. It lets a caller overlap the round trip with other work. Events
// leave in order, and before those of any later call on this Log. A batch of more than
// Config.MaxAsyncPending events is refused (the client would stall): use PublishBatch.
func (l *Log) PublishAsync(evs []Event) (*Pending, error) {
	if len(evs) > l.cfg.MaxAsyncPending {
		return nil, fmt.Errorf("%w: publish async: %d events, more than MaxAsyncPending (%d)", ErrInvalidEvent, len(evs), l.cfg.MaxAsyncPending)
	}
	msgs, err := l.messages(evs)
	if err != nil {
		return nil, err
	}
	return l.send(evs, msgs), nil
}

// Wait returns what PublishBatch returns for the batch: an Ack per event and a *BatchError
// naming the events not stored. It waits at most the Log's operation timeout. Call it once.
func (p *Pending) Wait(ctx context.Context) ([]Ack, error) {
	ctx, cancel := p.l.withTimeout(ctx)
	defer cancel()
	acks := make([]Ack, len(p.evs))
	failed := map[int]error{}
	p.wait(ctx, acks, func(i int, err error) { failed[i] = err })
	if len(failed) > 0 {
		return acks, &BatchError{Failed: failed}
	}
	return acks, nil
}

// messages validates evs and turns them into NATS messages.
func (l *Log) messages(evs []Event) ([]*nats.Msg, error) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msgs := make([]*nats.Msg, len(evs))
	for i, ev := range evs {
		if err := ev.validate(); err != nil {
			return nil, fmt.Errorf("publish batch, event #%d: %w", i, err)
		}
		msgs[i] = ev.msgAt(now)
		if err := l.checkSize(msgs[i]); err != nil {
			return nil, fmt.Errorf("publish batch, event #%d: %w", i, err)
		}
	}
	return msgs, nil
}

// send publishes msgs asynchronously.
func (l *Log) send(evs []Event, msgs []*nats.Msg) *Pending {
	p := &Pending{l: l, evs: evs, futures: make([]jetstream.PubAckFuture, len(msgs))}
	for i, m := range msgs {
		f, err := l.js.PublishMsgAsync(m)
		if err != nil {
			if p.early == nil {
				p.early = map[int]error{}
			}
			p.early[i] = l.publishError(evs[i], err)
			continue
		}
		p.futures[i] = f
	}
	return p
}

// wait collects the acknowledgements into acks, reporting failures to fail.
func (p *Pending) wait(ctx context.Context, acks []Ack, fail func(int, error)) {
	for i, f := range p.futures {
		if f == nil {
			fail(i, p.early[i])
			continue
		}
		select {
		case pa := <-f.Ok():
			acks[i] = Ack{Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}
		case err := <-f.Err():
			fail(i, p.l.publishError(p.evs[i], err))
		case <-ctx.Done():
			fail(i, fmt.Errorf("publish %q: waiting for acknowledgement: %w", p.evs[i].ID, ctx.Err()))
		}
	}
}

// checkSize refuses a message the server would refuse, before sending it.
func (l *Log) checkSize(m *nats.Msg) error {
	size := len(m.Data)
	for k, vs := range m.Header {
		for _, v := range vs {
			size += len(k) + len(v) + 4 // "k: v\r\n"
		}
	}
	size += len("NATS/1.0\r\n\r\n")
	if limit := l.nc.MaxPayload(); limit > 0 && int64(size) > limit {
		return &TooLargeError{Subject: m.Subject, Size: size, Limit: limit, Err: nats.ErrMaxPayload}
	}
	return nil
}

func (l *Log) publishError(ev Event, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum), errors.Is(err, nats.ErrMaxPayload):
		return &TooLargeError{Subject: ev.Subject, Size: len(ev.Data), Err: err}
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("publish %q to %s: no stream captures this subject: %w", ev.ID, ev.Subject, ErrStreamNotFound)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoServers):
		return &UnreachableError{URL: l.url, Err: err}
	case strings.Contains(err.Error(), "maximum payload"):
		return &TooLargeError{Subject: ev.Subject, Size: len(ev.Data), Err: err}
	}
	return fmt.Errorf("publish %q to %s: %w", ev.ID, ev.Subject, err)
}
