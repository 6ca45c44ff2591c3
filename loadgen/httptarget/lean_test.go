package httptarget

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
)

// rawServer answers every request on a connection with reply, then closes the connection
// if closeAfter is set. It counts connections.
func rawServer(t *testing.T, reply string, closeAfter bool) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					if _, err := c.Write([]byte(reply)); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/x", &conns
}

func newLean(t *testing.T, url string) *Target {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL = url
	tg, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tg.lean == nil {
		t.Fatal("DefaultConfig did not select the lean client for http")
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func TestLeanFraming(t *testing.T) {
	tests := []struct {
		name       string
		reply      string
		closeAfter bool
		wantKind   string // "" for success
		wantConns  int64  // connections used by three requests
	}{
		{"content-length keep-alive", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "", 1},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n", false, "", 1},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true, "", 3},
		{"http/1.0 body until close", "HTTP/1.0 200 OK\r\n\r\nbody until close", true, "", 3},
		{"100 continue then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, "", 1},
		{"204 no body", "HTTP/1.1 204 No Content\r\n\r\n", false, "", 1},
		{"503 keeps the connection", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", false, "http 503", 1},
		{"garbage", "SMTP ready\r\n\r\n", false, "http: bad response", 3},
		{"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n", false, "http: bad response", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := rawServer(t, tc.reply, tc.closeAfter)
			tg := newLean(t, url)
			for i := range 3 {
				err := tg.Do(context.Background(), loadgen.Request{Body: []byte(`{}`)})
				if tc.wantKind == "" && err != nil {
					t.Fatalf("Do #%d = %v, want nil", i, err)
				}
				if tc.wantKind != "" && loadgen.ErrorKind(err) != tc.wantKind {
					t.Fatalf("Do #%d = %v (kind %q), want kind %q", i, err, loadgen.ErrorKind(err), tc.wantKind)
				}
			}
			// The reachability check in New also opens a connection.
			if got := conns.Load() - 1; got != tc.wantConns {
				t.Errorf("three requests used %d connections, want %d", got, tc.wantConns)
			}
		})
	}
}

// TestLeanRetriesStaleConnection: a server that closes idle keep-alive connections must not
// turn the next request into an error.
func TestLeanRetriesStaleConnection(t *testing.T) {
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		IdleTimeout: 20 * time.Millisecond,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	tg := newLean(t, "http://"+ln.Addr().String()+"/")
	for i := range 3 {
		if err := tg.Do(context.Background(), loadgen.Request{}); err != nil {
			t.Fatalf("Do #%d after the server dropped the idle connection = %v, want nil", i, err)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

func TestLeanTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	tg := newLean(t, "http://"+ln.Addr().String()+"/")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = tg.Do(ctx, loadgen.Request{})
	if loadgen.ErrorKind(err) != loadgen.KindTimeout || time.Since(start) > time.Second {
		t.Errorf("Do past its deadline = %v (kind %q) after %v, want a timeout soon after 50ms", err, loadgen.ErrorKind(err), time.Since(start))
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	err = tg.Do(ctx, loadgen.Request{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("Do cancelled = %v after %v, want context.Canceled soon after 50ms", err, time.Since(start))
	}
}

func TestLeanRequestHead(t *testing.T) {
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.RequestURI() + " host=" + r.Host + " len=" + r.Header.Get("Content-Length") + " key=" + r.Header.Get("X-Loadgen-Key") + " a=" + strings.Join(r.Header.Values("A"), ",")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URL = "http://" + ln.Addr().String() + "/v2/models/m/infer?x=1"
	cfg.Header = http.Header{"A": {"1", "2"}}
	tg, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Do(context.Background(), loadgen.Request{Key: "k7", Body: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	want := "POST /v2/models/m/infer?x=1 host=" + ln.Addr().String() + " len=3 key=k7 a=1,2"
	if s := <-got; s != want {
		t.Errorf("server saw %q, want %q", s, want)
	}
}
