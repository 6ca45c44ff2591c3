package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// A Part is one long-running piece of a process (a server, a consumer, a follower). It runs
// until ctx ends or it fails, and returns nil when it stopped because ctx ended.
type Part func(ctx context.Context) error

// Run runs every part concurrently until one returns, then cancels the others and waits for
// them. The error is the first part's to return; if that is nil (or the context.Canceled of
// a shutdown), the first real error any other part returns while stopping. So a part that
// fails stops the whole process with its error, and ctx ending (SIGINT, SIGTERM) stops it
// cleanly with nil.
func Run(ctx context.Context, parts ...Part) error {
	if len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errc <- p(ctx) }()
	}
	var first error
	for range parts {
		err := <-errc
		cancel()
		if first == nil && err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
			first = err
		}
	}
	return first
}

// ShutdownTimeout bounds how long Serve waits for requests in flight when its context ends.
const ShutdownTimeout = 10 * time.Second

// Serve is the Part that serves srv on ln until ctx ends, then shuts it down gracefully.
// Serve's own failure (the listener closing under it, say) is returned, not dropped.
func Serve(srv *http.Server, ln net.Listener) Part {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil && err == nil {
			err = serr
		}
		return err
	}
}

// NewServer is an http.Server with the timeouts every Casebook server sets.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
}
