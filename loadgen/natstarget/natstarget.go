// Package natstarget is the loadgen Target for NATS: JetStream publish, timed to the
// stream's acknowledgement (the message is stored), or core request/reply, timed to the
// reply.
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
)

// Mode is what one request means.
type Mode string

const (
	// Publish publishes to a JetStream stream and waits for its acknowledgement.
	Publish Mode = "publish"
	// Request sends a core NATS request and waits for the reply.
	Request Mode = "request"
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
	if c.Mode != Publish && c.Mode != Request {
		return fmt.Errorf("%w: NATS mode %q (want publish or request)", loadgen.ErrInvalidConfig, c.Mode)
	}
	if c.Subject == "" || strings.ContainsAny(c.Subject, " \t\r\n*>") {
		return fmt.Errorf("%w: NATS subject %q must be a literal subject (no spaces or wildcards)", loadgen.ErrInvalidConfig, c.Subject)
	}
	if c.ConnectTimeout <= 0 {
		return fmt.Errorf("%w: connect timeout must be positive, got %v", loadgen.ErrInvalidConfig, c.ConnectTimeout)
	}
	return nil
}

// Target sends requests over one NATS connection.
type Target struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
}

var _ loadgen.Target = (*Target)(nil)

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
	if cfg.Mode == Publish {
		if err := t.setupStream(ctx); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return t, nil
}

func (t *Target) setupStream(ctx context.Context) error {
	js, err := jetstream.New(t.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	t.js = js
	ctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	name, err := js.StreamNameBySubject(ctx, t.cfg.Subject)
	switch {
	case err == nil:
		_ = name
		return nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: find the stream for subject %q (is JetStream enabled?): %w", loadgen.ErrUnreachable, t.cfg.Subject, err)
	case t.cfg.Stream == "":
		return fmt.Errorf("%w: no JetStream stream captures subject %q; create one or name one to create with --nats-stream", loadgen.ErrInvalidConfig, t.cfg.Subject)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      t.cfg.Stream,
		Subjects:  []string{t.cfg.Subject},
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

// Do implements loadgen.Target.
func (t *Target) Do(ctx context.Context, req loadgen.Request) error {
	msg := &nats.Msg{Subject: t.cfg.Subject, Data: req.Body}
	if req.Key != "" && t.cfg.KeyHeader != "" {
		msg.Header = nats.Header{t.cfg.KeyHeader: []string{req.Key}}
	}
	if t.cfg.Mode == Publish {
		// No client-side retries: a retried publish would hide a stall inside one sample.
		if _, err := t.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0)); err != nil {
			return &Error{err: err}
		}
		return nil
	}
	if _, err := t.nc.RequestMsgWithContext(ctx, msg); err != nil {
		return &Error{err: err}
	}
	return nil
}

// Error wraps a NATS failure with a report category.
type Error struct{ err error }

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Kind implements loadgen.KindError.
func (e *Error) Kind() string {
	switch {
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
	s := fmt.Sprintf("%s %s %s", t.cfg.URL, t.cfg.Mode, t.cfg.Subject)
	if t.cfg.Mode == Publish {
		s += " (JetStream, timed to ack)"
	} else {
		s += " (timed to reply)"
	}
	return s
}
