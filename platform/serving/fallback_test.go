package serving

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

func TestBreaker(t *testing.T) {
	var states []string
	b := newBreaker(3, time.Second, func(s string) { states = append(states, s) })
	t0 := time.Now()
	for range 2 {
		b.record(false, false, t0)
	}
	if ok, _ := b.allow(t0); !ok {
		t.Fatal("breaker open after 2 of 3 failures")
	}
	b.record(false, false, t0)
	if ok, _ := b.allow(t0.Add(500 * time.Millisecond)); ok {
		t.Fatal("breaker allows during cooldown")
	}
	ok, probe := b.allow(t0.Add(1100 * time.Millisecond))
	if !ok || !probe {
		t.Fatalf("after cooldown allow = %v, %v; want a probe", ok, probe)
	}
	if ok, _ := b.allow(t0.Add(1100 * time.Millisecond)); ok {
		t.Fatal("second request allowed while the probe is out")
	}
	b.record(false, true, t0.Add(1200*time.Millisecond)) // probe fails: open again
	ok, probe = b.allow(t0.Add(2300 * time.Millisecond))
	if !ok || !probe {
		t.Fatal("no probe after the second cooldown")
	}
	b.record(true, true, t0.Add(2300*time.Millisecond))
	want := []string{breakerOpen, breakerHalfOpen, breakerOpen, breakerHalfOpen, breakerClosed}
	if len(states) != len(want) {
		t.Fatalf("transitions = %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("transitions = %v, want %v", states, want)
		}
	}
}

// TestFallbackChain: a model that is down or stalled still gets every caller an answer,
// from last-good when there is one, else the heuristic; the breaker opens, and after the
// fault clears a probe closes it and the primary answers again.
func TestFallbackChain(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Models[0].BreakerFailures, c.Models[0].BreakerCooldown = 3, 50*time.Millisecond
		c.Models[0].SLA, c.Models[0].FallbackReserve = 100*time.Millisecond, 20*time.Millisecond
	})
	body := servingtest.Body(f.rows(0, 2), features)
	path := func() string {
		resp, b := f.post(t, "/v2/models/fraud/infer", body, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (%s), want 200", resp.StatusCode, b)
		}
		return resp.Header.Get(HeaderPath)
	}
	if got := path(); got != PathPrimary {
		t.Fatalf("healthy path = %s, want primary", got)
	}
	// No last-good yet (v1 is the first version): the heuristic answers.
	if err := f.srv.InjectFault("fraud", &Fault{Down: true}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got := path(); got != PathHeuristic {
			t.Fatalf("down, no last-good: path = %s, want heuristic", got)
		}
	}
	if st, _ := f.srv.Status("fraud"); st.Breaker != breakerOpen {
		t.Errorf("breaker = %s after repeated failures, want open", st.Breaker)
	}
	_ = f.srv.InjectFault("fraud", nil)
	time.Sleep(60 * time.Millisecond)
	if got := path(); got != PathPrimary {
		t.Errorf("after the fault clears and the cooldown: path = %s, want primary (probe)", got)
	}
	if st, _ := f.srv.Status("fraud"); st.Breaker != breakerClosed {
		t.Errorf("breaker = %s after a good probe, want closed", st.Breaker)
	}

	// Move to v2: v1 becomes last-good. Stall v2: callers get last-good within the deadline.
	if err := servingtest.Move(context.Background(), f.reg, "fraud", registry.Champion, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Primary == 2 && st.LastGood == 1 })
	_ = f.srv.InjectFault("fraud", &Fault{Stall: 2 * time.Second})
	t0 := time.Now()
	for range 4 {
		if got := path(); got != PathLastGood {
			t.Fatalf("stalled: path = %s, want last-good", got)
		}
	}
	if el := time.Since(t0); el > 1500*time.Millisecond {
		t.Errorf("4 requests against a stalled model took %v; each should be bounded by its 100ms deadline", el)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loadLoop sends requests from n goroutines until stop is closed, counting non-200s.
func loadLoop(t *testing.T, f *fixture, n int, stop chan struct{}, hdr func(i int) map[string]string, seen func(resp *http.Response)) (ok, failed *atomic.Int64, wait func()) {
	ok, failed = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var h map[string]string
				if hdr != nil {
					h = hdr(g*1_000_000 + i)
				}
				resp, _ := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(i%100, 1), features), h)
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
				if seen != nil {
					seen(resp)
				}
			}
		}()
	}
	return ok, failed, wg.Wait
}

// TestFallbackReason: every answer from the fallback chain says why the primary did not
// answer, in the Result, the response header and the fallbacks metric, so that a caller
// can tell "the model failed" from "the answer was late". Each cause is produced
// deterministically: no case depends on how fast the machine is.
func TestFallbackReason(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(*ModelConfig)
		setup  func(t *testing.T, f *fixture)
		req    func(f *fixture) Request
		path   string
		reason string
	}{
		{name: "primary answers", path: PathPrimary, reason: ""},
		{
			name:   "model down",
			mutate: func(mc *ModelConfig) { mc.BreakerFailures = 100 },
			setup:  func(t *testing.T, f *fixture) { mustFault(t, f, &Fault{Down: true}) },
			path:   PathHeuristic, reason: ReasonModelError,
		},
		{
			name:   "breaker open after one failure",
			mutate: func(mc *ModelConfig) { mc.BreakerFailures, mc.BreakerCooldown = 1, time.Hour },
			setup: func(t *testing.T, f *fixture) {
				mustFault(t, f, &Fault{Down: true})
				if res, err := f.srv.Infer(ctx, Request{Model: "fraud", Decoded: Decoded{Rows: 1, X: f.rows(0, 1)}}); err != nil || res.Reason != ReasonModelError {
					t.Fatalf("first failure: Infer = %+v, %v; want reason %s", res, err, ReasonModelError)
				}
			},
			path: PathHeuristic, reason: ReasonBreakerOpen,
		},
		{
			// The stall is far longer than the deadline: late however fast the machine is.
			name:   "model stalled past the deadline",
			mutate: func(mc *ModelConfig) { mc.SLA, mc.FallbackReserve = 30*time.Millisecond, 10*time.Millisecond },
			setup:  func(t *testing.T, f *fixture) { mustFault(t, f, &Fault{Stall: time.Minute}) },
			path:   PathHeuristic, reason: ReasonDeadline,
		},
		{
			// A deadline already past: admission refuses, and ShedToFallback answers.
			name:   "refused by admission, shed to the fallback chain",
			mutate: func(mc *ModelConfig) { mc.ShedToFallback = true },
			req: func(f *fixture) Request {
				return Request{Model: "fraud", Decoded: Decoded{Rows: 1, X: f.rows(0, 1)}, Deadline: time.Now().Add(-time.Second)}
			},
			path: PathHeuristic, reason: ReasonOverloaded,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				if tc.mutate != nil {
					tc.mutate(&c.Models[0])
				}
			})
			if tc.setup != nil {
				tc.setup(t, f)
			}
			req := Request{Model: "fraud", Decoded: Decoded{Rows: 1, X: f.rows(0, 1)}}
			if tc.req != nil {
				req = tc.req(f)
			}
			res, err := f.srv.Infer(ctx, req)
			if err != nil {
				t.Fatalf("Infer = %v, want an answer", err)
			}
			if res.Path != tc.path || res.Reason != tc.reason {
				t.Fatalf("Infer path, reason = %q, %q; want %q, %q", res.Path, res.Reason, tc.path, tc.reason)
			}
			if tc.reason == "" {
				return
			}
			if got := testutil.ToFloat64(f.srv.met.fallbacks.WithLabelValues("fraud", tc.path, tc.reason)); got < 1 {
				t.Errorf("casebook_serving_fallbacks_total{path=%q,reason=%q} = %v, want ≥ 1", tc.path, tc.reason, got)
			}
		})
	}
}

// TestFallbackReasonHeader: over HTTP the reason is a response header, absent when the
// primary answered.
func TestFallbackReasonHeader(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Models[0].BreakerFailures = 100 })
	body := servingtest.Body(f.rows(0, 1), features)
	resp, b := f.post(t, "/v2/models/fraud/infer", body, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderReason) != "" {
		t.Fatalf("healthy: status %d (%s), %s = %q; want 200 and no reason", resp.StatusCode, b, HeaderReason, resp.Header.Get(HeaderReason))
	}
	mustFault(t, f, &Fault{Down: true})
	resp, b = f.post(t, "/v2/models/fraud/infer", body, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderReason) != ReasonModelError {
		t.Fatalf("down: status %d (%s), %s = %q; want 200 and %q", resp.StatusCode, b, HeaderReason, resp.Header.Get(HeaderReason), ReasonModelError)
	}
}

func TestFallbackReasonOf(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  string
	}{
		{ErrNotReady, ReasonNotReady},
		{ErrBreakerOpen, ReasonBreakerOpen},
		{&OverloadError{Model: "m", Reason: "queue-full"}, ReasonOverloaded},
		{fmt.Errorf("%w: primary m v1 did not answer in time", ErrDeadline), ReasonDeadline},
		{fmt.Errorf("m v1: %w (injected)", ErrHostStopped), ReasonModelError},
		{errors.New("predict: boom"), ReasonModelError},
	} {
		if got := fallbackReason(tc.cause); got != tc.want {
			t.Errorf("fallbackReason(%v) = %q, want %q", tc.cause, got, tc.want)
		}
	}
}

func mustFault(t *testing.T, f *fixture, fault *Fault) {
	t.Helper()
	if err := f.srv.InjectFault("fraud", fault); err != nil {
		t.Fatal(err)
	}
}
