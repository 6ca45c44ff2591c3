package console

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/platform/scenario"
)

func TestHistQuantile(t *testing.T) {
	h := hist{bounds: []float64{1, 2, 4, math.Inf(1)}, cum: []float64{10, 50, 90, 100}, count: 100, sum: 250}
	tests := []struct{ q, want float64 }{{0.05, 0.5}, {0.5, 2}, {0.9, 4}, {0.99, 4}}
	for _, tt := range tests {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := (hist{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty quantile = %v, want NaN", got)
	}
	prev := hist{bounds: h.bounds, cum: []float64{10, 10, 10, 10}, count: 10}
	d := h.minus(&prev)
	if d.count != 90 || d.cum[0] != 0 || d.quantile(0.5) != 2+2*(45-40)/40.0 {
		t.Errorf("minus = %+v, p50 %v; want 90 observations none below 1", d, d.quantile(0.5))
	}
}

// fakeServing exposes serving's metric names with known observations.
func fakeServing(t *testing.T) (*httptest.Server, *prometheus.CounterVec, *prometheus.HistogramVec) {
	reg := prometheus.NewRegistry()
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mRequests}, []string{"model", "variant", "version", "path"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: mLatency, Buckets: []float64{.001, .002, .005, .01}}, []string{"model", "version", "priority", "code"})
	batch := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: mBatchRows, Buckets: prometheus.ExponentialBuckets(1, 2, 6)}, []string{"model", "version"})
	shadow := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mShadow}, []string{"model", "outcome"})
	agree := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mShadowAgree}, []string{"model"})
	reg.MustRegister(req, lat, batch, shadow, agree)
	req.WithLabelValues("fraud", "primary", "3", "primary").Add(90)
	req.WithLabelValues("fraud", "canary", "4", "primary").Add(8)
	req.WithLabelValues("fraud", "primary", "3", "heuristic").Add(2)
	for i := range 100 {
		v := 0.0015 // in (1 ms, 2 ms]
		if i >= 98 {
			v = 0.008
		}
		lat.WithLabelValues("fraud", "3", "0", "200").Observe(v)
	}
	for range 10 {
		batch.WithLabelValues("fraud", "3").Observe(8)
	}
	shadow.WithLabelValues("fraud", "compared").Add(50)
	agree.WithLabelValues("fraud").Add(45)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv, req, lat
}

func TestServingPage(t *testing.T) {
	prom, req, lat := fakeServing(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	f := newFixture(t, false, func(c *Config) { c.ServingURLs = []string{prom.URL, down.URL} })
	code, body := f.do("GET", "/serving", readKey, nil)
	if code != 200 {
		t.Fatalf("GET /serving = %d", code)
	}
	for _, want := range []string{"reload to measure", "since the server started", "1.51 ms", "7.50 ms", "100", "2 2.00%", "canary v4: 8", "heuristic: 2", "8.0 rows", "90.00%", "could not read " + down.URL} {
		if !strings.Contains(body, want) {
			t.Errorf("/serving lacks %q:\n%s", want, excerpt(body))
		}
	}
	// A second view measures the rate and the latency of what happened in between.
	req.WithLabelValues("fraud", "primary", "3", "primary").Add(50)
	for range 50 {
		lat.WithLabelValues("fraud", "3", "0", "200").Observe(0.004)
	}
	_, body = f.do("GET", "/serving", readKey, nil)
	for _, want := range []string{"/s over", "since the previous view", "3.50 ms"} {
		if !strings.Contains(body, want) {
			t.Errorf("second /serving lacks %q:\n%s", want, excerpt(body))
		}
	}
	noURL := newFixture(t, false, nil)
	if _, body := noURL.do("GET", "/serving", readKey, nil); !strings.Contains(body, `id="no-serving"`) {
		t.Errorf("/serving without --serving does not say so:\n%s", excerpt(body))
	}
}

func TestScenarioRunStreamsLines(t *testing.T) {
	f := newFixture(t, false, nil)
	code, _ := f.do("POST", "/scenarios/run", readKey, url.Values{"name": {"test/quick"}})
	if code != http.StatusSeeOther {
		t.Fatalf("POST /scenarios/run = %d, want 303", code)
	}
	var id string
	f.con.runs.mu.Lock()
	id = f.con.runs.order[0]
	f.con.runs.mu.Unlock()
	req, _ := http.NewRequest("GET", f.srv.URL+"/scenarios/runs/"+id+"/events", nil)
	req.Header.Set("X-API-Key", readKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type = %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, s)
		}
	}
	if len(events) != 4 {
		t.Fatalf("events = %d (%v), want 3 lines and the end", len(events), events)
	}
	var m struct {
		Kind        string                  `json:"kind"`
		Measurement struct{ Value float64 } `json:"measurement"`
	}
	if err := json.Unmarshal([]byte(events[1]), &m); err != nil || m.Kind != "measure" || m.Measurement.Value != 42 {
		t.Errorf("second event = %s, want the measure 42", events[1])
	}
	var end struct{ OK bool }
	if err := json.Unmarshal([]byte(events[3]), &end); err != nil || !end.OK {
		t.Errorf("end event = %s, want ok", events[3])
	}
	if _, body := f.do("GET", "/scenarios/runs/"+id, readKey, nil); !strings.Contains(body, "EventSource") {
		t.Errorf("run page does not open an EventSource")
	}
}

func TestLoadReportsPage(t *testing.T) {
	f := newFixture(t, false, nil)
	dir := f.con.cfg.ReportsDir
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for i, p99 := range []float64{12.5, 17.25} {
		rep := map[string]any{"mode": "open", "target": "http://127.0.0.1:8080", "workload": "fraud", "started": t0.Add(time.Duration(i) * time.Hour),
			"scheduled": 1000, "sent": 1000, "ok": 990, "failed": 10, "target_rate": 100, "achieved_rate": 99.5, "error_rate": 0.01, "window_s": 1,
			"corrected": map[string]any{"p50_ms": 3.5, "p99_ms": p99}, "series": []map[string]any{{"start_s": 0, "completed": 100, "corrected_p50_ms": 3, "corrected_p99_ms": 9}, {"start_s": 1, "completed": 98, "errors": 2, "corrected_p99_ms": 11}},
			"slos": []map[string]any{{"slo": "p99 < 25ms", "actual": "17.25ms", "ok": true}}}
		b, _ := json.Marshal(rep)
		if err := os.WriteFile(filepath.Join(dir, []string{"a.json", "b.json"}[i]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"hello":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, body := f.do("GET", "/loadreports", readKey, nil)
	for _, want := range []string{`href="/loadreports/a.json"`, "17.25 ms", "skipped: JSON, but not a loadgen report", "<svg"} {
		if !strings.Contains(body, want) {
			t.Errorf("/loadreports lacks %q:\n%s", want, excerpt(body))
		}
	}
	code, body := f.do("GET", "/loadreports/b.json", readKey, nil)
	for _, want := range []string{"p99 &lt; 25ms: 17.25ms", "target rate", "corrected latency per window"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/loadreports/b.json = %d, lacks %q", code, want)
		}
	}
}

func TestMonitoringPage(t *testing.T) {
	f := newFixture(t, true, nil)
	code, body := f.do("GET", "/monitoring?model=m-000", readKey, nil)
	if code != 200 {
		t.Fatalf("GET /monitoring = %d:\n%s", code, excerpt(body))
	}
	// The seed shifts f00 by one standard deviation in the second half: its PSI alerts;
	// the features it does not shift stay below the alert level.
	for _, want := range []string{"3000 predictions logged", `<td>f00</td><td class="num">`, `class="threshold"`, "drift_f00_psi", "resolved", "firing", `<td>champion</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("/monitoring lacks %q", want)
		}
	}
	got := driftRows(body)
	if g := got["f00"]; len(g) != 3 || g[1] != "alert" || g[2] != "alert" {
		t.Errorf("f00 (shifted by one sd): PSI, PSI verdict, KS verdict = %v, want alert by both", g)
	} else if psi, _ := strconv.ParseFloat(g[0], 64); psi < 0.2 {
		t.Errorf("f00 PSI = %v, want past the 0.2 alert level", psi)
	}
	if g := got["f01"]; len(g) != 3 || g[1] != "ok" {
		t.Errorf("f01 (not shifted): PSI, PSI verdict, KS verdict = %v, want PSI ok", g)
	}
	if code, _ := f.do("GET", "/monitoring?model=never-seen", readKey, nil); code != 404 {
		t.Errorf("monitoring an unknown model = %d, want 404", code)
	}
	// The card explains the version's logged predictions with the model's own Explain.
	if _, body := f.do("GET", "/models/m-000/versions/1", readKey, nil); !strings.Contains(body, "last 200 predictions") {
		t.Errorf("card lacks explanations:\n%s", excerpt(body))
	}
}

func TestCloseEndsARunningScenario(t *testing.T) {
	started := make(chan struct{})
	f := newFixture(t, false, func(c *Config) {
		c.Scenarios = append(c.Scenarios, scenario.Scenario{Name: "test/waits", Summary: "waits for its context", Run: func(ctx context.Context, r *scenario.Report) error {
			r.Step("waiting")
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}})
	})
	if code, _ := f.do("POST", "/scenarios/run", readKey, url.Values{"name": {"test/waits"}}); code != http.StatusSeeOther {
		t.Fatalf("start = %d, want 303", code)
	}
	<-started
	if code, body := f.do("POST", "/scenarios/run", readKey, url.Values{"name": {"test/quick"}}); code != http.StatusConflict || !strings.Contains(body, "one at a time") {
		t.Errorf("second run while one runs = %d, want 409", code)
	}
	done := make(chan struct{})
	go func() { f.con.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the running scenario")
	}
	ru := f.con.runs.byID[f.con.runs.order[0]]
	_, ended, res, _ := ru.since(0)
	if !ended || res.OK || !strings.Contains(res.Error, "context canceled") {
		t.Errorf("after Close the run ended=%v with %+v, want a canceled run", ended, res)
	}
	if code, _ := f.do("POST", "/scenarios/run", readKey, url.Values{"name": {"test/quick"}}); code != http.StatusServiceUnavailable {
		t.Errorf("start after Close = %d, want 503", code)
	}
}
