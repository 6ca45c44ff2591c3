package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ErrUnhealthy is what HealthCheck returns when the server answered, but not with a 2xx.
var ErrUnhealthy = errors.New("unhealthy")

// HealthCheck GETs url and returns nil when it answers 2xx within timeout. It is what a
// container's HEALTHCHECK runs: the images have no shell, curl or wget, so each long-running
// binary checks its own health endpoint with its `healthcheck` command.
func HealthCheck(ctx context.Context, rawURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: GET %s: %s: %s", ErrUnhealthy, rawURL, resp.Status, body)
	}
	return nil
}

// HealthCommand is a binary's `healthcheck [--url URL] [--timeout D]` command: it checks
// defaultURL (the health endpoint of the binary's server on its default address) or
// --url, prints "ok" and returns nil when healthy, and an error (exit code 1) when not.
func HealthCommand(ctx context.Context, prog, defaultURL string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(prog+" healthcheck", flag.ContinueOnError)
	u := fs.String("url", defaultURL, "health endpoint to GET")
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	synopsis := prog + " healthcheck [--url URL] [--timeout D]\n  exits 0 when the health endpoint answers 2xx (a container's HEALTHCHECK: the images have no shell)"
	if err := Parse(fs, synopsis, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usage(FlagUsage(fs, synopsis), "unexpected argument %q", fs.Arg(0))
	}
	if p, err := url.Parse(*u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return Usage(FlagUsage(fs, synopsis), "--url %q: want http://HOST:PORT/PATH", *u)
	}
	if *timeout <= 0 {
		return Usage(FlagUsage(fs, synopsis), "--timeout must be positive, got %v", *timeout)
	}
	if err := HealthCheck(ctx, *u, *timeout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
