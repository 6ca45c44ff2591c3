// Package natstarget is the loadgen Target for NATS: JetStream publish, timed to the
// stream's acknowledgement (the message is stored); core request/reply, timed to the
// reply; or JetStream publish timed to an answer event that a separate consumer publishes
// on another subject (await mode, the shape of a streaming scorer).
package natstarget

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// Mode is what one request means.
type Mode string

const (
	// Publish publishes to a JetStream stream and waits for its acknowledgement.
	Publish Mode = "publish"
	// Request sends a core NATS request and waits for the reply.
	Request Mode = "request"
	// Await publishes to a JetStream stream, then waits for the answer event: a message on
	// Config.AwaitSubject whose correlation id is the request's ID. A request marked
	// NoAnswer completes at its acknowledgement.
	Await Mode = "await"
)

// Config describes the NATS endpoint.
type Config struct {
	// URL is the server address, e.g. nats://127.0.0.1:4222 (comma-separated for a cluster).
	URL     string
	Mode    Mode
	Subject string
	// Stream, in publish mode, is created (in memory, bounded) to capture Subject when no
	// stream does yet. When empty, a stream must already capture Subject.
	Stream string
	// KeyHeader, when set, carries each request's Key in this message header.
	KeyHeader string
	// AllowHosts names non-loopback hosts that may be targeted (see loadgen.CheckHost).
	AllowHosts []string
	// ConnectTimeout bounds the connection made before the load starts.
	ConnectTimeout time.Duration

	// ExtraSubjects, in publish and await mode, are the other subjects requests may be
	// routed to (loadgen.Request.Subject). A stream must capture each one; they are checked
	// before the load starts, and a stream created for Stream captures them too.
	ExtraSubjects []string
	// AwaitSubject, in await mode, is where answer events arrive. One core NATS
	// subscription on it is made before the load starts. It may contain wildcards.
	AwaitSubject string
	// AwaitPrefix is stripped from an answer's Nats-Msg-Id to get the id of the request it
	// answers (the fraud scorer answers transaction 42 with "decision-42"). An answer whose
	// id lacks the prefix is not correlated.
	AwaitPrefix string
	// Correlate, when set, replaces the Nats-Msg-Id rule: it returns the id of the request
	// an answer message answers, or false. It is called from the subscription's goroutine.
	Correlate func(msg *nats.Msg) (id string, ok bool)
	// AsyncPublish, in publish and await mode, publishes with JetStream's asynchronous
	// publish and waits for the ack future, instead of a synchronous publish (a request
	// per message). Both wait for the ack, so both time the same thing; async sustained
	// 20,000 await requests/s more reliably on a shared 2-core machine. The loadgen command
	// uses it in await mode; publish mode keeps the synchronous publish it always had.
	AsyncPublish bool
}

// DefaultConfig returns a publish-mode configuration with no URL or subject.
func DefaultConfig() Config {
	return Config{Mode: Publish, KeyHeader: "Loadgen-Key", ConnectTimeout: 2 * time.Second}
}

// Validate checks the configuration without touching the network.
func (c Config) Validate() error {
	if c.URL == "" {
		return fmt.Errorf("%w: no NATS URL", loadgen.ErrInvalidConfig)
	}
	for _, s := range strings.Split(c.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%w: NATS URL %q: %v", loadgen.ErrInvalidConfig, s, err)
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			return fmt.Errorf("%w: scheme %q in %q (natstarget takes nats or tls)", loadgen.ErrUnknownTarget, u.Scheme, s)
		}
		if err := loadgen.CheckHost(u.Hostname(), c.AllowHosts); err != nil {
			return fmt.Errorf("target %q: %w", s, err)
		}
	}
	if c.Mode != Publish && c.Mode != Request && c.Mode != Await {
		return fmt.Errorf("%w: NATS mode %q (want publish, request or await)", loadgen.ErrInvalidConfig, c.Mode)
	}
	for _, s := range append([]string{c.Subject}, c.ExtraSubjects...) {
		if s == "" || strings.ContainsAny(s, " \t\r\n*>") {
			return fmt.Errorf("%w: NATS subject %q must be a literal subject (no spaces or wildcards)", loadgen.ErrInvalidConfig, s)
		}
	}
	if c.Mode == Await {
		if c.AwaitSubject == "" || strings.ContainsAny(c.AwaitSubject, " \t\r\n") {
			return fmt.Errorf("%w: await mode needs the subject answers arrive on (--await-subject), got %q", loadgen.ErrInvalidConfig, c.AwaitSubject)
		}
		for _, s := range append([]string{c.Subject}, c.ExtraSubjects...) {
			if s == c.AwaitSubject {
				return fmt.Errorf("%w: await subject %q is also a request subject; answers must arrive elsewhere", loadgen.ErrInvalidConfig, s)
			}
		}
	}
	if c.ConnectTimeout <= 0 {
		return fmt.Errorf("%w: connect timeout must be positive, got %v", loadgen.ErrInvalidConfig, c.ConnectTimeout)
	}
	return nil
}

// Target sends requests over one NATS connection.
type Target struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	await *awaiter // await mode only
}

var (
	_ loadgen.Target    = (*Target)(nil)
	_ loadgen.Annotator = (*Target)(nil)
)

// New connects and, in publish mode, makes sure a stream captures the subject, so a missing
// server or stream is reported before any load starts. An unreachable server wraps
// loadgen.ErrUnreachable.
func New(ctx context.Context, cfg Config) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name("casebook-loadgen"),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", loadgen.ErrUnreachable, cfg.URL, err)
	}
	t := &Target{cfg: cfg, nc: nc}
	if cfg.Mode == Publish || cfg.Mode == Await {
		if err := t.setupStream(ctx); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if cfg.Mode == Await {
		if t.await, err = newAwaiter(nc, cfg); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return t, nil
}

// maxAsyncPending bounds JetStream async publishes awaiting their ack. The engine's
// workers bound requests in flight well below it (loadgen.MaxConcurrency), so a publish
// never stalls on this limit.
const maxAsyncPending = 1 << 16

func (t *Target) setupStream(ctx context.Context) error {
	// The async timeout only reclaims futures whose request gave up on them (its context
	// ended first) and whose ack never came; requests are timed by their own context.
	js, err := jetstream.New(t.nc, jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncTimeout(loadgen.MaxTimeout))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	t.js = js
	ctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	subjects := append([]string{t.cfg.Subject}, t.cfg.ExtraSubjects...)
	var missing []string
	for _, subj := range subjects {
		_, err := js.StreamNameBySubject(ctx, subj)
		switch {
		case err == nil:
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("%w: find the stream for subject %q (is JetStream enabled?): %w", loadgen.ErrUnreachable, subj, err)
		default:
			missing = append(missing, subj)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case t.cfg.Stream == "":
		return fmt.Errorf("%w: no JetStream stream captures subject %q; start the system that declares it, create one, or name one to create with --nats-stream", loadgen.ErrInvalidConfig, missing[0])
	case len(missing) < len(subjects):
		return fmt.Errorf("%w: subjects %q have a stream but %q do not; not creating a stream for only some of them", loadgen.ErrInvalidConfig, subjects, missing)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      t.cfg.Stream,
		Subjects:  subjects,
		Storage:   jetstream.MemoryStorage,
		MaxBytes:  256 << 20,
		Discard:   jetstream.DiscardOld,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return fmt.Errorf("create stream %q for subject %q: %w", t.cfg.Stream, t.cfg.Subject, err)
	}
	return nil
}

// message builds the NATS message for req: its subject (or the configured one), its body,
// and headers for its key, its id (Nats-Msg-Id, which JetStream deduplicates by) and its
// event time.
func (t *Target) message(req loadgen.Request) *nats.Msg {
	msg := &nats.Msg{Subject: t.cfg.Subject, Data: req.Body}
	if req.Subject != "" {
		msg.Subject = req.Subject
	}
	if (req.Key != "" && t.cfg.KeyHeader != "") || req.ID != "" || !req.Time.IsZero() {
		// One array holds the header's values (the generator builds a header per request).
		h, vals := make(nats.Header, 3), make([]string, 0, 3)
		set := func(k, v string) {
			vals = append(vals, v)
			h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
		if req.Key != "" && t.cfg.KeyHeader != "" {
			set(t.cfg.KeyHeader, req.Key)
		}
		if req.ID != "" && t.cfg.Mode != Request {
			set(jetstream.MsgIDHeader, req.ID)
		}
		if !req.Time.IsZero() {
			var b [len(time.RFC3339Nano)]byte
			set(eventlog.HeaderEventTime, string(req.Time.UTC().AppendFormat(b[:0], time.RFC3339Nano)))
		}
		msg.Header = h
	}
	return msg
}

// Do implements loadgen.Target.
func (t *Target) Do(ctx context.Context, req loadgen.Request) error {
	msg := t.message(req)
	switch t.cfg.Mode {
	case Publish:
		return t.publish(ctx, msg)
	case Await:
		return t.await.do(ctx, req, msg, t.publish)
	}
	if _, err := t.nc.RequestMsgWithContext(ctx, msg); err != nil {
		return &Error{err: err}
	}
	return nil
}

// Start implements loadgen.Starter in await mode with asynchronous publishing: the
// engine's pacer publishes each request in schedule order, so the stream holds the events
// in the order the workload produced them, as an event-time consumer expects; workers only
// wait for the ack and the answer. In other modes it declines and the engine calls Do.
func (t *Target) Start(req loadgen.Request) (func(context.Context) error, bool) {
	if t.cfg.Mode != Await || !t.cfg.AsyncPublish {
		return nil, false
	}
	return t.await.start(req, t.message(req), t.js), true
}

var _ loadgen.Starter = (*Target)(nil)

// publish sends msg to JetStream and waits for its acknowledgement. No client-side
// retries: a retried publish would hide a stall inside one sample.
func (t *Target) publish(ctx context.Context, msg *nats.Msg) error {
	if !t.cfg.AsyncPublish {
		if _, err := t.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0)); err != nil {
			return &Error{err: err}
		}
		return nil
	}
	fut, err := t.js.PublishMsgAsync(msg)
	if err != nil {
		return &Error{err: err}
	}
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return &Error{err: err}
	case <-ctx.Done():
		return &Error{err: ctx.Err()}
	}
}

// Error wraps a NATS failure with a report category.
type Error struct{ err error }

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Kind implements loadgen.KindError.
func (e *Error) Kind() string {
	switch {
	case errors.Is(e.err, ErrNoAnswer):
		return KindNoAnswer
	case errors.Is(e.err, ErrDuplicateID):
		return KindDuplicateID
	case errors.Is(e.err, ErrNoID):
		return KindNoID
	case errors.Is(e.err, nats.ErrNoResponders), errors.Is(e.err, jetstream.ErrNoStreamResponse):
		return "nats: no responders"
	case errors.Is(e.err, context.DeadlineExceeded), errors.Is(e.err, nats.ErrTimeout):
		return loadgen.KindTimeout
	case errors.Is(e.err, context.Canceled):
		return loadgen.KindCanceled
	case errors.Is(e.err, nats.ErrConnectionClosed), errors.Is(e.err, nats.ErrConnectionReconnecting):
		return "nats: connection lost"
	}
	var apiErr *jetstream.APIError
	if errors.As(e.err, &apiErr) {
		return fmt.Sprintf("jetstream: %d", apiErr.ErrorCode)
	}
	return "nats: other"
}

// Close implements loadgen.Target.
func (t *Target) Close() error {
	t.nc.Close()
	return nil
}

func (t *Target) String() string {
	subj := strings.Join(append([]string{t.cfg.Subject}, t.cfg.ExtraSubjects...), ",")
	s := fmt.Sprintf("%s %s %s", t.cfg.URL, t.cfg.Mode, subj)
	switch t.cfg.Mode {
	case Publish:
		s += " (JetStream, timed to ack)"
	case Await:
		s += fmt.Sprintf(" → %s (JetStream publish, timed to the answer event)", t.cfg.AwaitSubject)
	default:
		s += " (timed to reply)"
	}
	return s
}

// Notes implements loadgen.Annotator: in await mode, what was measured and the answers
// that matched no request.
func (t *Target) Notes() []string {
	if t.await == nil {
		return nil
	}
	return t.await.notes()
}

// AwaitStats counts, in await mode, the answer events that did not complete a request.
type AwaitStats struct {
	// Matched answers completed a waiting request.
	Matched int64
	// Unmatched answers carried an id no request was waiting for: unknown, answered
	// twice, or arriving after their request timed out.
	Unmatched int64
	// Uncorrelated answers had no id Correlate could read.
	Uncorrelated int64
	// Dropped answers were discarded by the client because the subscription's pending
	// buffer was full (a slow consumer); their requests time out.
	Dropped int64
}

// AwaitStats returns the await-mode counters so far (zero outside await mode).
func (t *Target) AwaitStats() AwaitStats {
	if t.await == nil {
		return AwaitStats{}
	}
	return t.await.stats()
}
