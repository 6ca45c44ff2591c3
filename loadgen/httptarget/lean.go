package httptarget

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
)

// leanClient speaks just enough HTTP/1.1 to generate load over plain http: keep-alive
// connections (one per request in flight), the request head built once, and responses read
// for their status and framing (Content-Length, chunked, or until close) and discarded.
// Against a trivial server it costs roughly half the CPU of net/http per request, which is
// the generator's floor; anything it does not understand is an error of kind "http: bad
// response", never a silent success.
type leanClient struct {
	addr string
	// Request line and fixed headers, for requests with and without a body (they differ
	// in method when none is configured: POST and GET, as with net/http).
	withBody, noBody leanHead
	dialer           *net.Dialer
	idle             chan *leanConn
}

// leanHead is a request line and the fixed headers, split around the request URI's
// {{key}} placeholders: the key goes between consecutive parts (one part when the URL has
// no placeholder).
type leanHead struct {
	method string
	parts  [][]byte
}

type leanConn struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func newLeanClient(cfg Config, u *url.URL, addr string, d *net.Dialer) *leanClient {
	head := func(method string) leanHead {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: casebook-loadgen\r\n", method, u.RequestURI(), u.Host)
		keys := make([]string, 0, len(cfg.Header))
		for k := range cfg.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range cfg.Header[k] {
				fmt.Fprintf(&b, "%s: %s\r\n", k, v)
			}
		}
		// u was parsed with keyMarker in place of each placeholder (parseURL), and only
		// the request URI, in the request line, can hold one.
		line, rest, _ := bytes.Cut(b.Bytes(), []byte("\r\n"))
		var parts [][]byte
		for _, p := range bytes.Split(line, []byte(keyMarker)) {
			parts = append(parts, bytes.Clone(p))
		}
		last := len(parts) - 1
		parts[last] = append(append(parts[last], "\r\n"...), rest...)
		return leanHead{method: method, parts: parts}
	}
	l := &leanClient{addr: addr, dialer: d, idle: make(chan *leanConn, cfg.MaxConns)}
	if cfg.Method != "" {
		l.withBody = head(cfg.Method)
		l.noBody = l.withBody
	} else {
		l.withBody, l.noBody = head(http.MethodPost), head(http.MethodGet)
	}
	return l
}

// errBadResponse marks a response the lean client could not parse.
var errBadResponse = errors.New("bad response")

// leanError is a failure of the lean client with a report category.
type leanError struct {
	kind string
	err  error
}

func (e *leanError) Error() string { return e.err.Error() }
func (e *leanError) Unwrap() error { return e.err }
func (e *leanError) Kind() string  { return e.kind }

var _ loadgen.KindError = (*leanError)(nil)

// aLongTimeAgo is a deadline in the past, used to interrupt a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

func (l *leanClient) do(ctx context.Context, req loadgen.Request, cfg *Config) error {
	lc, reused, err := l.get(ctx)
	if err != nil {
		return err
	}
	err = l.roundTrip(ctx, lc, req, cfg)
	if err != nil && reused && errors.Is(err, errStaleConn) && ctx.Err() == nil {
		// The server had closed this idle connection before we used it: nothing was
		// processed, so send once more on a fresh one (net/http does the same).
		_ = lc.c.Close()
		if lc, _, err = l.dial(ctx); err != nil {
			return err
		}
		err = l.roundTrip(ctx, lc, req, cfg)
	}
	// A complete response (any status) leaves the connection reusable unless the server
	// asked to close it; anything else leaves it in an unknown state.
	var se *StatusError
	complete := err == nil || errors.As(err, &se) || errors.Is(err, errConnClose)
	if complete && !errors.Is(err, errConnClose) {
		select {
		case l.idle <- lc:
		default:
			_ = lc.c.Close()
		}
	} else {
		_ = lc.c.Close()
	}
	switch {
	case complete && se != nil:
		return se
	case complete:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// close closes the idle connections.
func (l *leanClient) close() {
	for {
		select {
		case lc := <-l.idle:
			_ = lc.c.Close()
		default:
			return
		}
	}
}

func (l *leanClient) get(ctx context.Context) (*leanConn, bool, error) {
	select {
	case lc := <-l.idle:
		return lc, true, nil
	default:
	}
	lc, _, err := l.dial(ctx)
	return lc, false, err
}

func (l *leanClient) dial(ctx context.Context) (*leanConn, bool, error) {
	c, err := l.dialer.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return nil, false, err
	}
	return &leanConn{c: c, br: bufio.NewReaderSize(c, 16<<10), buf: make([]byte, 0, 1024)}, false, nil
}

// errStaleConn marks a reused connection that was closed before any response byte arrived.
var errStaleConn = errors.New("connection closed before response")

// errConnClose means the response was fine but the connection must not be reused.
var errConnClose = errors.New("connection: close")

func (l *leanClient) roundTrip(ctx context.Context, lc *leanConn, req loadgen.Request, cfg *Config) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	if err := lc.c.SetDeadline(dl); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = lc.c.SetDeadline(aLongTimeAgo) })
	defer stop()

	h := l.noBody
	if len(req.Body) > 0 {
		h = l.withBody
	}
	b := h.appendRequest(lc.buf[:0], req, cfg)
	lc.buf = b[:0]
	if _, err := lc.c.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errStaleConn, err)
	}
	return readResponse(lc.br, h.method == http.MethodHead)
}

// appendRequest appends the whole request: the head with the key in place of the URL's
// placeholders, the per-request headers, and the body.
func (h *leanHead) appendRequest(b []byte, req loadgen.Request, cfg *Config) []byte {
	b = append(b, h.parts[0]...)
	for _, p := range h.parts[1:] {
		b = appendKey(b, req.Key)
		b = append(b, p...)
	}
	if req.Key != "" && cfg.KeyHeader != "" {
		b = append(b, cfg.KeyHeader...)
		b = append(b, ": "...)
		b = append(b, req.Key...)
		b = append(b, "\r\n"...)
	}
	if len(req.Body) > 0 && cfg.ContentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, cfg.ContentType...)
		b = append(b, "\r\n"...)
	}
	if len(req.Body) > 0 || (h.method != http.MethodGet && h.method != http.MethodHead) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(req.Body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, req.Body...)
	return b
}

// readResponse reads one response, discarding its body, and returns a *StatusError for a
// status outside 2xx.
func readResponse(br *bufio.Reader, isHead bool) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if len(line) == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%w: %w", errStaleConn, err)
			}
			return err
		}
		// "HTTP/1.1 200 OK"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return &leanError{kind: "http: bad response", err: fmt.Errorf("%w: status line %q", errBadResponse, line)}
		}
		code, err := strconv.Atoi(string(line[9:12]))
		if err != nil {
			return &leanError{kind: "http: bad response", err: fmt.Errorf("%w: status line %q", errBadResponse, line)}
		}
		closeAfter := line[7] == '0' // HTTP/1.0 closes unless told otherwise
		length, chunked, err := readHeaders(br, &closeAfter)
		if err != nil {
			return err
		}
		if code >= 100 && code < 200 && code != 101 {
			continue // 100 Continue and friends: the real response follows
		}
		switch {
		case isHead || code == 204 || code == 304:
		case chunked:
			if err := discardChunked(br); err != nil {
				return err
			}
		case length >= 0:
			if _, err := br.Discard(int(length)); err != nil {
				return err
			}
		default:
			// No framing: the body runs until the server closes the connection.
			if _, err := io.Copy(io.Discard, br); err != nil {
				return err
			}
			closeAfter = true
		}
		var status error
		if code < 200 || code > 299 {
			status = &StatusError{Code: code}
		}
		if closeAfter {
			return errors.Join(status, errConnClose)
		}
		return status
	}
}

// readHeaders reads header lines up to the blank line, noting the body's framing.
func readHeaders(br *bufio.Reader, closeAfter *bool) (length int64, chunked bool, err error) {
	length = -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return length, chunked, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, &leanError{kind: "http: bad response", err: fmt.Errorf("%w: header line %q", errBadResponse, line)}
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, false, &leanError{kind: "http: bad response", err: fmt.Errorf("%w: Content-Length %q", errBadResponse, value)}
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				*closeAfter = true
			} else if bytes.Contains(v, []byte("keep-alive")) {
				*closeAfter = false
			}
		}
	}
}

// discardChunked reads a chunked body to its end, trailers included.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return &leanError{kind: "http: bad response", err: fmt.Errorf("%w: chunk size %q", errBadResponse, line)}
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
