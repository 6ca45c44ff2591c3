package monitoring

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/predlog"
)

func TestServiceSignals(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_request_seconds", Buckets: []float64{.001, .002, .005, .01, .05}},
		[]string{"model", "priority", "code"})
	reg.MustRegister(h)
	s, err := NewServiceSignals(reg, DefaultServiceSignalsConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Interval 1: 1,000 fast requests, none failing.
	for range 1000 {
		h.WithLabelValues("fraud", "high", "200").Observe(0.0015)
	}
	h.WithLabelValues("other", "high", "500").Observe(1) // another model: ignored
	got, err := s.Signals("fraud")
	if err != nil {
		t.Fatal(err)
	}
	if got[SignalRequests] != 1000 || got[SignalErrorRate] != 0 || got[SignalLatency] < 0.001 || got[SignalLatency] > 0.002 {
		t.Errorf("interval 1: Signals = %v, want 1000 requests, no errors, p99 in (1 ms, 2 ms]", got)
	}
	// Interval 2: slow, 5% failing. Only this interval counts.
	for i := range 200 {
		code := "200"
		if i%20 == 0 {
			code = "503"
		}
		h.WithLabelValues("fraud", "low", code).Observe(0.03)
	}
	got, _ = s.Signals("fraud")
	if got[SignalRequests] != 200 || math.Abs(got[SignalErrorRate]-0.05) > 1e-9 || got[SignalLatency] < 0.01 || got[SignalLatency] > 0.05 {
		t.Errorf("interval 2: Signals = %v, want 200 requests, error rate 0.05, p99 in (10 ms, 50 ms]", got)
	}
	got, _ = s.Signals("fraud")
	if _, ok := got[SignalLatency]; ok || got[SignalRequests] != 0 {
		t.Errorf("idle interval: Signals = %v, want only requests = 0", got)
	}
	// Wired to a rule: latency over 25 ms fires.
	a, _ := NewAlerter(AlerterConfig{Rules: []Rule{{Name: "p99", Model: "fraud", Signal: SignalLatency, Fire: 0.025, Clear: 0.01, For: 1, ClearFor: 1}}})
	h.WithLabelValues("fraud", "low", "200").Observe(0.04)
	got, _ = s.Signals("fraud")
	if out, _ := a.Evaluate(context.Background(), t0, got); len(out) != 1 || out[0].State != StateFiring {
		t.Errorf("latency rule on %v: transitions %+v, want firing", got, out)
	}
}

func TestMonitorHandler(t *testing.T) {
	d := ml.Dataset{Schema: ml.FloatSchema("x"), X: []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	cfg := DefaultConfig()
	cfg.Model, cfg.MinSamples = "m", 1
	mon, err := NewMonitor(cfg, d, []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .95}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jc := DefaultJoinConfig()
	jc.Model = "m"
	j, _ := NewJoiner(jc, nil)
	h := Handlers(mon.Handler(), j.Handler())
	msg := func(subject, data string) *eventlog.Message {
		return &eventlog.Message{Event: eventlog.Event{ID: "e", Subject: subject, Data: []byte(data), Time: t0}}
	}
	for _, m := range []*eventlog.Message{
		msg(predlog.PredictionSubject("m"), `{"id":"a","model":"m","version":1,"time":"2026-11-01T00:00:00Z","features":{"x":3},"score":0.4}`),
		msg(predlog.PredictionSubject("other"), `{"id":"b","model":"other","version":1,"features":{"x":3},"score":0.4}`),
		msg(predlog.OutcomeSubject("m"), `{"id":"a","model":"m","label":1,"time":"2026-11-02T00:00:00Z"}`),
	} {
		if err := h(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if rep := mon.Check(t0); rep.Observed != 1 {
		t.Errorf("monitor observed %d predictions, want 1 (the other model's skipped)", rep.Observed)
	}
	if q := j.Quality(1); q.Labelled != 1 || q.LabelDelayP50 != 24*time.Hour {
		t.Errorf("joined %+v, want 1 with a 24h delay", q)
	}
	if _, pending := j.Counts(); pending != 0 {
		t.Errorf("joiner of m holds %d pending predictions, want 0 (the other model's skipped)", pending)
	}
	err = h(context.Background(), msg(predlog.PredictionSubject("m"), `{not json`))
	if err == nil {
		t.Error("a prediction that does not decode was accepted; want a permanent error")
	}
}
