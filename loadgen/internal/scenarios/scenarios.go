// Package scenarios holds the loadgen binary's demonstrations of measuring latency
// honestly: coordinated omission, and open versus closed loop. Each one starts its own
// server in-process on loopback, so it needs nothing running and touches nothing else.
package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// Params shape both scenarios: a server that freezes for Stall, StallAt into a run of
// Duration at Rate requests per second with Workers connections.
type Params struct {
	Rate     float64
	Duration time.Duration
	StallAt  time.Duration
	Stall    time.Duration
	Workers  int
}

// DefaultParams are the scenarios as documented in docs/latency.md.
func DefaultParams() Params {
	return Params{Rate: 1000, Duration: 6 * time.Second, StallAt: 2500 * time.Millisecond, Stall: time.Second, Workers: 8}
}

// Set returns the scenarios with the given parameters.
func Set(p Params) scenario.Set {
	return scenario.Set{
		{
			Name:    "loadgen/coordinated-omission",
			Summary: "a server freezes for 1 s mid-run: corrected p99 shows it, the uncorrected p99 a naive tool prints hides it",
			Run:     func(ctx context.Context, r *scenario.Report) error { return coordinatedOmission(ctx, r, p) },
		},
		{
			Name:    "loadgen/open-vs-closed",
			Summary: "the same freeze under open-loop and closed-loop load: closed loop stops sending and reports a clean p99",
			Run:     func(ctx context.Context, r *scenario.Report) error { return openVsClosed(ctx, r, p) },
		},
	}
}

// stallRun runs load against a fresh stalling server and returns the report.
func stallRun(ctx context.Context, p Params, cfg loadgen.Config) (*loadgen.Report, *loadgentest.Stall, error) {
	stall := loadgentest.NewStall()
	srv, err := loadgentest.Start("127.0.0.1:0", stall)
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	tcfg := httptarget.DefaultConfig()
	tcfg.URL = srv.URL + "/score"
	tcfg.MaxConns = cfg.Workers
	if cfg.Mode == loadgen.Closed {
		tcfg.MaxConns = cfg.Users
	}
	tg, err := httptarget.New(ctx, tcfg)
	if err != nil {
		return nil, nil, err
	}
	defer tg.Close()
	eng, err := loadgen.New(cfg, tg, loadgen.Fixed{Body: []byte(`{"amount":12.5}`)}, nil)
	if err != nil {
		return nil, nil, err
	}
	stall.Arm(time.Now().Add(p.StallAt), p.Stall)
	rep, err := eng.Run(ctx)
	return rep, stall, err
}

func openConfig(p Params) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: p.Rate}}
	cfg.Duration = p.Duration
	cfg.Workers = p.Workers
	cfg.Timeout = p.Stall + 5*time.Second
	return cfg
}

func coordinatedOmission(ctx context.Context, r *scenario.Report, p Params) error {
	r.Step("start a loopback HTTP server that answers at once, except that it freezes for %v starting %v into the run", p.Stall, p.StallAt)
	r.Step("send %.0f requests/s open-loop for %v over %d connections", p.Rate, p.Duration, p.Workers)
	rep, stall, err := stallRun(ctx, p, openConfig(p))
	if err != nil {
		return fmt.Errorf("open-loop run: %w", err)
	}
	stallMs := float64(p.Stall) / float64(time.Millisecond)
	r.Say("%d requests scheduled, %d sent, %d late; the frozen server held %d of them", rep.Scheduled, rep.Sent, rep.Late, stall.Held())
	r.Say("while the %d connections were stuck, the other requests due in that second queued in the generator", p.Workers)
	r.Measure("corrected p50", rep.Corrected.P50Ms, "ms")
	r.Measure("corrected p99", rep.Corrected.P99Ms, "ms")
	r.Measure("corrected max", rep.Corrected.MaxMs, "ms")
	r.Measure("uncorrected p50", rep.Uncorrected.P50Ms, "ms")
	r.Measure("uncorrected p99", rep.Uncorrected.P99Ms, "ms")
	r.Measure("uncorrected max", rep.Uncorrected.MaxMs, "ms")
	r.Measure("late sends", float64(rep.Late), "requests")
	r.Measure("requests held by the stall", float64(stall.Held()), "requests")

	r.Step("compare")
	r.Check(fmt.Sprintf("corrected p99 (%.1f ms) reflects the %.0f ms stall (>= half of it)", rep.Corrected.P99Ms, stallMs), rep.Corrected.P99Ms >= stallMs/2)
	r.Check(fmt.Sprintf("uncorrected p99 (%.2f ms) hides the stall (< a tenth of it)", rep.Uncorrected.P99Ms), rep.Uncorrected.P99Ms < stallMs/10)
	r.Check(fmt.Sprintf("the stall is visible to the uncorrected view only in its max (%.0f ms)", rep.Uncorrected.MaxMs), rep.Uncorrected.MaxMs >= 0.9*stallMs)
	r.Check(fmt.Sprintf("about %.0f requests were scheduled during the stall and sent late (%d late)", p.Rate*p.Stall.Seconds(), rep.Late), float64(rep.Late) >= 0.5*p.Rate*p.Stall.Seconds())
	r.Check(fmt.Sprintf("no request failed (%d failed)", rep.Failed), rep.Failed == 0)
	if rep.NotSent > 0 {
		r.Say("%d requests were still queued when the send window closed: the generator had not caught up with the backlog the stall left", rep.NotSent)
	}
	return nil
}

func openVsClosed(ctx context.Context, r *scenario.Report, p Params) error {
	stallMs := float64(p.Stall) / float64(time.Millisecond)
	// Closed-loop users pace themselves with think time so that, while the server is fast,
	// they offer the same load as the open-loop schedule.
	think := time.Duration(float64(p.Workers) / p.Rate * float64(time.Second))

	r.Step("open loop: %.0f requests/s for %v over %d connections; the server freezes for %v at %v", p.Rate, p.Duration, p.Workers, p.Stall, p.StallAt)
	open, _, err := stallRun(ctx, p, openConfig(p))
	if err != nil {
		return fmt.Errorf("open-loop run: %w", err)
	}
	r.Step("closed loop: %d users, each waiting for its answer and thinking %v before the next request (%.0f requests/s while the server is fast); same freeze", p.Workers, think, p.Rate)
	ccfg := openConfig(p)
	ccfg.Mode = loadgen.Closed
	ccfg.Users = p.Workers
	ccfg.ThinkTime = think
	closed, _, err := stallRun(ctx, p, ccfg)
	if err != nil {
		return fmt.Errorf("closed-loop run: %w", err)
	}

	openDuring := requestsDuring(open, p)
	closedDuring := requestsDuring(closed, p)
	closedBefore := rateBefore(closed, p)
	r.Measure("open loop: requests due during the stall", float64(openDuring), "requests")
	r.Measure("closed loop: requests sent during the stall", float64(closedDuring), "requests")
	r.Measure("closed loop: rate before the stall", closedBefore, "req/s")
	r.Measure("open loop: achieved rate", open.AchievedRate, "req/s")
	r.Measure("closed loop: achieved rate", closed.AchievedRate, "req/s")
	r.Measure("open loop: corrected p99", open.Corrected.P99Ms, "ms")
	r.Measure("closed loop: p99 (uncorrected by construction)", closed.Uncorrected.P99Ms, "ms")
	r.Measure("closed loop: max", closed.Uncorrected.MaxMs, "ms")

	r.Step("compare")
	r.Say("during the freeze the closed-loop users sat waiting, so the requests real users would have sent were never sent and never measured")
	r.Check(fmt.Sprintf("closed-loop throughput collapses during the stall (%d requests vs %.0f/s before)", closedDuring, closedBefore),
		float64(closedDuring) < 0.1*closedBefore*p.Stall.Seconds())
	r.Check(fmt.Sprintf("open loop kept its schedule through the stall (%d requests due, want ~%.0f)", openDuring, p.Rate*windowSpan(open, p)),
		float64(openDuring) >= 0.9*p.Rate*windowSpan(open, p))
	r.Check(fmt.Sprintf("closed-loop p99 (%.2f ms) hides the stall", closed.Uncorrected.P99Ms), closed.Uncorrected.P99Ms < stallMs/10)
	r.Check(fmt.Sprintf("open-loop corrected p99 (%.0f ms) shows it", open.Corrected.P99Ms), open.Corrected.P99Ms >= stallMs/2)
	r.Check("the closed-loop report labels itself closed loop", closed.Mode == loadgen.Closed)
	return nil
}

// stallWindows returns the latency-over-time windows lying wholly inside the stall.
func stallWindows(rep *loadgen.Report, p Params) []loadgen.Window {
	from, to := p.StallAt.Seconds(), (p.StallAt + p.Stall).Seconds()
	var out []loadgen.Window
	for _, w := range rep.Series {
		if w.StartS >= from && w.StartS+rep.WindowS <= to+1e-9 {
			out = append(out, w)
		}
	}
	return out
}

func windowSpan(rep *loadgen.Report, p Params) float64 {
	return float64(len(stallWindows(rep, p))) * rep.WindowS
}

// requestsDuring counts requests whose intended send time fell inside the stall.
func requestsDuring(rep *loadgen.Report, p Params) int64 {
	var n int64
	for _, w := range stallWindows(rep, p) {
		n += w.Scheduled
	}
	return n
}

// rateBefore is the request rate over the second before the stall.
func rateBefore(rep *loadgen.Report, p Params) float64 {
	from := (p.StallAt - time.Second).Seconds()
	var n int64
	var span float64
	for _, w := range rep.Series {
		if w.StartS >= from && w.StartS+rep.WindowS <= p.StallAt.Seconds()+1e-9 {
			n += w.Scheduled
			span += rep.WindowS
		}
	}
	if span == 0 {
		return 0
	}
	return float64(n) / span
}
