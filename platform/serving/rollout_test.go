package serving

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// TestBlueGreenUnderLoad moves the champion alias v1 → v2 and back (rollback) while
// eight clients send requests; not one request fails, and both versions answer.
func TestBlueGreenUnderLoad(t *testing.T) {
	f := newFixture(t, nil)
	var mu sync.Mutex
	versions := map[string]int{}
	late, switchFailed := 0, map[string]int{}
	stop := make(chan struct{})
	// Every answer is sorted by cause, so that a busy machine cannot fail the test: an
	// answer that was late (the fallback chain after the deadline, or a refusal because it
	// was predicted late) is not caused by the switch; anything else off the primary path is.
	_, _, wait := loadLoop(t, f, 8, stop, nil, func(resp *http.Response) {
		mu.Lock()
		defer mu.Unlock()
		reason := resp.Header.Get(HeaderReason)
		switch {
		case resp.StatusCode == http.StatusOK && resp.Header.Get(HeaderPath) == PathPrimary:
			versions[resp.Header.Get(HeaderVersion)]++
		case resp.StatusCode == http.StatusOK && (reason == ReasonDeadline || reason == ReasonOverloaded),
			resp.StatusCode == http.StatusTooManyRequests:
			late++
		default:
			switchFailed[fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get(HeaderPath), reason)]++
		}
	})
	answered := func(v string) int {
		mu.Lock()
		defer mu.Unlock()
		return versions[v]
	}
	ctx := context.Background()
	waitFor(t, func() bool { return answered("1") >= 50 })
	if err := servingtest.Move(ctx, f.reg, "fraud", registry.Champion, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Primary == 2 })
	waitFor(t, func() bool { return answered("2") >= 50 })
	if _, err := f.reg.Rollback(ctx, "fraud", registry.Champion, "test", "rollback under load"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Primary == 1 })
	v1 := answered("1")
	waitFor(t, func() bool { return answered("1") >= v1+50 })
	close(stop)
	wait()
	if len(switchFailed) != 0 {
		t.Errorf("answers failed by the switch (status path reason: count) = %v, want none", switchFailed)
	}
	if late > 0 {
		t.Logf("%d answers were late on a busy machine (not a failure)", late)
	}
}

// TestCanaryIsDeterministic: the same key always lands on the same version, and about
// CanaryPercent of keys land on the canary.
func TestCanaryIsDeterministic(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Models[0].CanaryAlias, c.Models[0].CanaryPercent = registry.Challenger, 20
	})
	if err := servingtest.Move(context.Background(), f.reg, "fraud", registry.Challenger, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Canary == 2 })
	body := servingtest.Body(f.rows(0, 1), features)
	canary := 0
	const users = 400
	for u := range users {
		key := fmt.Sprintf("user-%d", u)
		var first string
		for try := range 3 {
			resp, b := f.post(t, "/v2/models/fraud/infer", body, map[string]string{HeaderKey: key})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d (%s)", resp.StatusCode, b)
			}
			v := resp.Header.Get(HeaderVersion) + resp.Header.Get(HeaderVariant)
			if try == 0 {
				first = v
			} else if v != first {
				t.Fatalf("key %s saw %s then %s; a key must stick to one arm", key, first, v)
			}
		}
		if first == "2canary" {
			canary++
		}
		if want := InCanary(key, 20); want != (first == "2canary") {
			t.Fatalf("key %s answered by %s, InCanary = %v", key, first, want)
		}
	}
	if share := float64(canary) / users; share < 0.14 || share > 0.26 {
		t.Errorf("canary share = %.2f of %d keys, want about 0.20", share, users)
	}
}

// TestShadowNeverBlocks: a stalled shadow does not delay the caller, and a healthy
// shadow's answers are compared with the primary's.
func TestShadowNeverBlocks(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Models[0].ShadowAlias = registry.Shadow })
	if err := servingtest.Move(context.Background(), f.reg, "fraud", registry.Shadow, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Shadow == 2 })
	body := servingtest.Body(f.rows(0, 4), features)
	for range 50 {
		if resp, b := f.post(t, "/v2/models/fraud/infer", body, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d (%s)", resp.StatusCode, b)
		}
	}
	waitFor(t, func() bool { r, _ := f.srv.Shadow("fraud"); return r.Compared == 200 })
	r, _ := f.srv.Shadow("fraud")
	if r.Agreement <= 0.5 || r.Agreement > 1 || r.MaxAbsDiff <= 0 || r.ShadowVersion != 2 {
		t.Errorf("shadow report %+v: want agreement in (0.5, 1], some difference, version 2", r)
	}

	e, _ := f.srv.entry("fraud")
	const stall = 2 * time.Second
	e.shadow.Load().host.fault.Store(&Fault{Stall: stall})
	t0 := time.Now()
	for range 10 {
		if resp, b := f.post(t, "/v2/models/fraud/infer", body, nil); resp.StatusCode != 200 || resp.Header.Get(HeaderPath) != PathPrimary {
			t.Fatalf("with a stalled shadow: status %d path %s (%s)", resp.StatusCode, resp.Header.Get(HeaderPath), b)
		}
	}
	if el := time.Since(t0); el > stall/2 {
		t.Errorf("10 requests with a shadow stalled for %v took %v; the shadow must not be on the caller's path", stall, el)
	}
}
