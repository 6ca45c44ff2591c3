package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReplayStats says what a replay read.
type ReplayStats struct {
	Events   int
	FirstSeq uint64
	LastSeq  uint64
}

// Replay reads a stream from a position to its head as it was when the replay started, and
// applies h to each event in order. It is for backfills and for rebuilding state: it keeps no
// position on the server and returns when it has caught up, instead of waiting for new
// events. A handler error stops the replay and is returned with the failing sequence.
func (l *Log) Replay(ctx context.Context, stream string, from Position, subjects []string, h Handler) (ReplayStats, error) {
	var stats ReplayStats
	for _, s := range subjects {
		if err := validSubject(s); err != nil {
			return stats, fmt.Errorf("%w: replay filter: %w", ErrInvalidConfig, err)
		}
	}
	cctx, cancel := l.withTimeout(ctx)
	s, err := l.js.Stream(cctx, stream)
	if err != nil {
		cancel()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return stats, fmt.Errorf("replay %q: %w", stream, ErrStreamNotFound)
		}
		return stats, fmt.Errorf("replay %q: %w", stream, err)
	}
	head := s.CachedInfo().State.LastSeq
	jc := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	}
	ConsumerConfig{Subjects: subjects, Start: from}.applyFilter(&jc)
	cons, err := s.CreateConsumer(cctx, jc)
	if err != nil {
		cancel()
		return stats, fmt.Errorf("replay %q from %v: %w", stream, from, err)
	}
	info, err := cons.Info(cctx)
	cancel()
	if err != nil {
		return stats, fmt.Errorf("replay %q: consumer info: %w", stream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.RequestTimeout)
		defer cancel()
		_ = s.DeleteConsumer(dctx, info.Name)
	}()
	if info.NumPending == 0 || head == 0 {
		return stats, nil
	}

	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return stats, fmt.Errorf("replay %q: %w", stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		jm, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return stats, fmt.Errorf("replay %q: %w", stream, ctx.Err())
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				continue // the iterator pulls again; see Consume
			}
			return stats, fmt.Errorf("replay %q: %w", stream, err)
		}
		m, err := messageFrom(jm)
		if err != nil {
			return stats, fmt.Errorf("replay %q: %w", stream, err)
		}
		if m.Sequence > head {
			// Published after the replay started: the caller's live consumer will see it.
			return stats, nil
		}
		if err := safeHandle(ctx, h, m); err != nil {
			return stats, fmt.Errorf("replay %q at sequence %d: %w", stream, m.Sequence, err)
		}
		if stats.Events == 0 {
			stats.FirstSeq = m.Sequence
		}
		stats.Events++
		stats.LastSeq = m.Sequence
		md, err := jm.Metadata()
		if err != nil {
			return stats, fmt.Errorf("replay %q: %w", stream, err)
		}
		if md.NumPending == 0 || m.Sequence == head {
			return stats, nil
		}
	}
}
