package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/casebook-ml/casebook/loadgen/loadgentest"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// serveConfig is what `loadgen serve-trivial` was asked to do.
type serveConfig struct {
	Addr string
	For  time.Duration
}

func defaultServeConfig() serveConfig { return serveConfig{Addr: "127.0.0.1:0"} }

// Validate checks the listen address.
func (c serveConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: --addr %q: %v", scenario.ErrUsage, c.Addr, err)
	}
	if c.For < 0 {
		return fmt.Errorf("%w: --for must not be negative, got %v", scenario.ErrUsage, c.For)
	}
	return nil
}

// serveTrivial serves loadgentest.TrivialHandler until ctx ends (or For elapses). It prints
// its address first, so scripts can read it when the port was 0.
func serveTrivial(ctx context.Context, cfg serveConfig, stdout io.Writer) error {
	srv, err := loadgentest.Start(cfg.Addr, loadgentest.TrivialHandler())
	if err != nil {
		return fmt.Errorf("serve-trivial: %w", err)
	}
	fmt.Fprintf(stdout, "serving on %s\n", srv.URL)
	if cfg.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.For)
		defer cancel()
	}
	<-ctx.Done()
	return srv.Close()
}
