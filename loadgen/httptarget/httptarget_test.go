package httptarget_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

func TestDo(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv, err := loadgentest.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" key="+r.Header.Get("X-Loadgen-Key")+" ct="+r.Header.Get("Content-Type")+" x="+r.Header.Get("X-Test"))
		mu.Unlock()
		switch r.URL.Path {
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/big":
			// Large enough to be sent chunked: the target must read it to the end.
			w.Write([]byte(strings.Repeat("x", 100<<10)))
		default:
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tests := []struct {
		path, method string
		req          loadgen.Request
		wantKind     string
		wantSeen     string
	}{
		{"/score", "", loadgen.Request{Key: "42", Body: []byte(`{"a":1}`)}, "", "POST /score key=42 ct=application/json x=yes"},
		{"/score", "", loadgen.Request{}, "", "GET /score key= ct= x=yes"},
		{"/score", "PUT", loadgen.Request{Body: []byte(`{}`)}, "", "PUT /score key= ct=application/json x=yes"},
		{"/big", "", loadgen.Request{}, "", "GET /big key= ct= x=yes"},
		{"/busy", "", loadgen.Request{Body: []byte(`{}`)}, "http 503", "POST /busy key= ct=application/json x=yes"},
	}
	for _, client := range []string{"lean", "std"} {
		for _, tc := range tests {
			cfg := httptarget.DefaultConfig()
			cfg.URL, cfg.Method, cfg.Client = srv.URL+tc.path, tc.method, client
			cfg.Header = http.Header{"X-Test": {"yes"}}
			tg, err := httptarget.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = tg.Do(context.Background(), tc.req)
			tg.Close()
			if tc.wantKind == "" && err != nil {
				t.Errorf("Do(%s %s) = %v, want nil", tc.method, tc.path, err)
			}
			if tc.wantKind != "" && loadgen.ErrorKind(err) != tc.wantKind {
				t.Errorf("ErrorKind(Do(%s)) = %q (%v), want %q", tc.path, loadgen.ErrorKind(err), err, tc.wantKind)
			}
			mu.Lock()
			last := seen[len(seen)-1]
			mu.Unlock()
			if last != tc.wantSeen {
				t.Errorf("%s client: server saw %q, want %q", client, last, tc.wantSeen)
			}
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	tests := []struct {
		url   string
		allow []string
		want  error
	}{
		{"ftp://127.0.0.1/x", nil, loadgen.ErrUnknownTarget},
		{"http://10.0.0.1/x", nil, loadgen.ErrHostNotAllowed},
		{"http://example.com/x", []string{"other.example.com"}, loadgen.ErrHostNotAllowed},
		{"http://127.0.0.1:1/x", nil, loadgen.ErrUnreachable},
		{"http:///x", nil, loadgen.ErrInvalidConfig},
		{"::bad", nil, loadgen.ErrInvalidConfig},
	}
	for _, tc := range tests {
		cfg := httptarget.DefaultConfig()
		cfg.URL, cfg.AllowHosts = tc.url, tc.allow
		tg, err := httptarget.New(context.Background(), cfg)
		if err == nil {
			tg.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("New(%q) error = %v, want %v", tc.url, err, tc.want)
		}
	}
}
