package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/server"
)

// fakeRecommender answers with resp (its User set to the request's) or err, panics with
// panicWith when set, and, when block is set, waits for the context to end and returns
// its error. It records every request and the deadline it carried.
type fakeRecommender struct {
	resp      recommend.Response
	err       error
	panicWith any
	block     bool

	mu        sync.Mutex
	calls     []recommend.Request
	deadlines []time.Duration // time left until the context's deadline at the call; -1 for none
}

var _ recommend.Recommender = (*fakeRecommender)(nil)

func (f *fakeRecommender) Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.deadlines = append(f.deadlines, left)
	f.mu.Unlock()
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	if f.block {
		<-ctx.Done()
		return recommend.Response{}, fmt.Errorf("retrieve: %w", ctx.Err())
	}
	if f.err != nil {
		return recommend.Response{}, f.err
	}
	r := f.resp
	r.User = req.User
	return r, nil
}

func (f *fakeRecommender) requests() []recommend.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recommend.Request(nil), f.calls...)
}

// threeItems is a personal answer with stage timings.
func threeItems() recommend.Response {
	return recommend.Response{
		Items:        []recommend.Item{{ID: 50, Score: 0.91}, {ID: 181, Score: 0.5}, {ID: 7, Score: -0.25}},
		ModelVersion: "recsys-ranker/v3", IndexVersion: "recsys-index/v2", Path: "personal", Candidates: 200,
		Timings: recommend.Timings{Retrieve: 412 * time.Microsecond, Features: 100 * time.Microsecond, Rank: 1250 * time.Microsecond, Rerank: 30 * time.Microsecond},
	}
}

// fixture is a server over a fake recommender on a loopback httptest server, with its own
// Prometheus registry and captured logs.
type fixture struct {
	rec  *fakeRecommender
	prom *prometheus.Registry
	logs *syncBuffer
	ts   *httptest.Server
	srv  *server.Server
}

func newFixture(t *testing.T, rec *fakeRecommender, mutate func(*server.Config)) *fixture {
	t.Helper()
	f := &fixture{rec: rec, prom: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := server.DefaultConfig()
	cfg.Gatherer = f.prom
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	f.srv, err = server.New(rec, cfg, slog.New(slog.NewTextHandler(f.logs, nil)), f.prom)
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// do sends one request and returns the status, headers and body.
func (f *fixture) do(t *testing.T, method, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// counter returns the value of a counter series (0 when absent).
func (f *fixture) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	if m := f.metric(t, name, labels); m != nil {
		return m.GetCounter().GetValue()
	}
	return 0
}

// histogramCount returns the sample count of a histogram series (0 when absent).
func (f *fixture) histogramCount(t *testing.T, name string, labels map[string]string) uint64 {
	t.Helper()
	if m := f.metric(t, name, labels); m != nil {
		return m.GetHistogram().GetSampleCount()
	}
	return 0
}

func (f *fixture) metric(t *testing.T, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := f.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return m
		}
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// answer is the JSON body of a 200.
type answer struct {
	User         int64            `json:"user"`
	Items        []recommend.Item `json:"items"`
	ModelVersion string           `json:"model_version"`
	IndexVersion string           `json:"index_version"`
	Path         string           `json:"path"`
	Candidates   int              `json:"candidates"`
	TimingsMS    map[string]float64
}

func (a *answer) UnmarshalJSON(b []byte) error {
	type plain answer
	var w struct {
		plain
		TimingsMS map[string]float64 `json:"timings_ms"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = answer(w.plain)
	a.TimingsMS = w.TimingsMS
	return nil
}

var serverTimingEntry = regexp.MustCompile(`^([a-z]+);dur=(\d+\.\d{3})$`)

// parseServerTiming reads "name;dur=1.234, ..." back into milliseconds by name, in order.
func parseServerTiming(t *testing.T, h string) (names []string, ms map[string]float64) {
	t.Helper()
	ms = map[string]float64{}
	for _, e := range strings.Split(h, ", ") {
		m := serverTimingEntry.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("Server-Timing entry %q in %q does not read name;dur=N.NNN", e, h)
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		names, ms[m[1]] = append(names, m[1]), v
	}
	return names, ms
}

func TestRecommendations(t *testing.T) {
	f := newFixture(t, &fakeRecommender{resp: threeItems()}, nil)
	code, h, body := f.do(t, http.MethodGet, "/v1/users/42/recommendations?k=3&diversity=0.2&genre=Comedy%7CDrama")
	if code != http.StatusOK {
		t.Fatalf("GET = %d %s, want 200", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got answer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	want := answer{User: 42, Items: threeItems().Items, ModelVersion: "recsys-ranker/v3", IndexVersion: "recsys-index/v2", Path: "personal", Candidates: 200}
	timings := got.TimingsMS
	got.TimingsMS = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %+v, want %+v", got, want)
	}
	for stage, ms := range map[string]float64{"retrieve": 0.412, "features": 0.1, "rank": 1.25, "rerank": 0.03} {
		if timings[stage] != ms {
			t.Errorf("timings_ms[%s] = %v, want %v", stage, timings[stage], ms)
		}
	}
	if timings["total"] <= 0 {
		t.Errorf("timings_ms.total = %v, want > 0", timings["total"])
	}

	names, ms := parseServerTiming(t, h.Get("Server-Timing"))
	if want := []string{"retrieve", "features", "rank", "rerank", "total"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Server-Timing names = %v, want %v", names, want)
	}
	for stage, want := range map[string]float64{"retrieve": 0.412, "features": 0.1, "rank": 1.25, "rerank": 0.03, "total": timings["total"]} {
		if ms[stage] != want {
			t.Errorf("Server-Timing %s = %v, want %v", stage, ms[stage], want)
		}
	}

	wantReq := recommend.Request{User: 42, K: 3, Diversity: 0.2, Context: map[string]string{"genre": "Comedy|Drama"}}
	if reqs := f.rec.requests(); len(reqs) != 1 || !reflect.DeepEqual(reqs[0], wantReq) {
		t.Errorf("recommender got %+v, want [%+v]", reqs, wantReq)
	}

	if n := f.counter(t, "recsys_requests_total", map[string]string{"path": "personal", "code": "200"}); n != 1 {
		t.Errorf("recsys_requests_total{path=personal,code=200} = %v, want 1", n)
	}
	for _, stage := range []string{"retrieve", "features", "rank", "rerank", "total"} {
		if n := f.histogramCount(t, "recsys_stage_seconds", map[string]string{"stage": stage}); n != 1 {
			t.Errorf("recsys_stage_seconds{stage=%s} count = %d, want 1", stage, n)
		}
	}
	if m := f.metric(t, "recsys_stage_seconds", map[string]string{"stage": "retrieve"}); m.GetHistogram().GetSampleSum() != 412e-6 {
		t.Errorf("recsys_stage_seconds{stage=retrieve} sum = %v, want 0.000412", m.GetHistogram().GetSampleSum())
	}

	code, _, body = f.do(t, http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.Contains(string(body), `recsys_requests_total{code="200",path="personal"} 1`) {
		t.Errorf("GET /metrics = %d, want 200 with the request counted:\n%s", code, body)
	}
}

// TestDefaultsAndPaths: k defaults to Config.DefaultK, diversity to 0, context to nil; the
// answer's path labels the request counter.
func TestDefaultsAndPaths(t *testing.T) {
	tests := []struct {
		name     string
		defaultK int
		query    string
		path     string
		want     recommend.Request
	}{
		{"no query", 10, "", "personal", recommend.Request{User: 1, K: 10}},
		{"configured default", 25, "", "cold-start", recommend.Request{User: 1, K: 25}},
		{"k only", 10, "?k=100", "fallback-popular", recommend.Request{User: 1, K: 100}},
		{"empty pairs ignored", 10, "?&k=5&&", "personal", recommend.Request{User: 1, K: 5}},
		{"diversity bounds", 10, "?diversity=1", "personal", recommend.Request{User: 1, K: 10, Diversity: 1}},
		{"escaped genre", 10, "?genre=Children%27s+Film", "cold-start", recommend.Request{User: 1, K: 10, Context: map[string]string{"genre": "Children's Film"}}},
		{"path added later", 10, "", "trending", recommend.Request{User: 1, K: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := threeItems()
			resp.Path = tc.path
			f := newFixture(t, &fakeRecommender{resp: resp}, func(c *server.Config) { c.DefaultK = tc.defaultK })
			code, _, body := f.do(t, http.MethodGet, "/v1/users/1/recommendations"+tc.query)
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", tc.query, code, body)
			}
			if reqs := f.rec.requests(); len(reqs) != 1 || !reflect.DeepEqual(reqs[0], tc.want) {
				t.Errorf("recommender got %+v, want [%+v]", reqs, tc.want)
			}
			if n := f.counter(t, "recsys_requests_total", map[string]string{"path": tc.path, "code": "200"}); n != 1 {
				t.Errorf("recsys_requests_total{path=%s,code=200} = %v, want 1", tc.path, n)
			}
		})
	}
}

// TestBadInput: every malformed request gets a 4xx with a JSON message, is counted, and
// never reaches the recommender.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantCode           int
		wantMsg            string
		reason             string
	}{
		{"non-integer id", "GET", "/v1/users/abc/recommendations", 400, `user id "abc"`, "bad_request"},
		{"negative id", "GET", "/v1/users/-1/recommendations", 400, `user id "-1", want a non-negative integer`, "bad_request"},
		{"signed id", "GET", "/v1/users/+1/recommendations", 400, `user id "+1"`, "bad_request"},
		{"id overflows", "GET", "/v1/users/99999999999999999999/recommendations", 400, "out of range", "bad_request"},
		{"k not an integer", "GET", "/v1/users/1/recommendations?k=ten", 400, `k = "ten", want an integer in 1..100`, "bad_request"},
		{"k empty", "GET", "/v1/users/1/recommendations?k=", 400, `k = ""`, "bad_request"},
		{"k zero", "GET", "/v1/users/1/recommendations?k=0", 400, "k = 0, want 1..100", "bad_request"},
		{"k negative", "GET", "/v1/users/1/recommendations?k=-3", 400, "k = -3, want 1..100", "bad_request"},
		{"k too large", "GET", "/v1/users/1/recommendations?k=101", 400, "k = 101, want 1..100", "bad_request"},
		{"k twice", "GET", "/v1/users/1/recommendations?k=1&k=2", 400, "k is given more than once", "bad_request"},
		{"diversity above 1", "GET", "/v1/users/1/recommendations?diversity=1.5", 400, "diversity = 1.5, want in [0, 1]", "bad_request"},
		{"diversity negative", "GET", "/v1/users/1/recommendations?diversity=-0.1", 400, "diversity = -0.1", "bad_request"},
		{"diversity NaN", "GET", "/v1/users/1/recommendations?diversity=NaN", 400, "diversity = NaN", "bad_request"},
		{"diversity infinite", "GET", "/v1/users/1/recommendations?diversity=Inf", 400, "diversity = +Inf", "bad_request"},
		{"diversity not a number", "GET", "/v1/users/1/recommendations?diversity=lots", 400, `diversity = "lots"`, "bad_request"},
		{"diversity twice", "GET", "/v1/users/1/recommendations?diversity=0&diversity=1", 400, "diversity is given more than once", "bad_request"},
		{"unknown parameter", "GET", "/v1/users/1/recommendations?diversty=0.5", 400, `unknown query parameter "diversty" (want k, diversity, genre)`, "bad_request"},
		{"context twice", "GET", "/v1/users/1/recommendations?genre=a&genre=b", 400, "genre is given more than once", "bad_request"},
		{"semicolon", "GET", "/v1/users/1/recommendations?k=1;diversity=0", 400, "';' is not a separator", "bad_request"},
		{"bad escape", "GET", "/v1/users/1/recommendations?k=%zz", 400, "query parameter k=", "bad_request"},
		{"wrong method", "POST", "/v1/users/1/recommendations", 405, "method POST not allowed", "method_not_allowed"},
		{"delete", "DELETE", "/v1/users/1/recommendations", 405, "method DELETE not allowed", "method_not_allowed"},
		{"unknown route", "GET", "/v1/users/1/recs", 404, "no such endpoint", "not_found"},
		{"trailing slash", "GET", "/v1/users/1/recommendations/", 404, "no such endpoint", "not_found"},
		{"root", "GET", "/", 404, "no such endpoint", "not_found"},
	}
	f := newFixture(t, &fakeRecommender{resp: threeItems()}, nil)
	want := map[string]float64{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := f.do(t, tc.method, tc.path)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || h.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %s body %q (%s): not a JSON error: %v", tc.method, tc.path, body, h.Get("Content-Type"), err)
			}
			if code != tc.wantCode || !strings.Contains(e.Error, tc.wantMsg) {
				t.Errorf("%s %s = %d %q, want %d mentioning %q", tc.method, tc.path, code, e.Error, tc.wantCode, tc.wantMsg)
			}
		})
		want[tc.reason]++
	}
	if reqs := f.rec.requests(); len(reqs) != 0 {
		t.Errorf("recommender got %d requests from bad input, want 0: %+v", len(reqs), reqs)
	}
	for reason, n := range want {
		if got := f.counter(t, "recsys_request_errors_total", map[string]string{"reason": reason}); got != n {
			t.Errorf("recsys_request_errors_total{reason=%s} = %v, want %v", reason, got, n)
		}
	}
	if got := f.counter(t, "recsys_requests_total", map[string]string{"path": "none", "code": "400"}); got != want["bad_request"] {
		t.Errorf("recsys_requests_total{path=none,code=400} = %v, want %v", got, want["bad_request"])
	}
}

// TestRecommenderErrors: the recommender's failures map to 400, 503 and 500, with a JSON
// message, a counter, and a log line for the 500s.
func TestRecommenderErrors(t *testing.T) {
	tests := []struct {
		name     string
		rec      *fakeRecommender
		wantCode int
		wantMsg  string
		reason   string
		wantLog  string
	}{
		{"invalid", &fakeRecommender{err: fmt.Errorf("%w: user 7 asked for genre %q", recommend.ErrInvalid, "Nope")}, 400, `invalid request: user 7 asked for genre "Nope"`, "invalid", ""},
		{"deadline returned", &fakeRecommender{err: fmt.Errorf("rank: %w", context.DeadlineExceeded)}, 503, "deadline of 20ms exceeded: rank: context deadline exceeded", "deadline", ""},
		{"deadline reached", &fakeRecommender{block: true}, 503, "deadline of 20ms exceeded: retrieve: context deadline exceeded", "deadline", ""},
		{"other error", &fakeRecommender{err: errors.New("index file vanished")}, 500, "internal error", "internal", "index file vanished"},
		{"panic", &fakeRecommender{panicWith: "nil map"}, 500, "internal error", "panic", "recommender panicked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.rec, func(c *server.Config) { c.Timeout = 20 * time.Millisecond })
			code, _, body := f.do(t, http.MethodGet, "/v1/users/7/recommendations")
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if code != tc.wantCode || !strings.Contains(e.Error, tc.wantMsg) {
				t.Errorf("GET = %d %q, want %d mentioning %q", code, e.Error, tc.wantCode, tc.wantMsg)
			}
			if n := f.counter(t, "recsys_request_errors_total", map[string]string{"reason": tc.reason}); n != 1 {
				t.Errorf("recsys_request_errors_total{reason=%s} = %v, want 1", tc.reason, n)
			}
			if n := f.counter(t, "recsys_requests_total", map[string]string{"path": "none", "code": strconv.Itoa(tc.wantCode)}); n != 1 {
				t.Errorf("recsys_requests_total{path=none,code=%d} = %v, want 1", tc.wantCode, n)
			}
			if n := f.histogramCount(t, "recsys_stage_seconds", map[string]string{"stage": "total"}); n != 1 {
				t.Errorf("recsys_stage_seconds{stage=total} count = %d, want 1 (failures are timed too)", n)
			}
			logs := f.logs.String()
			if tc.wantLog != "" && !strings.Contains(logs, tc.wantLog) {
				t.Errorf("logs lack %q:\n%s", tc.wantLog, logs)
			}
			if tc.wantLog == "" && logs != "" {
				t.Errorf("a %d was logged, want only 500s logged:\n%s", tc.wantCode, logs)
			}
			// The server must still answer after a failure (a panic above all).
			if code, _, _ := f.do(t, http.MethodGet, "/healthz"); code != http.StatusOK {
				t.Errorf("GET /healthz after the failure = %d, want 200", code)
			}
		})
	}
}

// TestClientGone: a request whose client has gone away (its context canceled) answers 503
// with reason canceled.
func TestClientGone(t *testing.T) {
	prom := prometheus.NewRegistry()
	srv, err := server.New(&fakeRecommender{block: true}, server.DefaultConfig(), nil, prom)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/users/3/recommendations", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "request canceled") {
		t.Errorf("canceled request = %d %s, want 503 request canceled", rec.Code, rec.Body)
	}
	f := &fixture{prom: prom}
	if n := f.counter(t, "recsys_request_errors_total", map[string]string{"reason": "canceled"}); n != 1 {
		t.Errorf("recsys_request_errors_total{reason=canceled} = %v, want 1", n)
	}
}

// TestDeadlinePropagated: the recommender's context carries a deadline no later than the
// configured timeout.
func TestDeadlinePropagated(t *testing.T) {
	for _, timeout := range []time.Duration{50 * time.Millisecond, 7 * time.Millisecond, time.Second} {
		t.Run(timeout.String(), func(t *testing.T) {
			rec := &fakeRecommender{resp: threeItems()}
			f := newFixture(t, rec, func(c *server.Config) { c.Timeout = timeout })
			if code, _, body := f.do(t, http.MethodGet, "/v1/users/9/recommendations"); code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", code, body)
			}
			rec.mu.Lock()
			left := rec.deadlines[0]
			rec.mu.Unlock()
			if left <= 0 || left > timeout {
				t.Errorf("recommender saw %v left before its deadline, want in (0, %v]", left, timeout)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, &fakeRecommender{}, nil)
	if code, _, body := f.do(t, http.MethodGet, "/healthz"); code != http.StatusOK || string(body) != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", code, body)
	}
}

// TestNoMetricsEndpointWithoutGatherer: /metrics is served only when a Gatherer is given.
func TestNoMetricsEndpointWithoutGatherer(t *testing.T) {
	f := newFixture(t, &fakeRecommender{}, func(c *server.Config) { c.Gatherer = nil })
	if code, _, _ := f.do(t, http.MethodGet, "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics without a Gatherer = %d, want 404", code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		rec    recommend.Recommender
		mutate func(*server.Config)
		want   string
	}{
		{"nil recommender", nil, func(*server.Config) {}, "nil Recommender"},
		{"default k zero", &fakeRecommender{}, func(c *server.Config) { c.DefaultK = 0 }, "DefaultK = 0"},
		{"default k too large", &fakeRecommender{}, func(c *server.Config) { c.DefaultK = 101 }, "DefaultK = 101"},
		{"no timeout", &fakeRecommender{}, func(c *server.Config) { c.Timeout = 0 }, "Timeout = 0s"},
		{"reserved context parameter", &fakeRecommender{}, func(c *server.Config) { c.ContextParams = []string{"k"} }, `context parameter "k"`},
		{"duplicate context parameter", &fakeRecommender{}, func(c *server.Config) { c.ContextParams = []string{"genre", "genre"} }, `"genre" is listed twice`},
		{"empty context parameter", &fakeRecommender{}, func(c *server.Config) { c.ContextParams = []string{""} }, "empty context parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			tc.mutate(&cfg)
			_, err := server.New(tc.rec, cfg, nil, nil)
			if !errors.Is(err, server.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%s) = %v, want ErrInvalidConfig mentioning %q", tc.name, err, tc.want)
			}
		})
	}
	// Two servers on one registry collide rather than share series silently.
	reg := prometheus.NewRegistry()
	if _, err := server.New(&fakeRecommender{}, server.DefaultConfig(), nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := server.New(&fakeRecommender{}, server.DefaultConfig(), nil, reg); err == nil {
		t.Error("second New on the same registry = nil error, want a registration error")
	}
}
