package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BatchHandler applies a contiguous run of messages in stream order. It returns how many
// leading messages it fully applied (done); if err != nil, batch[done] failed. With a nil
// error done must be len(batch), unless ctx was cancelled, in which case a handler may stop
// early and report the prefix it applied. A handler may keep the slice.
type BatchHandler func(ctx context.Context, batch []*Message) (done int, err error)

const (
	// pullExpiry is how long a pull request lives; see Consume for why 5 s.
	pullExpiry = 5 * time.Second
	// maxBlindRewinds is how many times in a row deliveries may go missing, with nothing
	// applied in between, before ConsumeOrdered concludes another reader takes them.
	maxBlindRewinds = 5
	// drainTimeout bounds how long the batch in hand may take to finish once ctx ends.
	drainTimeout = 10 * time.Second
)

// ConsumeOrdered creates or updates the durable consumer and applies its messages to h in
// batches, in stream order, until ctx is cancelled (then it returns nil) or the connection
// fails. It is for readers whose state depends on order, such as event-time features.
//
// What it guarantees:
//   - Order. Messages reach h in stream-sequence order (of the filtered subjects), each
//     batch starting right after the last message applied. No message overtakes an earlier
//     one that is not applied: not within a run, not after a handler error, and not after
//     a crash. Every ConsumeOrdered call first rewinds the durable to its ack floor + 1,
//     discarding deliveries an earlier process left unacked, so that a restart begins with
//     the oldest unapplied message instead of getting it back after AckWait behind newer
//     ones. Deliveries that arrive out of order anyway (a redelivery after AckWait, a
//     delivery lost on a reconnect) are detected by their consumer sequence and trigger
//     the same rewind.
//   - Batches. A batch holds up to cfg.BatchSize messages but never waits to fill: it is
//     whatever has arrived when h is free. MaxAckPending bounds the messages in flight.
//   - Acks are cumulative (the AckAll policy): one ack per batch, for the last message h
//     applied. When ctx is cancelled, the batch h holds is finished first (h's context
//     stays live for up to 10 s more: a drain, as on SIGTERM) and acked; then the
//     position after the last applied message is also recorded with the server, so the
//     next run starts exactly there.
//   - Failures. If h fails at batch[done], the messages before it are acked, ConsumeOrdered
//     waits the backoff for that message's failure count and delivers again starting at
//     batch[done]. A Permanent error or the MaxDeliver-th failure dead-letters that message
//     as Consume does (same headers, same dedup id) and reading continues after it; with no
//     DeadLetterSubject it is logged and skipped. A panic in h is recovered and counts as
//     a failure of batch[0].
//
// Limits:
//   - One reader per durable: order needs a single reader, so run one ConsumeOrdered per
//     durable, never beside Consume. A second reader is refused with ErrConsumerInUse when
//     the server shows another one pulling at start, or when deliveries keep going
//     elsewhere; the check is best effort, not a lock.
//   - At least once. Messages applied after the last ack that reached the server are
//     delivered again after a crash (in order), so h must be idempotent by event id.
//   - Keep a batch for less than AckWait. Past it the server redelivers the batch behind
//     newer deliveries; the reader notices and rewinds, so order holds, but what was in
//     flight is read again.
//   - Failures are counted in this process's memory, because a rewind also resets the
//     server's delivery counts. A message that crashes the process every time is therefore
//     not dead-lettered after MaxDeliver crashes, as it is with Consume: it is retried on
//     every restart. A handler error or panic is counted and handled as above.
//   - A durable created by Consume (an ack per message) is refused with
//     ErrConsumerConflict; use another name or delete it. Start applies when the durable is
//     created; NewOnly is pinned then to the sequence after the stream's last, because the
//     server rewinds only consumers that start at a sequence, a time or the beginning.
//   - The rewind uses the server's consumer reset API ($JS.API.CONSUMER.RESET), which
//     nats-server v2.15 has and older servers may not.
func (l *Log) ConsumeOrdered(ctx context.Context, cfg ConsumerConfig, h BatchHandler) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("%w: consumer %q: the batch handler is nil", ErrInvalidConfig, cfg.Durable)
	}
	cons, err := l.orderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	r := &orderedReader{
		l:      l,
		cfg:    cfg,
		cons:   cons,
		h:      h,
		logger: l.logger.With("stream", cfg.Stream, "consumer", cfg.Durable, "ordered", true),
		tries:  map[uint64]*tries{},
	}
	return r.run(ctx)
}

func (c ConsumerConfig) orderedJetstream() jetstream.ConsumerConfig {
	jc := c.jetstream()
	jc.AckPolicy = jetstream.AckAllPolicy
	return jc
}

// orderedConsumer creates the durable, or checks that an existing one can be read in order
// and updates its tunables.
func (l *Log) orderedConsumer(ctx context.Context, cfg ConsumerConfig) (jetstream.Consumer, error) {
	cctx, cancel := l.withTimeout(ctx)
	defer cancel()
	jc := cfg.orderedJetstream()
	existing, err := l.js.Consumer(cctx, cfg.Stream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("consume ordered %s: stream %q: %w", cfg.Durable, cfg.Stream, ErrStreamNotFound)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if cfg.Start.last {
			// The server refuses to rewind a deliver-new consumer to a sequence, and
			// rewinding is how this reader restarts: pin "new" to a sequence now.
			s, err := l.js.Stream(cctx, cfg.Stream)
			if err != nil {
				return nil, fmt.Errorf("consume ordered %s: stream %q: %w", cfg.Durable, cfg.Stream, err)
			}
			jc.DeliverPolicy, jc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.CachedInfo().State.LastSeq+1
		}
	case err != nil:
		return nil, fmt.Errorf("consume ordered %s: look up the consumer on %q: %w", cfg.Durable, cfg.Stream, err)
	default:
		have := existing.CachedInfo().Config
		if have.AckPolicy != jetstream.AckAllPolicy {
			return nil, fmt.Errorf("consume ordered %s on %q: %w: the durable acks with policy %q (as Consume creates it) and ordered reading needs cumulative acks (%q); the server cannot change an ack policy, so delete the durable or choose another name",
				cfg.Durable, cfg.Stream, ErrConsumerConflict, have.AckPolicy, jetstream.AckAllPolicy)
		}
		switch have.DeliverPolicy {
		case jetstream.DeliverAllPolicy, jetstream.DeliverByStartSequencePolicy, jetstream.DeliverByStartTimePolicy:
		default:
			return nil, fmt.Errorf("consume ordered %s on %q: %w: the durable has deliver policy %q, which the server cannot rewind to a sequence; delete the durable or choose another name",
				cfg.Durable, cfg.Stream, ErrConsumerConflict, have.DeliverPolicy)
		}
		// Start applies only when the durable is created: keep the one it has.
		jc.DeliverPolicy, jc.OptStartSeq, jc.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
		if err := l.checkAlone(ctx, cfg, existing); err != nil {
			return nil, err
		}
	}
	cons, err := l.js.CreateOrUpdateConsumer(cctx, cfg.Stream, jc)
	if err != nil {
		return nil, fmt.Errorf("consume ordered %s: create consumer on %q: %w", cfg.Durable, cfg.Stream, err)
	}
	return cons, nil
}

// checkAlone refuses a durable that another reader is pulling from. A live reader keeps a
// pull request waiting on the server nearly all the time; the server drops the requests of
// one whose connection closed. Looking three times sees a reader caught between two
// requests.
func (l *Log) checkAlone(ctx context.Context, cfg ConsumerConfig, cons jetstream.Consumer) error {
	waiting := 0
	for range 3 {
		cctx, cancel := l.withTimeout(ctx)
		info, err := cons.Info(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("consume ordered %s: consumer info: %w", cfg.Durable, err)
		}
		if waiting = info.NumWaiting; waiting == 0 {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("consume ordered %s on %q: %w: %d pull requests are waiting on the server (another ConsumeOrdered or Consume with this durable, or a process that hung in the last %v)",
		cfg.Durable, cfg.Stream, ErrConsumerInUse, waiting, pullExpiry)
}

// tries is what this process knows about the failures of one message.
type tries struct {
	failed int   // failed tries so far
	poison error // why the message must be dead-lettered; kept until parking succeeds
}

type orderedReader struct {
	l      *Log
	cfg    ConsumerConfig
	cons   jetstream.Consumer
	h      BatchHandler
	logger *slog.Logger
	// next is the stream sequence to apply next: every message before it is applied.
	next uint64
	// tries holds the messages that failed and are not yet applied or parked.
	tries map[uint64]*tries
}

// rewind says where deliveries restart after a reset of the durable.
type rewind struct {
	seq  uint64 // stream sequence of the first message to be delivered, or later if filtered out
	dseq uint64 // consumer sequence of the first delivery
}

// stopKind says why a pull subscription was stopped.
type stopKind int

const (
	stopCancelled  stopKind = iota // ctx is done
	stopOutOfOrder                 // a delivery was missing, repeated or out of order
	stopFailed                     // the handler failed on a message
)

type stop struct {
	kind    stopKind
	why     string // for stopOutOfOrder
	applied int    // messages applied before stopping
	failed  *Message
	jm      jetstream.Msg
	err     error
}

func (r *orderedReader) run(ctx context.Context) error {
	rw, err := r.reset(ctx, 0)
	if err != nil {
		return err
	}
	r.next = rw.seq
	blind := 0
	for {
		st, err := r.pump(ctx, rw.dseq)
		if err != nil {
			if ctx.Err() != nil {
				r.commit(ctx)
				return nil
			}
			return err
		}
		var delay time.Duration
		switch st.kind {
		case stopCancelled:
			r.commit(ctx)
			return nil
		case stopOutOfOrder:
			if st.applied > 0 {
				blind = 0
			}
			if blind++; blind > maxBlindRewinds {
				r.commit(ctx)
				return fmt.Errorf("consume ordered %s on %q: %w: deliveries kept going missing (%s)", r.cfg.Durable, r.cfg.Stream, ErrConsumerInUse, st.why)
			}
			r.logger.Warn("deliveries out of order; rewinding", "next", r.next, "why", st.why)
		case stopFailed:
			blind = 0
			delay = r.settle(ctx, st)
		}
		// Rewind before waiting: it records everything before r.next as applied, and the
		// server holds nothing in flight for this reader while it waits.
		if rw, err = r.reset(ctx, r.next); err != nil {
			if ctx.Err() != nil {
				r.commit(ctx)
				return nil
			}
			return err
		}
		if sleep(ctx, delay) != nil {
			return nil
		}
	}
}

// settle counts a failure and dead-letters the message if that was its last try. It
// returns how long to wait before delivering again.
func (r *orderedReader) settle(ctx context.Context, st stop) time.Duration {
	seq := st.failed.Sequence
	t := r.tries[seq]
	if t == nil {
		t = &tries{}
		r.tries[seq] = t
	}
	if t.poison == nil {
		t.failed++
		var perm permanentError
		if errors.As(st.err, &perm) || t.failed >= r.cfg.MaxDeliver {
			t.poison = st.err
		}
	}
	if t.poison == nil {
		delay := r.cfg.backoff(uint64(t.failed))
		r.logger.Warn("handler failed; will deliver again from this message", "seq", seq, "id", st.failed.ID, "try", t.failed, "of", r.cfg.MaxDeliver, "after", delay, "err", st.err)
		return delay
	}
	if r.cfg.DeadLetterSubject == "" {
		r.logger.Error("poison message skipped (no dead-letter subject configured)", "seq", seq, "id", st.failed.ID, "reason", t.poison)
	} else if err := r.l.parkDeadLetter(ctx, r.cfg, st.jm, seq, uint64(t.failed), t.poison); err != nil {
		r.logger.Error("could not dead-letter; will try again before going on", "seq", seq, "subject", r.cfg.DeadLetterSubject, "err", err)
		return r.cfg.backoff(uint64(len(r.cfg.Backoff)) + 1)
	} else {
		r.logger.Warn("dead-lettered", "seq", seq, "id", st.failed.ID, "deliveries", t.failed, "subject", r.cfg.DeadLetterSubject, "reason", t.poison)
	}
	delete(r.tries, seq)
	r.next = seq + 1
	return 0
}

// pump reads deliveries into batches and applies them until ctx is done, a delivery is out
// of order, or the handler fails. dseq is the consumer sequence of the first delivery.
func (r *orderedReader) pump(ctx context.Context, dseq uint64) (stop, error) {
	sub, err := r.subscribe()
	if err != nil {
		return stop{}, err
	}
	defer sub.stop(r.l.cfg.RequestTimeout)

	var (
		last    uint64 // stream sequence of the last delivery taken
		why     string // set when a delivery is out of order
		applied int
		batch   []*Message
		jms     []jetstream.Msg
	)
	take := func(jm jetstream.Msg) {
		md, err := jm.Metadata()
		switch {
		case err != nil:
			why = fmt.Sprintf("delivery without metadata: %v", err)
			return
		case md.Sequence.Consumer != dseq:
			why = fmt.Sprintf("delivery %d arrived when %d was due", md.Sequence.Consumer, dseq)
			return
		}
		dseq++
		seq := md.Sequence.Stream
		if seq < r.next {
			return // applied already: a redelivery after AckWait, covered by a later ack
		}
		if seq <= last {
			why = fmt.Sprintf("sequence %d delivered again after %d", seq, last)
			return
		}
		last = seq
		m, err := messageFrom(jm)
		if err != nil {
			why = err.Error()
			return
		}
		if t := r.tries[seq]; t != nil {
			m.Deliveries = max(m.Deliveries, uint64(t.failed)+1)
		}
		batch, jms = append(batch, m), append(jms, jm)
	}
	for {
		batch, jms = make([]*Message, 0, r.cfg.BatchSize), jms[:0]
		select {
		case <-ctx.Done():
			return stop{kind: stopCancelled, applied: applied}, nil
		case <-sub.cc.Closed():
			return stop{}, sub.closedErr(r)
		case jm := <-sub.msgs:
			take(jm)
		}
	drain:
		for len(batch) < r.cfg.BatchSize && why == "" {
			select {
			case jm := <-sub.msgs:
				take(jm)
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			st, stopNow, err := r.apply(ctx, batch, jms)
			applied += st.applied
			st.applied = applied
			if err != nil || stopNow {
				return st, err
			}
		}
		if why != "" {
			return stop{kind: stopOutOfOrder, why: why, applied: applied}, nil
		}
	}
}

// apply hands one batch to the handler and acks what it applied. It reports stopNow when
// reading must stop, with why in st.
func (r *orderedReader) apply(ctx context.Context, batch []*Message, jms []jetstream.Msg) (st stop, stopNow bool, err error) {
	if t := r.tries[batch[0].Sequence]; t != nil && t.poison != nil {
		// Its last try failed and parking it did not work: park it again, without a try.
		return stop{kind: stopFailed, failed: batch[0], jm: jms[0], err: t.poison}, true, nil
	}
	// A batch in hand when ctx ends is finished, not abandoned: the handler gets a context
	// that outlives ctx by at most drainTimeout, so a process stopping on SIGTERM decides,
	// publishes and acks what it was given instead of leaving it to be read again.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(drainTimeout, cancel)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	defer stopDrain()
	done, herr := safeHandleBatch(hctx, r.h, batch)
	if done < 0 || done > len(batch) {
		return stop{}, true, fmt.Errorf("consume ordered %s: the batch handler returned done = %d for a batch of %d", r.cfg.Durable, done, len(batch))
	}
	if done > 0 {
		last := batch[done-1]
		if err := jms[done-1].Ack(); err != nil {
			r.logger.Warn("ack failed; a restart will deliver the batch again", "seq", last.Sequence, "err", err)
		}
		r.next = last.Sequence + 1
		for seq := range r.tries {
			if seq < r.next {
				delete(r.tries, seq)
			}
		}
	}
	st.applied = done
	switch {
	case ctx.Err() != nil:
		// A handler stopped by cancellation reports what it applied, error or not.
		st.kind = stopCancelled
		return st, true, nil
	case herr == nil && done == len(batch):
		return st, false, nil
	case herr == nil:
		return st, true, fmt.Errorf("consume ordered %s: the batch handler returned done = %d for a batch of %d and no error", r.cfg.Durable, done, len(batch))
	case done == len(batch):
		return st, true, fmt.Errorf("consume ordered %s: the batch handler applied the whole batch of %d and returned an error: %w", r.cfg.Durable, done, herr)
	}
	st.kind, st.failed, st.jm, st.err = stopFailed, batch[done], jms[done], herr
	return st, true, nil
}

func safeHandleBatch(ctx context.Context, h BatchHandler, batch []*Message) (done int, err error) {
	defer func() {
		if r := recover(); r != nil {
			done, err = 0, fmt.Errorf("batch handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return h(ctx, batch)
}

// reset moves the durable to deliver from seq, or from its ack floor + 1 when seq is 0.
// Everything before that point counts as acked and every delivery in flight is forgotten.
func (r *orderedReader) reset(ctx context.Context, seq uint64) (rewind, error) {
	cctx, cancel := r.l.withTimeout(ctx)
	defer cancel()
	var (
		resp *jetstream.ConsumerResetResponse
		err  error
	)
	if seq == 0 {
		resp, err = r.l.js.ResetConsumer(cctx, r.cfg.Stream, r.cfg.Durable)
	} else {
		resp, err = r.l.js.ResetConsumerToSequence(cctx, r.cfg.Stream, r.cfg.Durable, seq)
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed):
		return rewind{}, &UnreachableError{URL: r.l.url, Err: err}
	case errors.Is(err, nats.ErrNoResponders):
		return rewind{}, fmt.Errorf("consume ordered %s: rewind to %d: %w (the server may predate the consumer reset API of nats-server v2.15)", r.cfg.Durable, seq, err)
	case err != nil:
		return rewind{}, fmt.Errorf("consume ordered %s: rewind to %d: %w", r.cfg.Durable, seq, err)
	}
	return rewind{seq: resp.ResetSeq, dseq: resp.Delivered.Consumer + 1}, nil
}

// commit records r.next with the server on the way out, so the next run starts there even
// if the last acks are still in flight. It is best effort: a restart without it resumes
// from the last ack the server saw.
func (r *orderedReader) commit(ctx context.Context) {
	if r.l.nc.IsClosed() {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.l.cfg.RequestTimeout)
	defer cancel()
	if _, err := r.reset(cctx, r.next); err != nil {
		r.logger.Warn("could not record the position on the way out; a restart resumes from the last ack", "next", r.next, "err", err)
	}
}

// orderedSub is one pull subscription, from one rewind to the next.
type orderedSub struct {
	cc   jetstream.ConsumeContext
	msgs chan jetstream.Msg
	quit chan struct{}

	mu      sync.Mutex
	lastErr error
}

func (r *orderedReader) subscribe() (*orderedSub, error) {
	// The server delivers at most MaxAckPending unacked messages and every message in the
	// channel is unacked, so the callback does not block on a full channel.
	s := &orderedSub{
		msgs: make(chan jetstream.Msg, r.cfg.MaxAckPending+r.cfg.BatchSize),
		quit: make(chan struct{}),
	}
	cc, err := r.cons.Consume(func(jm jetstream.Msg) {
		select {
		case s.msgs <- jm:
		case <-s.quit:
		}
	},
		jetstream.PullMaxMessages(r.cfg.BatchSize),
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Missed heartbeats and the like are recoverable: nats.go pulls again, and
			// anything lost shows up as a gap in the consumer sequence.
			r.logger.Warn("pull subscription error", "err", err)
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
		}))
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, &UnreachableError{URL: r.l.url, Err: err}
		}
		return nil, fmt.Errorf("consume ordered %s: %w", r.cfg.Durable, err)
	}
	s.cc = cc
	return s, nil
}

// stop ends the subscription and waits until nats.go has unsubscribed, so that the server
// sees no reader before a rewind.
func (s *orderedSub) stop(wait time.Duration) {
	close(s.quit)
	s.cc.Stop()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.cc.Closed():
	case <-t.C:
	}
}

func (s *orderedSub) closedErr(r *orderedReader) error {
	if r.l.nc.IsClosed() {
		return &UnreachableError{URL: r.l.url, Err: nats.ErrConnectionClosed}
	}
	s.mu.Lock()
	err := s.lastErr
	s.mu.Unlock()
	if err == nil {
		err = errors.New("pull subscription closed")
	}
	return fmt.Errorf("consume ordered %s: %w", r.cfg.Durable, err)
}

// sleep waits d or until ctx is done, and then returns ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
