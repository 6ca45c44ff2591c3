package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/server"
)

// constRecommender returns the same answer every time, at no cost: what remains is the
// server's own work.
type constRecommender struct{ resp recommend.Response }

func (c *constRecommender) Recommend(_ context.Context, req recommend.Request) (recommend.Response, error) {
	r := c.resp
	r.User = req.User
	return r, nil
}

// discardWriter is a ResponseWriter that keeps nothing but reuses its header map, so the
// benchmark measures the handler, not the recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func benchServer(b *testing.B) http.Handler {
	b.Helper()
	items := make([]recommend.Item, 10)
	for i := range items {
		items[i] = recommend.Item{ID: int64(1000 + i*37), Score: 0.9 - float64(i)*0.0371}
	}
	rec := &constRecommender{resp: recommend.Response{Items: items, ModelVersion: "recsys-ranker/v3", IndexVersion: "recsys-index/v2",
		Path: "personal", Candidates: 200, Timings: recommend.Timings{Retrieve: 412 * time.Microsecond, Features: 95 * time.Microsecond,
			Rank: 1250 * time.Microsecond, Rerank: 31 * time.Microsecond}}}
	srv, err := server.New(rec, server.DefaultConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler()
}

// BenchmarkServeRecommendations is the server's own overhead per request, the floor of the
// path: routing, query parsing, the deadline, metrics and the JSON answer, with a
// recommender that returns 10 items at no cost. It reports p50 and p99 per call too.
func BenchmarkServeRecommendations(b *testing.B) {
	h := benchServer(b)
	req := httptest.NewRequest(http.MethodGet, "/v1/users/196/recommendations?k=10&diversity=0.2", nil)
	w := &discardWriter{h: http.Header{}}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		t0 := time.Now()
		h.ServeHTTP(w, req)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	if w.code != http.StatusOK || w.n == 0 {
		b.Fatalf("answered %d with %d bytes, want 200 and a body", w.code, w.n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkServeRecommendationsParallel is the same on every core at once (contention on
// the metrics and the buffer pool).
func BenchmarkServeRecommendationsParallel(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/v1/users/196/recommendations?k=10&diversity=0.2", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkServeLoopback is one request at a time through a real loopback connection and
// net/http on both sides: the floor a load generator would see, most of it HTTP and TCP.
func BenchmarkServeLoopback(b *testing.B) {
	ts := httptest.NewServer(benchServer(b))
	defer ts.Close()
	c := ts.Client()
	url := ts.URL + "/v1/users/196/recommendations?k=10"
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
