package eventlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbeddedURL is the Config.URL that asks Open to start an in-process server.
const EmbeddedURL = "embedded"

// Config says which server to use and how to talk to it.
type Config struct {
	// URL of a NATS server ("nats://127.0.0.1:4222"), or EmbeddedURL for an in-process server
	// with JetStream on a temporary directory, owned and stopped by the Log.
	URL string
	// Name is the connection name shown in the server's monitoring.
	Name string
	// ConnectTimeout bounds the first connection attempt.
	ConnectTimeout time.Duration
	// RequestTimeout bounds each JetStream API call and publish acknowledgement when the
	// caller's context has no earlier deadline.
	RequestTimeout time.Duration
	// MaxAsyncPending bounds unacknowledged asynchronous publishes in flight.
	MaxAsyncPending int
	// Embedded configures the in-process server when URL is EmbeddedURL.
	Embedded EmbeddedConfig
	// Logger receives connection events and dead-letter notices. Nil discards them.
	Logger *slog.Logger
	// TLS, when set, makes the connection require TLS with this configuration (RootCAs
	// for a private CA; Certificates for client authentication). Nil leaves it to the URL
	// (tls:// asks for TLS with the system roots).
	TLS *tls.Config
}

// DefaultConfig is the local default: an embedded server.
func DefaultConfig() Config {
	return Config{
		URL:             EmbeddedURL,
		Name:            "casebook",
		ConnectTimeout:  2 * time.Second,
		RequestTimeout:  5 * time.Second,
		MaxAsyncPending: 4096,
	}
}

// Validate reports what is wrong with the config, before any connection is tried.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("URL is empty (use a nats:// URL or \"embedded\")"))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ConnectTimeout must be positive, got %v", c.ConnectTimeout))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("RequestTimeout must be positive, got %v", c.RequestTimeout))
	}
	if c.MaxAsyncPending <= 0 {
		errs = append(errs, fmt.Errorf("MaxAsyncPending must be positive, got %d", c.MaxAsyncPending))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: eventlog config: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Log is a connection to the event log. It is safe for concurrent use.
type Log struct {
	cfg      Config
	url      string // the server actually used, credentials removed
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *Embedded
	logger   *slog.Logger
	// streams caches stream handles by name for lookups on the rare path (LastBySubject):
	// a handle only names the stream, so it stays valid; fetching one costs a request.
	streams sync.Map
}

// Open connects to the configured server, or starts the embedded one.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logger = logger.With("component", "eventlog")

	l := &Log{cfg: cfg, logger: logger}
	serverURL := cfg.URL
	if cfg.URL == EmbeddedURL {
		emb, err := StartEmbedded(cfg.Embedded)
		if err != nil {
			return nil, err
		}
		l.embedded = emb
		serverURL = emb.URL()
	}
	l.url = redactURL(serverURL)

	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected", "url", l.url, "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("reconnected", "url", l.url) }),
	}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS.Clone()))
	}
	nc, err := connect(ctx, serverURL, opts)
	if err != nil {
		l.shutdownEmbedded()
		return nil, &UnreachableError{URL: l.url, Err: err}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxAsyncPending))
	if err != nil {
		nc.Close()
		l.shutdownEmbedded()
		return nil, fmt.Errorf("open jetstream on %s: %w", l.url, err)
	}
	l.nc, l.js = nc, js
	return l, nil
}

// connect dials once, honouring ctx as well as the connect timeout.
func connect(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// URL is the server this Log talks to, with credentials removed.
func (l *Log) URL() string { return l.url }

// Conn exposes the underlying connection for what this package does not wrap (request/reply,
// key-value buckets). Prefer the Log's methods for anything that touches streams.
func (l *Log) Conn() *nats.Conn { return l.nc }

// JetStream exposes the underlying JetStream context, for the same reason as Conn.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Close flushes pending publishes and acks, closes the connection and stops the embedded
// server if the Log started one.
func (l *Log) Close() error {
	var err error
	if l.nc != nil && !l.nc.IsClosed() {
		if ferr := l.nc.FlushTimeout(l.cfg.RequestTimeout); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("flush before close: %w", ferr)
		}
		l.nc.Close()
	}
	l.shutdownEmbedded()
	return err
}

// Kill drops the connection at once without flushing, as a crashed process would. Acks
// and publishes still buffered are lost. It exists for failure demonstrations and tests.
func (l *Log) Kill() {
	if l.nc != nil {
		l.nc.Close()
	}
}

func (l *Log) shutdownEmbedded() {
	if l.embedded != nil {
		l.embedded.Shutdown()
		l.embedded = nil
	}
}

// withTimeout applies the request timeout unless ctx already ends sooner.
func (l *Log) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= l.cfg.RequestTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, l.cfg.RequestTimeout)
}
