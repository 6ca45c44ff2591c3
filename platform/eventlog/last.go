package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LastBySubject returns the newest message stored on subject (a literal subject, no
// wildcards) in stream, or nil if it holds none. It is one request answered from the
// server's per-subject index, whatever the stream's length: a stream that gives each key
// its own subject (one decision per transaction, say) can be asked "what does the log hold
// for this key" without a scan. The index costs the server memory per distinct subject
// (docs/benchmarks.md measures it for the fraud decisions).
func (l *Log) LastBySubject(ctx context.Context, stream, subject string) (*Message, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	var s jetstream.Stream
	if h, ok := l.streams.Load(stream); ok {
		s = h.(jetstream.Stream)
	} else {
		var err error
		if s, err = l.js.Stream(ctx, stream); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				err = ErrStreamNotFound
			}
			return nil, fmt.Errorf("last message on %q: stream %q: %w", subject, stream, err)
		}
		l.streams.Store(stream, s)
	}
	raw, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		l.streams.Delete(stream)
		return nil, fmt.Errorf("last message on %q: stream %q: %w", subject, stream, ErrStreamNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("last message on %q in %q: %w", subject, stream, err)
	}
	ev := Event{ID: raw.Header.Get(jetstream.MsgIDHeader), Subject: raw.Subject, Data: raw.Data}
	for k, vs := range raw.Header {
		if k == jetstream.MsgIDHeader || len(vs) == 0 {
			continue
		}
		if k == HeaderEventTime {
			ev.Time, _ = parseEventTime(vs[0])
			continue
		}
		if ev.Header == nil {
			ev.Header = make(map[string]string, len(raw.Header))
		}
		ev.Header[k] = vs[0]
	}
	return &Message{Event: ev, Stream: stream, Sequence: raw.Sequence, Stored: raw.Time}, nil
}
