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

// TestURLTemplate: {{key}} in the path or query is replaced by each request's key,
// percent-encoded, by both clients; the server sees the request target it should.
func TestURLTemplate(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv, err := loadgentest.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI)
		mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tests := []struct {
		name, path string
		keys       []string
		body       []byte
		want       []string
	}{
		{"path", "/v1/users/{{key}}/recommendations?k=10", []string{"42", "7", "943"}, nil,
			[]string{"GET /v1/users/42/recommendations?k=10", "GET /v1/users/7/recommendations?k=10", "GET /v1/users/943/recommendations?k=10"}},
		{"query", "/items?user={{key}}&k=3", []string{"a b&c=d", "ü"}, nil,
			[]string{"GET /items?user=a%20b%26c%3Dd&k=3", "GET /items?user=%C3%BC&k=3"}},
		{"twice", "/u/{{key}}/similar/{{key}}", []string{"x/y"}, nil, []string{"GET /u/x%2Fy/similar/x%2Fy"}},
		{"empty key", "/v1/users/{{key}}/recommendations", []string{""}, nil, []string{"GET /v1/users//recommendations"}},
		{"unreserved kept", "/k/{{key}}", []string{"A-z.0_9~"}, nil, []string{"GET /k/A-z.0_9~"}},
		{"with a body", "/score/{{key}}", []string{"5"}, []byte(`{}`), []string{"POST /score/5"}},
		{"no placeholder", "/fixed?k=1", []string{"42"}, nil, []string{"GET /fixed?k=1"}},
	}
	for _, client := range []string{"lean", "std"} {
		for _, tc := range tests {
			t.Run(client+"/"+tc.name, func(t *testing.T) {
				cfg := httptarget.DefaultConfig()
				cfg.URL, cfg.Client = srv.URL+tc.path, client
				tg, err := httptarget.New(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				mu.Lock()
				seen = nil
				mu.Unlock()
				for _, k := range tc.keys {
					if err := tg.Do(context.Background(), loadgen.Request{Key: k, Body: tc.body}); err != nil {
						t.Fatalf("Do(key %q) = %v", k, err)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if strings.Join(seen, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("server saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		}
	}
}

// TestURLTemplateRejected: a placeholder outside the path and query, or any other
// placeholder, is refused before the network is touched.
func TestURLTemplateRejected(t *testing.T) {
	tests := []struct {
		url     string
		wantMsg string
	}{
		{"http://{{key}}.localhost/x", "only in the path or the query"},
		{"http://127.0.0.1/x#{{key}}", "only in the path or the query"},
		{"http://user{{key}}@127.0.0.1/x", "only in the path or the query"},
		{"http://127.0.0.1:{{key}}/x", "{{key}}"},
		{"http://127.0.0.1/{{seq}}", "the only placeholder a URL takes is {{key}}"},
		{"http://127.0.0.1/{{ key }}", "the only placeholder a URL takes is {{key}}"},
		{"http://127.0.0.1/LOADGENKEY0d5c9e", "reserved text"},
	}
	for _, tc := range tests {
		cfg := httptarget.DefaultConfig()
		cfg.URL = tc.url
		err := cfg.Validate()
		if !errors.Is(err, loadgen.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("Validate(%q) = %v, want ErrInvalidConfig mentioning %q", tc.url, err, tc.wantMsg)
		}
	}
	cfg := httptarget.DefaultConfig()
	cfg.URL = "http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10&x={{key}}"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(%q) = %v, want nil", cfg.URL, err)
	}
}
