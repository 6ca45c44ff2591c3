package eventlog

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Position says where in a stream reading starts.
type Position struct {
	seq  uint64
	time time.Time
	last bool
}

// FromBeginning starts at the oldest stored event.
func FromBeginning() Position { return Position{} }

// FromSequence starts at the event with this stream sequence (the first is 1).
func FromSequence(seq uint64) Position { return Position{seq: seq} }

// FromTime starts at the first event the log stored at or after t. This is log time, not
// event time: to rebuild state as of an event time, replay from a little earlier and filter
// on Message.Time.
func FromTime(t time.Time) Position { return Position{time: t} }

// NewOnly skips everything already stored and starts with the next event published.
func NewOnly() Position { return Position{last: true} }

func (p Position) String() string {
	switch {
	case p.last:
		return "new events only"
	case p.seq > 0:
		return fmt.Sprintf("sequence %d", p.seq)
	case !p.time.IsZero():
		return "time " + p.time.UTC().Format(time.RFC3339Nano)
	}
	return "the beginning"
}

func (p Position) apply(c *jetstream.ConsumerConfig) {
	switch {
	case p.last:
		c.DeliverPolicy = jetstream.DeliverNewPolicy
	case p.seq > 0:
		c.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		c.OptStartSeq = p.seq
	case !p.time.IsZero():
		c.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := p.time
		c.OptStartTime = &t
	default:
		c.DeliverPolicy = jetstream.DeliverAllPolicy
	}
}
