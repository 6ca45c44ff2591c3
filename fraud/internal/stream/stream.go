// Package stream is the fraud case study's streaming scorer: it consumes transactions from
// the event log, updates and reads the online features, scores through the serving layer
// in process, decides against thresholds (or the rules when the model path fails) and
// publishes one decision per transaction, idempotently by transaction id.
package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/nats-io/nats.go/jetstream"
)

// Re-exported names of the wire contract (package events).
const (
	TxStream         = events.TxStream
	TxSubject        = events.TxSubject
	LabelSubject     = events.LabelSubject
	DecisionStream   = events.DecisionStream
	DecisionSubjects = events.DecisionSubjects
	DefaultDurable   = "fraud-scorer"
)

// Model scores a batch of feature vectors; serving.Server is adapted to it in serving.go.
type Model interface {
	// ScoreBatch scores len(ids) rows of x (row-major, txfeatures.Width each) into out.
	// ids name the rows (the transactions) for the prediction log, and at is when each
	// happened: the prediction log records them in event time, which is how the
	// monitoring joins chargebacks to them with the label delay.
	ScoreBatch(ctx context.Context, ids []string, at []time.Time, x, out []float64) (version int, path string, err error)
}

// Stats count decisions by path and the feature-store failures; they are what the
// outage test reads and what Metrics exports to Prometheus.
type Stats struct {
	Model, Rules, FeatureErrors, ModelErrors, Published, Republished, Labels atomic.Int64
	// Skipped counts transactions redelivered after a restart whose decision the log
	// already held (the earlier run published it, then crashed before acking).
	Skipped atomic.Int64
	// Retried counts events (transactions or chargebacks) a producer published again
	// after the log's duplicates window, so stored twice: the copies after the first are
	// neither applied to the features nor decided (ScorerConfig.RetryHorizon). A
	// chargeback's copy later than the horizon is not counted here: the feature views
	// refuse it (late.go).
	Retried atomic.Int64
	// LateLookups counts transactions whose first copy the retry check may have
	// forgotten, so that it asked the log (late.go): rare, unless event times run
	// backwards.
	LateLookups atomic.Int64
	// Batches counts handler calls; BatchedTx the transactions they carried.
	Batches, BatchedTx atomic.Int64
	// Noop counts the decisions of a no-op scorer (NewNoop).
	Noop atomic.Int64
	// StoreDown is set while the last online-store operation failed.
	StoreDown atomic.Bool
}

// Scorer turns transactions into decisions.
type Scorer struct {
	log        *eventlog.Log
	online     *txfeatures.Online
	model      Model
	thresholds decision.Thresholds
	rules      decision.Rules
	stats      *Stats
	met        *Metrics
	// breaker is how long the online store is skipped after it failed (0: never
	// skipped); storeRetryAt ends the current skip, storeErr is the failure. Only the
	// consuming goroutine touches them.
	breaker      time.Duration
	storeRetryAt time.Time
	storeErr     error
	// ruleAt is where the rules' inputs sit in a feature vector, found by name once.
	ruleAt ruleInputs
	// logger says when the online store goes down and comes back.
	logger *slog.Logger
	// decided holds the TxStream sequences above the ack floor that already have a decision
	// in the log (loadDecided); they are applied to the features but not decided again.
	decided    map[uint64]bool
	decidedMax uint64
	// resync asks the next batch to call loadDecided first: publishing decisions failed,
	// and some may be in the log all the same. cfg is the consumer Run reads.
	resync bool
	cfg    eventlog.ConsumerConfig
	// firstSeen tells each event's first copy in TxStream from a producer's later retries
	// (nil: every copy is applied, as before the check existed).
	firstSeen *eventlog.FirstSeen
	// late tells which events firstSeen may have forgotten the first copy of (late.go).
	late *lateCheck
	// await tells callers waiting for a transaction's decision (the HTTP endpoint) when
	// it is in the log.
	await awaiters
	// afterPublish, set by tests, runs between publishing a batch's decisions and acking
	// its transactions: the window a crash leaves decisions published but not acknowledged.
	afterPublish func(ids []string) error
	// noop decides without features or model (NewNoop).
	noop bool
	// buf holds the buffers a batch reuses (only the consuming goroutine touches them).
	buf scratch
}

// scratch is what handleBatch, decideRun and send reuse from one batch to the next instead
// of allocating per batch, run and decision: at 20,000 transactions a second the garbage
// is what the collector of the process (shared with the embedded NATS server) pays for.
// Nothing in it outlives a batch: the decisions' events (evs, hdrs, data) are reused only
// after every publish of the batch was acknowledged, and dropped after a failed one. The
// vectors and ids handed to the model are not here: the serving layer's prediction log
// keeps them after the call returns.
type scratch struct {
	items, decided, keep []item
	seen                 map[[2]int]bool
	evs                  []eventlog.Event
	hdrs                 []map[string]string
	data                 []byte
	sent                 []sentRun
	// decideRun's
	fitems []txfeatures.Item
	errs   []error
	txs    []sim.Transaction
	ok     []int
	rows   []int
	vec    []float64
	scores []float64
	out    []decision.Decision
}

// grow returns b with length n, reusing its array when it is large enough, cleared.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n, max(n, 2*cap(b)))
	}
	b = b[:n]
	clear(b)
	return b
}

// ScorerConfig is everything a Scorer uses.
type ScorerConfig struct {
	// Log is where transactions come from and decisions go; Run needs it. Nil builds a
	// scorer that only decides in process (Decide), as some tests do.
	Log *eventlog.Log
	// Features holds the transaction views (txfeatures); Store their online rows.
	Features *features.Registry
	Store    features.OnlineStore
	// Model scores the vectors; Thresholds turn a score into an action, and Rules decide
	// when the model path fails.
	Model      Model
	Thresholds decision.Thresholds
	Rules      decision.Rules
	// Stats receives the counts (required); Metrics, when set, the decision latency and
	// the written views' freshness too (its counters read Stats).
	Stats   *Stats
	Metrics *Metrics
	// StoreBreaker is how long the online store is skipped after it failed, so that an
	// outage costs one timeout per StoreBreaker instead of one per batch; decisions come
	// from the rules meanwhile. Zero never skips it.
	StoreBreaker time.Duration
	// Logger receives the store's going down and coming back (nil discards).
	Logger *slog.Logger
	// History is applied to the features before the scorer is returned, without deciding
	// (transactions and chargebacks in log order): how a scorer starts from a backfill.
	History []eventlog.Event
	// RetryHorizon is how long (log time) after an event's first copy a producer's retry,
	// stored again because it came after the log's duplicates window, is recognised from
	// memory (eventlog.FirstSeen; at least this long, at most twice); a later one is
	// recognised through the log (late.go). Zero means events.RetryHorizon; a negative
	// value turns both checks off, for benchmarks of their cost only.
	RetryHorizon time.Duration
}

// NewScorer builds a scorer from cfg, its features warmed with cfg.History.
func NewScorer(ctx context.Context, cfg ScorerConfig) (*Scorer, error) {
	if cfg.Features == nil || cfg.Store == nil || cfg.Model == nil || cfg.Stats == nil {
		return nil, errors.New("scorer: Features, Store, Model and Stats are required")
	}
	if cfg.StoreBreaker < 0 {
		return nil, fmt.Errorf("scorer: negative store breaker %v", cfg.StoreBreaker)
	}
	var fm *features.Metrics
	if cfg.Metrics != nil {
		fm = cfg.Metrics.Features()
	}
	on, err := txfeatures.NewOnline(cfg.Features, cfg.Store, fm)
	if err != nil {
		return nil, err
	}
	at, err := ruleInputsOf(on.Names())
	if err != nil {
		return nil, fmt.Errorf("scorer: %w", err)
	}
	s := &Scorer{log: cfg.Log, online: on, model: cfg.Model, thresholds: cfg.Thresholds, rules: cfg.Rules,
		stats: cfg.Stats, met: cfg.Metrics, breaker: cfg.StoreBreaker, ruleAt: at, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "fraud-scorer")
	if h := cmp.Or(cfg.RetryHorizon, events.RetryHorizon); h > 0 {
		s.firstSeen = eventlog.NewFirstSeen(h)
		s.late = newLateCheck(h)
	}
	if err := s.warm(ctx, cfg.History); err != nil {
		return nil, err
	}
	return s, nil
}

// Rebuild replays the transactions the durable consumer has acknowledged into the online
// features, so a restarted scorer sees the windows it had (feature state lives in memory),
// and into the retry check, so that it tells first copies from retries exactly as the
// crashed process did (the check's state is a function of the log read in order). Events
// after the ack floor are left to the consumer. Events that do not decode were
// dead-lettered when they were consumed and are skipped.
func (s *Scorer) Rebuild(ctx context.Context, durable string) error {
	if s.noop {
		return nil // no features to rebuild
	}
	st, err := s.log.ConsumerState(ctx, TxStream, durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil // first start: nothing to rebuild
	case err != nil:
		return fmt.Errorf("rebuild features: %w", err)
	case st.AckFloor == 0:
		return nil
	}
	_, err = s.log.Replay(ctx, TxStream, eventlog.FromBeginning(), nil, func(ctx context.Context, m *eventlog.Message) error {
		if m.Sequence > st.AckFloor {
			return nil
		}
		if _, err := decodeItem(m.Subject, m.Data); err != nil {
			return nil
		}
		if first, err := s.firstCopy(ctx, m, nil); err != nil || !first {
			return err
		}
		_, err := s.Process(ctx, m.Subject, m.Data, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild features: %w", err)
	}
	return nil
}

// Run consumes transactions and chargebacks until ctx ends, in batches and in log order
// (eventlog.ConsumeOrdered: nothing overtakes, not even after a crash), so event-time
// windows see events in the order they were logged. cfg.BatchSize bounds a batch.
func (s *Scorer) Run(ctx context.Context, cfg eventlog.ConsumerConfig) error {
	cfg.Stream = TxStream
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if err := s.Rebuild(ctx, cfg.Durable); err != nil {
		return err
	}
	s.cfg = cfg
	if err := s.loadDecided(ctx, cfg); err != nil {
		return err
	}
	return s.log.ConsumeOrdered(ctx, cfg, s.handleBatch)
}

// HeaderTxSeq is the decision event header holding the sequence, in TxStream, of the
// transaction decided. It is how a restarted scorer finds what it decided before a crash.
const HeaderTxSeq = "Fraud-Tx-Seq"

// loadDecided finds the transactions an earlier run decided but did not acknowledge (a
// crash between publishing a batch's decisions and acking its transactions, or a publish
// that failed after storing some of them) so that they are not decided twice. The log's
// duplicate window would drop a republished decision too, but only while the window lasts:
// a scorer down for longer, or retrying after a long backoff, would publish a second one.
// Those decisions are the newest in DecisionStream, since only this durable's reader
// publishes there and it does so in log order. It reads the stream's tail, widening it until
// it holds a decision at or below the ack floor (or the whole stream), and keeps the
// sequences above the floor.
func (s *Scorer) loadDecided(ctx context.Context, cfg eventlog.ConsumerConfig) error {
	s.decided, s.decidedMax = nil, 0
	st, err := s.log.ConsumerState(ctx, TxStream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil // first start: nothing was decided by this durable
	case err != nil:
		return fmt.Errorf("find decisions made before a restart: %w", err)
	}
	info, err := s.log.Stream(ctx, DecisionStream)
	if err != nil {
		return fmt.Errorf("find decisions made before a restart: %w", err)
	}
	if info.Messages == 0 {
		return nil
	}
	span := uint64(max(cfg.MaxAckPending, 1) + max(cfg.BatchSize, 1))
	for {
		from := info.FirstSeq
		if info.LastSeq-info.FirstSeq >= span {
			from = info.LastSeq - span + 1
		}
		decided := map[uint64]bool{}
		covered := from == info.FirstSeq
		_, err := s.log.Replay(ctx, DecisionStream, eventlog.FromSequence(from), nil, func(_ context.Context, m *eventlog.Message) error {
			if m.Sequence > info.LastSeq {
				return nil
			}
			seq, err := strconv.ParseUint(m.Header[HeaderTxSeq], 10, 64)
			if err != nil {
				return fmt.Errorf("decision %s at %d: header %s: %w", m.ID, m.Sequence, HeaderTxSeq, err)
			}
			if seq <= st.AckFloor {
				covered = true
			} else {
				decided[seq] = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("find decisions made before a restart: %w", err)
		}
		if covered {
			if len(decided) > 0 {
				s.decided = decided
				for seq := range decided {
					s.decidedMax = max(s.decidedMax, seq)
				}
			}
			return nil
		}
		span *= 4
	}
}

// item is one decoded log event of a batch.
type item struct {
	txfeatures.Item
	id     string
	seq    uint64
	stored time.Time
}

// Process applies one log event: a label updates the terminal features; a transaction
// updates the features and, if decide is set, is decided. It returns the decision, or nil.
func (s *Scorer) Process(ctx context.Context, subject string, data []byte, decide bool) (*decision.Decision, error) {
	it, err := decodeItem(subject, data)
	if err != nil {
		return nil, err
	}
	if s.noop && (!decide || it.Label) {
		return nil, nil // no features to apply
	}
	if !decide || it.Label {
		errs := make([]error, 1)
		serr := s.online.ApplyBatch(ctx, []txfeatures.Item{it}, errs, true)
		if it.Label {
			s.stats.Labels.Add(1)
			if serr != nil {
				s.stats.FeatureErrors.Add(1)
			}
			return nil, nil
		}
		return nil, errors.Join(errs[0], serr)
	}
	d := s.Decide(ctx, it.Tx)
	return &d, nil
}

func decodeItem(subject string, data []byte) (txfeatures.Item, error) {
	tx, err := events.DecodeTx(data)
	if err != nil {
		return txfeatures.Item{}, eventlog.Permanent(fmt.Errorf("decode %s: %w", subject, err))
	}
	switch subject {
	case TxSubject:
		return txfeatures.Item{Tx: tx}, nil
	case LabelSubject:
		return txfeatures.Item{Tx: tx, Label: true}, nil
	}
	return txfeatures.Item{}, eventlog.Permanent(fmt.Errorf("unexpected subject %q", subject))
}

// warm applies history events (transactions and chargebacks, in log order) to the features
// without deciding, in chunks: one store write per view per chunk, where each entity's
// newest row wins.
// A write of history at start-up is tried warmAttempts times, warmBackoff, then twice that,
// apart (see txfeatures.Online.WarmBatch): about 1.5 s of a store not answering in time.
const (
	warmAttempts = 4
	warmBackoff  = 200 * time.Millisecond
)

func (s *Scorer) warm(ctx context.Context, evs []eventlog.Event) error {
	const chunk = 4096
	items := make([]txfeatures.Item, 0, chunk)
	errs := make([]error, chunk)
	for start := 0; start < len(evs); start += chunk {
		items = items[:0]
		for _, ev := range evs[start:min(start+chunk, len(evs))] {
			it, err := decodeItem(ev.Subject, ev.Data)
			if err != nil {
				return fmt.Errorf("warm features: event %s: %w", ev.ID, err)
			}
			items = append(items, it)
		}
		clear(errs)
		if err := s.online.WarmBatch(ctx, items, errs[:len(items)], warmAttempts, warmBackoff); err != nil {
			return fmt.Errorf("warm features: %w", err)
		}
		if err := errors.Join(errs[:len(items)]...); err != nil {
			return fmt.Errorf("warm features: %w", err)
		}
	}
	return nil
}

// Decide updates the features with tx (its label unknown) and decides it alone.
func (s *Scorer) Decide(ctx context.Context, tx sim.Transaction) decision.Decision {
	ds := s.decideRun(ctx, []item{{Item: txfeatures.Item{Tx: tx}}})
	return ds[0]
}

// handleBatch decides a batch: runs of events in which no customer or terminal repeats
// are applied to the features together (one store write per view), their vectors read
// back together (one read) and scored together (one serving call), so a vector is exactly
// what it would be one event at a time. Each run's decisions are sent as soon as they are
// made, without waiting for the server (eventlog.PublishAsync), so the round trip overlaps
// the next run's work; the batch returns (and its transactions are acknowledged) only once
// every decision is stored.
func (s *Scorer) handleBatch(ctx context.Context, batch []*eventlog.Message) (int, error) {
	if s.resync {
		if err := s.loadDecided(ctx, s.cfg); err != nil {
			return 0, err
		}
		s.resync = false
	}
	s.stats.Batches.Add(1)
	buf := &s.buf
	items := buf.items[:0]
	var bad error
	done := 0 // leading messages of batch handled: applied and decided, or retries left out
	for _, m := range batch {
		it, err := decodeItem(m.Subject, m.Data)
		if err != nil {
			bad = err // decide what came before it; it is dead-lettered
			break
		}
		done++
		first, err := s.firstCopy(ctx, m, items)
		if err != nil {
			return 0, err
		}
		if !first {
			continue
		}
		items = append(items, item{Item: it, id: m.ID, seq: m.Sequence, stored: m.Stored})
	}
	buf.items = items
	sent := buf.sent[:0]
	var sendErr error
	if buf.seen == nil {
		buf.seen = map[[2]int]bool{}
	}
	seen := buf.seen
	buf.evs, buf.keep, buf.data = buf.evs[:0], buf.keep[:0], buf.data[:0]
	start := 0
	flush := func(end int) {
		if end > start {
			run := items[start:end]
			ds := s.decideRun(ctx, run)
			decided := buf.decided[:0]
			for _, it := range run {
				if !it.Label {
					decided = append(decided, it)
				}
			}
			buf.decided = decided
			s.stats.BatchedTx.Add(int64(len(decided)))
			if sendErr == nil {
				sent, sendErr = s.send(sent, ds, decided)
			}
		}
		start = end
		clear(seen)
	}
	for i, it := range items {
		c, t := [2]int{0, it.Tx.Customer}, [2]int{1, it.Tx.Terminal}
		if it.Label { // a chargeback touches only its terminal
			if seen[t] {
				flush(i)
			}
			seen[t] = true
			continue
		}
		if seen[c] || seen[t] {
			flush(i)
		}
		seen[c], seen[t] = true, true
	}
	flush(len(items))
	clear(seen)
	buf.sent = sent
	defer func() {
		clear(buf.sent) // the pending publishes, once waited for
		clear(buf.items)
	}()

	// Collect every acknowledgement, even after a failure, so nothing is left in flight.
	now := time.Now()
	var ids []string
	for _, r := range sent {
		acks, err := r.p.Wait(ctx)
		if err != nil {
			sendErr = cmp.Or(sendErr, fmt.Errorf("publish %d decisions: %w", len(r.items), err))
			continue
		}
		for i, a := range acks {
			if a.Duplicate {
				s.stats.Republished.Add(1)
			} else {
				s.stats.Published.Add(1)
			}
			if s.met != nil && !r.items[i].stored.IsZero() {
				s.met.lag.Observe(now.Sub(r.items[i].stored).Seconds())
			}
		}
		s.await.decided(r.items, r.ds) // stored: tell whoever waits for them (the HTTP endpoint)
		if s.afterPublish != nil {
			for _, it := range r.items {
				ids = append(ids, it.id)
			}
		}
	}
	if sendErr != nil {
		// Some of them may be stored (an ack lost on the way back is a failure too):
		// before the batch comes again, learn from the log which. The events' buffers are
		// not reused after a failure: a message may still be on its way.
		s.resync = true
		buf.evs, buf.hdrs, buf.data = nil, nil, nil
		return 0, sendErr
	}
	if s.afterPublish != nil && len(ids) > 0 {
		if err := s.afterPublish(ids); err != nil {
			s.resync = true
			return 0, err
		}
	}
	if s.decided != nil && done > 0 && batch[done-1].Sequence >= s.decidedMax {
		s.decided = nil
	}
	return done, bad
}

// retried counts a copy the retry check left out, and tells whoever waits for its
// transaction where the decision is: on the first copy.
func (s *Scorer) retried(m *eventlog.Message) {
	s.stats.Retried.Add(1)
	if seq, ok := s.firstSeen.FirstSeq(m.ID); ok {
		s.await.decidedAt(m.ID, seq)
	}
}

// sentRun is a run's decisions on their way to the log.
type sentRun struct {
	p     *eventlog.Pending
	items []item // the transactions decided, in the order of p's events
	ds    []decision.Decision
}

// maxSend bounds the decisions one PublishAsync call sends (the log refuses more than its
// MaxAsyncPending, 4,096 by default, and a batch holds at most BatchSize in all).
const maxSend = 1024

// send publishes the decisions ds of transactions decided, in order, without waiting, and
// appends them to sent. It leaves out those the log already holds after a restart
// (loadDecided; the set is dropped once the reader is past its newest entry, not entry by
// entry, since a batch that fails is delivered again and must skip the same transactions).
//
// The events of a batch share buffers (s.buf: their JSON in one array, their header maps
// reused), so that they cost no allocation per decision beyond their ids.
func (s *Scorer) send(sent []sentRun, ds []decision.Decision, decided []item) ([]sentRun, error) {
	buf := &s.buf
	from, kfrom := len(buf.evs), len(buf.keep)
	// The decisions sent, in keep's order: ds itself unless some are left out after a
	// restart (no copy on the hot path).
	keepD := ds
	if s.decided != nil {
		keepD = make([]decision.Decision, 0, len(ds))
	}
	for i, d := range ds {
		it := decided[i]
		if s.decided != nil && s.decided[it.seq] {
			s.stats.Skipped.Add(1)
			s.await.decidedAt(it.id, it.seq) // in the log already: a waiter reads it there
			continue
		}
		n := len(buf.data)
		var err error
		if buf.data, err = decision.AppendJSON(buf.data, d); err != nil {
			return sent, fmt.Errorf("encode decision %d: %w", d.TransactionID, err)
		}
		k := len(buf.evs)
		if k == len(buf.hdrs) {
			buf.hdrs = append(buf.hdrs, make(map[string]string, 1))
		}
		h := buf.hdrs[k]
		h[HeaderTxSeq] = strconv.FormatUint(it.seq, 10)
		// The data's array may move as later decisions are appended; an event keeps the
		// array it was written to (never written again before the batch is acknowledged).
		buf.evs = append(buf.evs, eventlog.Event{ID: events.DecisionID(it.id), Subject: events.DecisionSubject(it.id), Data: buf.data[n:len(buf.data):len(buf.data)],
			Header: h})
		buf.keep = append(buf.keep, it)
		if s.decided != nil {
			keepD = append(keepD, d)
		}
	}
	evs, keep := buf.evs[from:], buf.keep[kfrom:]
	for lo := 0; lo < len(evs); lo += maxSend {
		hi := min(lo+maxSend, len(evs))
		p, err := s.log.PublishAsync(evs[lo:hi])
		if err != nil {
			return sent, fmt.Errorf("publish %d decisions: %w", hi-lo, err)
		}
		sent = append(sent, sentRun{p: p, items: keep[lo:hi], ds: keepD[lo:hi]})
	}
	return sent, nil
}

// decideRun applies run (no entity repeats in it) to the features and decides its
// transactions, in order: the model's score against the thresholds, or the rules for a
// transaction whose features or score cannot be had.
func (s *Scorer) decideRun(ctx context.Context, run []item) []decision.Decision {
	if s.noop {
		return s.noopRun(run, make([]decision.Decision, 0, len(run)))
	}
	buf := &s.buf
	fitems := grow(buf.fitems, len(run))
	buf.fitems = fitems
	for i, it := range run {
		fitems[i] = it.Item
	}
	errs := grow(buf.errs, len(run))
	buf.errs = errs
	txs := buf.txs[:0]
	ok := buf.ok[:0] // index in txs → index in run
	defer func() { buf.txs, buf.ok = txs, ok }()
	for i, it := range run {
		if it.Label {
			s.stats.Labels.Add(1)
			continue
		}
		txs = append(txs, it.Tx)
		ok = append(ok, i)
	}
	out := grow(buf.out, len(txs))
	vec := grow(buf.vec, len(txs)*txfeatures.Width)
	buf.out, buf.vec = out, vec
	var serr error
	if now := time.Now(); s.breaker > 0 && now.Before(s.storeRetryAt) {
		// The store failed moments ago: keep the features in memory current, skip the
		// store's timeouts, and let the rules decide until the next try.
		_ = s.online.ApplyBatch(ctx, fitems, errs, false)
		serr = fmt.Errorf("online store skipped for %v after: %w", s.breaker, s.storeErr)
	} else if serr = s.online.ApplyRead(ctx, fitems, errs, txs, vec); serr != nil {
		// (ApplyRead writes the run's rows and reads its vectors back: one round trip on Redis.)
		s.storeRetryAt, s.storeErr = time.Now().Add(s.breaker), serr
	}
	// A cancelled call says nothing about the store.
	if down := serr != nil; ctx.Err() == nil && s.stats.StoreDown.Swap(down) != down {
		if down {
			s.logger.Warn("online store down: the rules decide", "breaker", s.breaker, "err", serr)
		} else {
			s.logger.Info("online store back")
		}
	}
	// The rows the model can score: features read and the transaction accepted. ids and x
	// are new each time: the prediction log holds them after ScoreBatch returns.
	var ids []string
	var at []time.Time
	var x []float64
	rows := buf.rows[:0]
	defer func() { buf.rows = rows }()
	for k, tx := range txs {
		err := errors.Join(errs[ok[k]], serr)
		d := decision.Decision{TransactionID: tx.ID}
		if err != nil {
			s.stats.FeatureErrors.Add(1)
			out[k] = s.byRules(d, decision.Features{Amount: tx.Amount}, err)
			continue
		}
		out[k] = d
		ids = append(ids, events.TxID(tx.ID))
		at = append(at, tx.Time)
		x = append(x, vec[k*txfeatures.Width:(k+1)*txfeatures.Width]...)
		rows = append(rows, k)
	}
	if len(rows) == 0 {
		return out
	}
	scores := grow(buf.scores, len(rows))
	buf.scores = scores
	version, path, merr := s.model.ScoreBatch(ctx, ids, at, x, scores)
	for j, k := range rows {
		v := vec[k*txfeatures.Width : (k+1)*txfeatures.Width]
		if merr != nil {
			s.stats.ModelErrors.Add(1)
			out[k] = s.byRules(out[k], s.ruleAt.read(txs[k].Amount, v), merr)
			continue
		}
		s.stats.Model.Add(1)
		d := &out[k]
		d.Action, d.Score, d.ModelVersion, d.Path, d.ServingPath = s.thresholds.Decide(scores[j]), scores[j], version, decision.PathModel, path
	}
	return out
}

func (s *Scorer) byRules(d decision.Decision, f decision.Features, cause error) decision.Decision {
	s.stats.Rules.Add(1)
	d.Action, d.Reason = s.rules.Decide(f)
	d.Path = decision.PathRules
	d.Reason += " (" + cause.Error() + ")"
	return d
}

// StoreErr is the online store's last failure (nil if it never failed). Call it only
// when Run has returned.
func (s *Scorer) StoreErr() error { return s.storeErr }
