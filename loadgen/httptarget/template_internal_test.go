package httptarget

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/casebook-ml/casebook/loadgen"
)

// BenchmarkLeanRequestHead is the lean client's per-request formatting, with and without
// a URL template: the cost of the template is one more append of the key.
func BenchmarkLeanRequestHead(b *testing.B) {
	for _, tc := range []struct{ name, url string }{
		{"fixed", "http://127.0.0.1:8080/v1/users/196/recommendations?k=10"},
		{"template", "http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.URL = tc.url
			u, _, err := parseURL(cfg.URL)
			if err != nil {
				b.Fatal(err)
			}
			l := newLeanClient(cfg, u, u.Host, nil)
			req := loadgen.Request{Key: "196"}
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = l.noBody.appendRequest(buf[:0], req, &cfg)
			}
		})
	}
}

// TestLeanHeadMatchesStd: the lean client's request line and headers for a template URL
// parse back, with net/http, to the URL the std client would build.
func TestLeanHeadMatchesStd(t *testing.T) {
	cfg := DefaultConfig()
	cfg.URL = "http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10&again={{key}}"
	cfg.Header = http.Header{"X-A": {"1"}}
	u, n, err := parseURL(cfg.URL)
	if err != nil || n != 2 {
		t.Fatalf("parseURL = %v, %d placeholders; want 2", err, n)
	}
	l := newLeanClient(cfg, u, u.Host, nil)
	got := string(l.noBody.appendRequest(nil, loadgen.Request{Key: "a/b"}, &cfg))
	want := "GET /v1/users/a%2Fb/recommendations?k=10&again=a%2Fb HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: casebook-loadgen\r\nX-A: 1\r\nX-Loadgen-Key: a/b\r\n\r\n"
	if got != want {
		t.Errorf("lean request =\n%q\nwant\n%q", got, want)
	}
	std := string(fillTemplate(nil, []string{"http://127.0.0.1:8080/v1/users/", "/recommendations?k=10&again=", ""}, "a/b"))
	su, err := url.Parse(std)
	if err != nil || su.RequestURI() != "/v1/users/a%2Fb/recommendations?k=10&again=a%2Fb" {
		t.Errorf("std URL %q → request URI %q (%v), want the lean client's", std, su.RequestURI(), err)
	}
}
