// Package httptarget is the loadgen Target for HTTP services: it sends each request's body
// (JSON, typically an Open Inference Protocol infer request) to one URL over keep-alive
// connections and times it to the end of the response body.
package httptarget

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
)

// Config describes the endpoint.
type Config struct {
	// URL is the full address requests go to, e.g. http://127.0.0.1:8080/v2/models/fraud/infer.
	// Its path and query may hold {{key}} (KeyPlaceholder), replaced in each request by the
	// request's Key, percent-encoded: http://127.0.0.1:8080/v1/users/{{key}}/recommendations.
	URL string
	// Method is POST when empty and the workload has a body, GET when it has none.
	Method string
	// ContentType is sent with every request that has a body.
	ContentType string
	// Header is added to every request.
	Header http.Header
	// KeyHeader, when set, carries each request's Key (an entity id) in this header.
	KeyHeader string
	// MaxConns bounds open connections; set it to the engine's worker count.
	MaxConns int
	// AllowHosts names non-loopback hosts that may be targeted (see loadgen.CheckHost).
	AllowHosts []string
	// DialTimeout bounds the reachability check and each new connection.
	DialTimeout time.Duration
	// Client is "lean" (the default for http: a minimal HTTP/1.1 client, about half the
	// CPU per request, so the generator's own overhead stays small) or "std" (Go's
	// net/http, always used for https).
	Client string
}

// DefaultConfig returns a JSON POST configuration with no URL.
func DefaultConfig() Config {
	return Config{
		ContentType: "application/json",
		KeyHeader:   "X-Loadgen-Key",
		MaxConns:    64,
		DialTimeout: 2 * time.Second,
		Client:      "lean",
	}
}

// Validate checks the URL (a template, if it holds {{key}}), the scheme and the host,
// without touching the network.
func (c Config) Validate() error {
	u, _, err := parseURL(c.URL)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q in %q (httptarget takes http or https)", loadgen.ErrUnknownTarget, u.Scheme, c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: target %q has no host", loadgen.ErrInvalidConfig, c.URL)
	}
	if err := loadgen.CheckHost(u.Hostname(), c.AllowHosts); err != nil {
		return fmt.Errorf("target %q: %w", c.URL, err)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("%w: max connections must be positive, got %d", loadgen.ErrInvalidConfig, c.MaxConns)
	}
	if c.Client != "lean" && c.Client != "std" {
		return fmt.Errorf("%w: HTTP client %q (want lean or std)", loadgen.ErrInvalidConfig, c.Client)
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("%w: dial timeout must be positive, got %v", loadgen.ErrInvalidConfig, c.DialTimeout)
	}
	return nil
}

// Target sends requests to one HTTP endpoint.
type Target struct {
	cfg    Config
	url    *url.URL
	client *http.Client
	lean   *leanClient
	bufs   sync.Pool
	// urlParts is the URL split around its {{key}} placeholders; nil when it has none.
	urlParts []string
}

var _ loadgen.Target = (*Target)(nil)

// New validates cfg and checks that the endpoint accepts TCP connections, so an unreachable
// target is reported (wrapping loadgen.ErrUnreachable) before any load starts.
func New(ctx context.Context, cfg Config) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, placeholders, _ := parseURL(cfg.URL)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", loadgen.ErrUnreachable, cfg.URL, err)
	}
	_ = conn.Close()
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        cfg.MaxConns,
		MaxIdleConnsPerHost: cfg.MaxConns,
		MaxConnsPerHost:     cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	t := &Target{cfg: cfg, url: u, client: &http.Client{Transport: tr}}
	if placeholders > 0 {
		t.urlParts = strings.Split(cfg.URL, KeyPlaceholder)
	}
	if cfg.Client == "lean" && u.Scheme == "http" {
		t.lean = newLeanClient(cfg, u, addr, d)
	}
	t.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return t, nil
}

// StatusError is an HTTP answer outside 2xx.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "http status " + strconv.Itoa(e.Code) }

// Kind implements loadgen.KindError: errors are grouped by status code.
func (e *StatusError) Kind() string { return "http " + strconv.Itoa(e.Code) }

// Do implements loadgen.Target. The response body is read to the end: a request is done
// when its whole answer has arrived.
func (t *Target) Do(ctx context.Context, req loadgen.Request) error {
	if t.lean != nil {
		return t.lean.do(ctx, req, &t.cfg)
	}
	method := t.cfg.Method
	if method == "" {
		method = http.MethodGet
		if len(req.Body) > 0 {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	target := t.cfg.URL
	if t.urlParts != nil {
		target = string(fillTemplate(make([]byte, 0, len(t.cfg.URL)+len(req.Key)), t.urlParts, req.Key))
	}
	hr, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, vs := range t.cfg.Header {
		hr.Header[k] = vs
	}
	if len(req.Body) > 0 && t.cfg.ContentType != "" {
		hr.Header["Content-Type"] = []string{t.cfg.ContentType}
	}
	if req.Key != "" && t.cfg.KeyHeader != "" {
		hr.Header.Set(t.cfg.KeyHeader, req.Key)
	}
	resp, err := t.client.Do(hr)
	if err != nil {
		return err
	}
	bp := t.bufs.Get().(*[]byte)
	_, err = io.CopyBuffer(discard{}, resp.Body, *bp)
	t.bufs.Put(bp)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode}
	}
	return nil
}

// discard is io.Discard without its ReaderFrom, so CopyBuffer uses the pooled buffer.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Close implements loadgen.Target.
func (t *Target) Close() error {
	if t.lean != nil {
		t.lean.close()
	}
	t.client.CloseIdleConnections()
	return nil
}

func (t *Target) String() string {
	if t.lean != nil {
		return t.cfg.URL
	}
	return t.cfg.URL + " (net/http client)"
}
