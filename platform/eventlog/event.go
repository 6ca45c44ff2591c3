package eventlog

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names the log sets on every message, beside JetStream's own Nats-Msg-Id.
const (
	// HeaderEventTime carries the event time (when it happened in the world), as opposed to
	// the time the log stored it.
	HeaderEventTime = "Casebook-Event-Time"
	// Dead-letter headers say where a poison message came from and why it was parked.
	HeaderDLQReason     = "Casebook-Dlq-Reason"
	HeaderDLQEventID    = "Casebook-Dlq-Event-Id"
	HeaderDLQStream     = "Casebook-Dlq-Stream"
	HeaderDLQSubject    = "Casebook-Dlq-Subject"
	HeaderDLQSequence   = "Casebook-Dlq-Sequence"
	HeaderDLQDeliveries = "Casebook-Dlq-Deliveries"
	HeaderDLQConsumer   = "Casebook-Dlq-Consumer"
)

// Event is one immutable fact appended to the log.
type Event struct {
	// ID identifies the event for deduplication: two publishes with the same ID inside the
	// stream's duplicates window are stored once. Required.
	ID string
	// Subject routes the event to a stream, for example "tx.created.eu".
	Subject string
	// Time is the event time. Zero means "now" at publish.
	Time time.Time
	// Data is the payload; the log does not interpret it.
	Data []byte
	// Header holds extra metadata; keys starting with "Nats-" and "Casebook-" are reserved.
	Header map[string]string
}

func (e Event) validate() error {
	if e.ID == "" {
		return fmt.Errorf("%w: event on subject %q has no ID; the ID is what makes a retried publish safe", ErrInvalidEvent, e.Subject)
	}
	if e.Subject == "" {
		return fmt.Errorf("%w: event %q has no subject", ErrInvalidEvent, e.ID)
	}
	return nil
}

func (e Event) msg(now time.Time) *nats.Msg {
	return e.msgAt(now.UTC().Format(time.RFC3339Nano))
}

// msgAt is msg with the event time of an event without one already formatted (a batch
// formats it once). The header is sized once, and its values share one backing array: on
// the scorer's path this is one message per decision.
func (e Event) msgAt(now string) *nats.Msg {
	h := make(nats.Header, len(e.Header)+2)
	vals := make([]string, 0, len(e.Header)+2)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for k, v := range e.Header {
		set(k, v)
	}
	if e.Time.IsZero() {
		set(HeaderEventTime, now)
	} else {
		set(HeaderEventTime, e.Time.UTC().Format(time.RFC3339Nano))
	}
	set(jetstream.MsgIDHeader, e.ID)
	return &nats.Msg{Subject: e.Subject, Data: e.Data, Header: h}
}

// Message is an event read back from the log, with where and when the log stored it.
type Message struct {
	Event
	Stream     string
	Sequence   uint64    // position in the stream, starting at 1
	Stored     time.Time // when the server appended it (log time, not event time)
	Deliveries uint64    // 1 on first delivery; more after redeliveries
}

func messageFrom(m jetstream.Msg) (*Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("read message metadata: %w", err)
	}
	h := m.Headers()
	ev := Event{
		ID:      h.Get(jetstream.MsgIDHeader),
		Subject: m.Subject(),
		Data:    m.Data(),
	}
	if ts := h.Get(HeaderEventTime); ts != "" {
		ev.Time, _ = parseEventTime(ts)
	}
	for k, vs := range h {
		if k == jetstream.MsgIDHeader || k == HeaderEventTime || len(vs) == 0 {
			continue
		}
		if ev.Header == nil {
			ev.Header = make(map[string]string, len(h))
		}
		ev.Header[k] = vs[0]
	}
	return &Message{
		Event:      ev,
		Stream:     md.Stream,
		Sequence:   md.Sequence.Stream,
		Stored:     md.Timestamp,
		Deliveries: md.NumDelivered,
	}, nil
}

func parseEventTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
