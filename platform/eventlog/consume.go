package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler applies one event. Returning nil acks it. Returning an error schedules a
// redelivery after the configured backoff, until the last try, after which the message is
// dead-lettered. Wrap an error with Permanent to dead-letter at once (an event that can
// never succeed, such as one that does not decode). A panic is recovered and treated as an
// error.
type Handler func(ctx context.Context, m *Message) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a handler error as one that retrying cannot fix.
func Permanent(err error) error { return permanentError{err} }

// ConsumerConfig declares a durable pull consumer.
type ConsumerConfig struct {
	// Stream to read from.
	Stream string
	// Durable names the consumer; its position survives restarts. Several Consume calls
	// with the same name share the work; ConsumeOrdered reads a durable alone.
	Durable string
	// Subjects filters the stream; empty reads everything.
	Subjects []string
	// Start applies only when the consumer is first created.
	Start Position
	// MaxDeliver is how many times a message is tried before it is dead-lettered. It counts
	// deliveries that failed and deliveries that were never acked (a crashed consumer).
	MaxDeliver int
	// Backoff is the delay before redelivering after the n-th failure; the last entry
	// repeats. Empty means redeliver at once.
	Backoff []time.Duration
	// AckWait is how long a delivery may stay unacked before the server assumes the
	// consumer died and redelivers.
	AckWait time.Duration
	// DeadLetterSubject receives a message after its last failed try, with headers naming
	// the reason, the source stream and sequence. A stream must capture this subject. Empty
	// means a poison message is terminated and only logged.
	DeadLetterSubject string
	// BatchSize is how many messages are pulled at a time.
	BatchSize int
	// MaxAckPending bounds deliveries in flight without an ack.
	MaxAckPending int
}

// DefaultConsumerConfig fills in the tuning knobs; callers set Stream and Durable.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{
		MaxDeliver:    5,
		Backoff:       []time.Duration{time.Second, 5 * time.Second, 30 * time.Second},
		AckWait:       30 * time.Second,
		BatchSize:     256,
		MaxAckPending: 1024,
	}
}

// Validate names every problem with the config.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("consumer has no stream"))
	}
	if c.Durable == "" {
		errs = append(errs, errors.New("consumer has no durable name"))
	} else if strings.ContainsAny(c.Durable, " \t\r\n.*>/\\") {
		errs = append(errs, fmt.Errorf("durable name %q may not contain whitespace, '.', '*', '>', '/' or '\\'", c.Durable))
	}
	for _, s := range c.Subjects {
		if err := validSubject(s); err != nil {
			errs = append(errs, fmt.Errorf("consumer filter: %w", err))
		}
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("MaxDeliver must be at least 1, got %d", c.MaxDeliver))
	}
	for i, b := range c.Backoff {
		if b < 0 {
			errs = append(errs, fmt.Errorf("entry %d of Backoff is negative: %v", i, b))
		}
	}
	if c.AckWait < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("AckWait must be at least 100ms, got %v", c.AckWait))
	}
	if c.DeadLetterSubject != "" {
		if err := validSubject(c.DeadLetterSubject); err != nil {
			errs = append(errs, fmt.Errorf("dead-letter subject: %w", err))
		} else if strings.ContainsAny(c.DeadLetterSubject, "*>") {
			errs = append(errs, fmt.Errorf("dead-letter subject %q must not contain wildcards", c.DeadLetterSubject))
		}
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("BatchSize must be at least 1, got %d", c.BatchSize))
	}
	if c.MaxAckPending < c.BatchSize {
		errs = append(errs, fmt.Errorf("MaxAckPending (%d) must be at least BatchSize (%d)", c.MaxAckPending, c.BatchSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: consumer %q: %w", ErrInvalidConfig, c.Durable, err)
	}
	return nil
}

func (c ConsumerConfig) backoff(failures uint64) time.Duration {
	if len(c.Backoff) == 0 || failures == 0 {
		return 0
	}
	i := int(min(failures-1, uint64(len(c.Backoff)-1)))
	return c.Backoff[i]
}

func (c ConsumerConfig) jetstream() jetstream.ConsumerConfig {
	jc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		// The server would stop delivering after MaxDeliver tries and tell nobody. We count
		// tries ourselves instead, so the last one can be dead-lettered with its reason.
		MaxDeliver: -1,
	}
	c.applyFilter(&jc)
	return jc
}

// applyFilter sets the subject filter and the start position.
func (c ConsumerConfig) applyFilter(jc *jetstream.ConsumerConfig) {
	switch len(c.Subjects) {
	case 0:
	case 1:
		jc.FilterSubject = c.Subjects[0]
	default:
		jc.FilterSubjects = c.Subjects
	}
	c.Start.apply(jc)
}

// Consume creates or updates the durable consumer and applies every message to h, one at a
// time, until ctx is cancelled (then it returns nil) or the connection fails.
func (l *Log) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cctx, cancel := l.withTimeout(ctx)
	cons, err := l.js.CreateOrUpdateConsumer(cctx, cfg.Stream, cfg.jetstream())
	cancel()
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("consume %s: stream %q: %w", cfg.Durable, cfg.Stream, ErrStreamNotFound)
	}
	if err != nil {
		return fmt.Errorf("consume %s: create consumer on %q: %w", cfg.Durable, cfg.Stream, err)
	}
	// A pull request lives 5 s (nats.go's default is 30 s, with heartbeats every 15 s): if
	// a request or its heartbeats are lost, as can happen on a starved machine, the consumer
	// notices and pulls again within seconds instead of half a minute.
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.BatchSize), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()

	logger := l.logger.With("stream", cfg.Stream, "consumer", cfg.Durable)
	for {
		jm, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				// The server's idle heartbeats did not arrive in time (a busy machine, a
				// slow handler, a network hiccup). The iterator re-issues its pull request
				// and goes on; nothing was lost, so neither is the consumer.
				logger.Warn("missed heartbeats from the server; pulling again")
				continue
			}
			if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return &UnreachableError{URL: l.url, Err: err}
			}
			return fmt.Errorf("consume %s: %w", cfg.Durable, err)
		}
		l.deliver(ctx, cfg, jm, h, logger)
	}
}

// deliver runs the handler on one message and settles it: ack, redeliver later, or dead-letter.
func (l *Log) deliver(ctx context.Context, cfg ConsumerConfig, jm jetstream.Msg, h Handler, logger *slog.Logger) {
	m, err := messageFrom(jm)
	if err != nil {
		l.deadLetter(ctx, cfg, jm, nil, Permanent(err), logger)
		return
	}
	if m.Deliveries > uint64(cfg.MaxDeliver) {
		// Earlier tries were never acked: the consumer crashed or hung on this message.
		l.deadLetter(ctx, cfg, jm, m, fmt.Errorf("not acknowledged after %d deliveries (the handler crashed or exceeded AckWait)", cfg.MaxDeliver), logger)
		return
	}
	herr := safeHandle(ctx, h, m)
	if herr == nil {
		if err := jm.Ack(); err != nil {
			logger.Warn("ack failed; the event will be redelivered", "seq", m.Sequence, "id", m.ID, "err", err)
		}
		return
	}
	var perm permanentError
	if errors.As(herr, &perm) || m.Deliveries >= uint64(cfg.MaxDeliver) {
		l.deadLetter(ctx, cfg, jm, m, herr, logger)
		return
	}
	delay := cfg.backoff(m.Deliveries)
	logger.Warn("handler failed; will redeliver", "seq", m.Sequence, "id", m.ID, "try", m.Deliveries, "of", cfg.MaxDeliver, "after", delay, "err", herr)
	if err := jm.NakWithDelay(delay); err != nil {
		logger.Warn("nak failed; the event will be redelivered after AckWait", "seq", m.Sequence, "err", err)
	}
}

func safeHandle(ctx context.Context, h Handler, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return h(ctx, m)
}

// deadLetter parks a message on the dead-letter subject with the reason, then terminates
// it. If parking fails, the message is left for redelivery rather than dropped.
func (l *Log) deadLetter(ctx context.Context, cfg ConsumerConfig, jm jetstream.Msg, m *Message, reason error, logger *slog.Logger) {
	md, _ := jm.Metadata()
	var seq, deliveries uint64
	if md != nil {
		seq, deliveries = md.Sequence.Stream, md.NumDelivered
	}
	if cfg.DeadLetterSubject == "" {
		logger.Error("poison message terminated (no dead-letter subject configured)", "seq", seq, "reason", reason)
		_ = jm.TermWithReason(truncate(reason.Error(), 256))
		return
	}
	if err := l.parkDeadLetter(ctx, cfg, jm, seq, deliveries, reason); err != nil {
		logger.Error("could not dead-letter; leaving the message for redelivery", "seq", seq, "subject", cfg.DeadLetterSubject, "err", err)
		_ = jm.NakWithDelay(cfg.backoff(uint64(len(cfg.Backoff)) + 1))
		return
	}
	id := ""
	if m != nil {
		id = m.ID
	}
	logger.Warn("dead-lettered", "seq", seq, "id", id, "deliveries", deliveries, "subject", cfg.DeadLetterSubject, "reason", reason)
	if err := jm.Term(); err != nil {
		logger.Warn("term after dead-letter failed; a redelivery will be dead-lettered again and deduplicated", "seq", seq, "err", err)
	}
}

// parkDeadLetter publishes a copy of jm, with the reason and where it came from, to the
// dead-letter subject. Consume and ConsumeOrdered park messages the same way, so one
// dead-letter stream serves both.
func (l *Log) parkDeadLetter(ctx context.Context, cfg ConsumerConfig, jm jetstream.Msg, seq, deliveries uint64, reason error) error {
	dm := nats.NewMsg(cfg.DeadLetterSubject)
	dm.Data = jm.Data()
	for k, vs := range jm.Headers() {
		for _, v := range vs {
			dm.Header.Add(k, v)
		}
	}
	// One dead-letter entry per source message, even if parking it is retried. The
	// original id moves to its own header.
	dm.Header.Set(HeaderDLQEventID, jm.Headers().Get(jetstream.MsgIDHeader))
	dm.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dlq:%s:%d", cfg.Stream, seq))
	dm.Header.Set(HeaderDLQReason, truncate(reason.Error(), 1024))
	dm.Header.Set(HeaderDLQStream, cfg.Stream)
	dm.Header.Set(HeaderDLQSubject, jm.Subject())
	dm.Header.Set(HeaderDLQSequence, formatUint(seq))
	dm.Header.Set(HeaderDLQDeliveries, formatUint(deliveries))
	dm.Header.Set(HeaderDLQConsumer, cfg.Durable)

	pctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if _, err := l.js.PublishMsg(pctx, dm); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			err = fmt.Errorf("%w: %s", ErrNoDeadLetterStream, cfg.DeadLetterSubject)
		}
		return err
	}
	return nil
}

func truncate(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ConsumerState is how far a durable consumer is behind.
type ConsumerState struct {
	// Pending is how many stored events it has not been given yet.
	Pending uint64
	// AckPending is how many it has been given and not yet acked.
	AckPending uint64
	// Redelivered is how many of those given are redeliveries.
	Redelivered int
	// AckFloor is the stream sequence below which everything is acked.
	AckFloor uint64
}

// Caught reports whether every stored event has been acked.
func (s ConsumerState) Caught() bool { return s.Pending == 0 && s.AckPending == 0 }

// ConsumerState asks the server how far a durable consumer is behind.
func (l *Log) ConsumerState(ctx context.Context, stream, durable string) (ConsumerState, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	c, err := l.js.Consumer(ctx, stream, durable)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return ConsumerState{}, fmt.Errorf("consumer %s on %q: %w", durable, stream, ErrStreamNotFound)
	case err != nil:
		return ConsumerState{}, fmt.Errorf("consumer %s on %q: %w", durable, stream, err)
	}
	info := c.CachedInfo()
	return ConsumerState{
		Pending:     info.NumPending,
		AckPending:  uint64(info.NumAckPending),
		Redelivered: info.NumRedelivered,
		AckFloor:    info.AckFloor.Stream,
	}, nil
}
