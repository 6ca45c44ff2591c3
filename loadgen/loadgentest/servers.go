// Package loadgentest provides the servers Casebook measures its load generator against: a
// trivial HTTP handler that answers at once (so what the generator reports against it is its
// own floor) and a handler that stalls every request arriving during a set window (a GC
// pause, a failover), used to show coordinated omission.
package loadgentest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// trivialBody is what the trivial server answers: small, valid JSON, fixed length.
var trivialBody = []byte(`{"ok":true}` + "\n")

// TrivialHandler answers every request with 200 and a tiny JSON body after reading the
// request body, doing nothing else.
func TrivialHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{"12"}
		_, _ = w.Write(trivialBody)
	})
}

// Stall answers like TrivialHandler, except that a request arriving inside the armed
// window is held until the window ends, as if the server had frozen.
type Stall struct {
	mu          sync.Mutex
	from, until time.Time
	held        int
}

// NewStall returns a Stall with no window armed.
func NewStall() *Stall { return &Stall{} }

// Arm makes requests arriving in [at, at+d) wait until at+d.
func (s *Stall) Arm(at time.Time, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.until = at, at.Add(d)
}

// Held returns how many requests the stall has held so far.
func (s *Stall) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// ServeHTTP implements http.Handler.
func (s *Stall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	now := time.Now()
	s.mu.Lock()
	var wait time.Duration
	if !s.from.IsZero() && !now.Before(s.from) && now.Before(s.until) {
		wait = s.until.Sub(now)
		s.held++
	}
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(trivialBody)
}

// Server is an HTTP server on a loopback port, started in-process.
type Server struct {
	// URL is the server's base address, e.g. http://127.0.0.1:40123.
	URL string
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// Start serves h on addr (use "127.0.0.1:0" for any free loopback port) until Close.
func Start(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:  ln,
	}
	s.wg.Go(func() { _ = s.srv.Serve(ln) })
	return s, nil
}

// Close stops the server, giving open requests a second to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	s.wg.Wait()
	return err
}
