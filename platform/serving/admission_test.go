package serving

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// TestSchedulerPriority: a freed slot goes to the highest waiting class, FIFO within it.
func TestSchedulerPriority(t *testing.T) {
	s := newScheduler(1, false)
	ctx := context.Background()
	if err := s.acquire(ctx, 2); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	start := func(name string, prio int) {
		go func() {
			if err := s.acquire(ctx, prio); err != nil {
				order <- "err"
				return
			}
			order <- name
			s.release()
		}()
		time.Sleep(20 * time.Millisecond) // let it queue before the next one
	}
	start("low", 2)
	start("high-1", 0)
	start("high-2", 0)
	s.release()
	var got []string
	for range 3 {
		got = append(got, <-order)
	}
	want := []string{"high-1", "high-2", "low"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("grant order = %v, want %v", got, want)
		}
	}
	// A waiter whose deadline passes leaves the queue and gets an error.
	if err := s.acquire(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := s.acquire(tctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire past deadline = %v, want DeadlineExceeded", err)
	}
	s.release()
	if s.free != 1 {
		t.Errorf("free slots after all releases = %d, want 1", s.free)
	}
}

// TestAdmissionRefusesEarly: when the model's queue is known to take longer than the
// request's budget, the request is refused at once with 429 and Retry-After instead of
// waiting and timing out.
func TestAdmissionRefusesEarly(t *testing.T) {
	f := newFixture(t, nil)
	e, _ := f.srv.entry("fraud")
	h := e.primary.Load().host
	h.perRequest.observe(0.010, time.Now()) // 10 ms per request
	h.pending.Store(20)                     // 20 queued: ~100 ms of work ahead
	t0 := time.Now()
	resp, body := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), map[string]string{HeaderTimeout: "20ms"})
	el := time.Since(t0)
	h.pending.Store(0)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d (%s), want 429", resp.StatusCode, body)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
		t.Errorf("Retry-After = %q, want ≥ 1", resp.Header.Get("Retry-After"))
	}
	if el > time.Second {
		t.Errorf("refusal took %v; it should not wait for the queue", el)
	}
	// With a generous budget the same request is admitted.
	resp, body = f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), map[string]string{HeaderTimeout: "5s"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status with 5s budget = %d (%s), want 200", resp.StatusCode, body)
	}
}

// TestQueueFull: a full bulkhead answers 503 with Retry-After.
func TestQueueFull(t *testing.T) {
	f := newFixture(t, nil)
	e, _ := f.srv.entry("fraud")
	h := e.primary.Load().host
	h.pending.Store(int64(cap(h.queue)))
	defer h.pending.Store(0)
	resp, body := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("full queue: status %d Retry-After %q (%s), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestEWMADecays(t *testing.T) {
	var e ewma
	t0 := time.Now()
	e.observe(1, t0)
	tests := []struct {
		after time.Duration
		want  float64
	}{{0, 1}, {ewmaHalfLife, 1}, {2 * ewmaHalfLife, 0.5}, {3 * ewmaHalfLife, 0.25}}
	for _, tc := range tests {
		if got := e.value(t0.Add(tc.after)); got < tc.want*0.99 || got > tc.want*1.01 {
			t.Errorf("value(+%v) = %v, want %v", tc.after, got, tc.want)
		}
	}
}
