package walkthrough

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

func servingRollouts(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "serving/rollouts",
		Summary: "Rollouts driven by registry aliases: a shadow version is compared off the caller's path, a 10% canary splits users deterministically, then blue/green promotion and rollback under load: no request fails because of the switch (answers late on a busy machine are reported by cause).",
		Run: func(ctx context.Context, r *scenario.Report) error {
			env, err := newServingEnv(r, 15)
			if err != nil {
				return err
			}
			defer env.done()
			train := servingtest.Data(40000, 15, 7)
			lr, err := servingtest.LogReg(ctx, train.Dataset)
			if err != nil {
				return err
			}
			gb, err := servingtest.GBDT(ctx, train.Dataset, 100, 5)
			if err != nil {
				return err
			}
			for _, m := range []ml.Model{lr, gb} {
				if _, err := servingtest.Register(ctx, env.reg, "fraud", m, ""); err != nil {
					return err
				}
			}
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Champion, 1)
			sc := serving.DefaultConfig()
			sc.Logger = cfg.Logger
			mc := serving.DefaultModelConfig("fraud")
			mc.CanaryAlias, mc.CanaryPercent, mc.ShadowAlias = registry.Challenger, 10, registry.Shadow
			sc.Models = []serving.ModelConfig{mc}
			srv, err := serving.New(ctx, env.reg, sc)
			if err != nil {
				return err
			}
			defer srv.Close()
			// Waits end on progress, with a bound far beyond any machine's slowness: a busy
			// machine makes them longer, never makes them fail.
			waitStatus := func(ok func(serving.ModelStatus) bool) bool {
				return waitUntil(func() bool { st, _ := srv.Status("fraud"); return ok(st) })
			}

			r.Step("Shadow: v2 (boosted trees) gets a copy of every request; v1 (logistic regression) answers")
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Shadow, 2)
			waitStatus(func(s serving.ModelStatus) bool { return s.Shadow == 2 })
			sh := drive(ctx, srv, env, "fraud", 2, 500*time.Millisecond, 200*time.Microsecond)
			time.Sleep(100 * time.Millisecond)
			rep, _ := srv.Shadow("fraud")
			r.Say("%d answers, by path %v, by version %v (fallback answers by reason: %v); shadow compared %d rows, dropped %d",
				sh.requests, sh.paths, sh.versions, sh.reasons, rep.Compared, rep.Dropped)
			r.Say("agreement at 0.5: %.1f%%; mean |Δscore| %.4f, max %.3f; |Δ| ≤ %v: %v", 100*rep.Agreement, rep.MeanAbsDiff, rep.MaxAbsDiff, rep.BucketBounds, rep.Buckets)
			r.Measure("shadow agreement", rep.Agreement, "")
			r.Measure("shadow mean abs diff", rep.MeanAbsDiff, "")
			// A caller's answer came from v1 or, when it was late on a busy machine, from the
			// fallback chain; never from the shadow, v2.
			r.Check("the shadow's answers were compared and none reached a caller", rep.Compared > 0 && sh.failed == 0 && sh.versions[2] == 0)

			r.Step("Canary: challenger → v2 for 10%% of users, split by a hash of the user key")
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Challenger, 2)
			waitStatus(func(s serving.ModelStatus) bool { return s.Canary == 2 })
			sticky, canary := true, 0
			const users = 1000
			for u := range users {
				key := fmt.Sprintf("user-%d", u)
				// The arm a request was routed to is Variant: a routing decision, the same
				// whether the answer then came from the model or, late, from a fallback.
				var first string
				for try := range 3 {
					res, err := srv.Infer(ctx, serving.Request{Model: "fraud", Decoded: serving.Decoded{Rows: 1, X: env.row(u, 1), Key: key}})
					if err != nil {
						return err
					}
					if try == 0 {
						first = res.Variant
					} else if res.Variant != first {
						sticky = false
					}
				}
				if first == "canary" {
					canary++
				}
			}
			r.Measure("canary share of users", float64(canary)/users, "")
			r.Check("every user was routed to the same version on every request", sticky)
			r.Check("the canary share is about 10% (7–13%)", canary >= 70 && canary <= 130)

			r.Step("Blue/green: move champion v1 → v2 under load, then roll back")
			// Every answer is classified by its cause. A failure caused by the switch (an
			// error, no version loaded, a version failing as it is swapped) is what the
			// check counts, and it must be zero on any machine. An answer the fallback chain
			// gave because the deadline passed, or a refusal because the request was
			// predicted to miss it, says the machine was busy, not that the switch failed:
			// it is reported, with the same count from a stretch without a switch beside it.
			var bg blueGreen
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; ; i += 6 {
						select {
						case <-stop:
							return
						default:
						}
						res, err := srv.Infer(ctx, serving.Request{Model: "fraud", Decoded: serving.Decoded{Rows: 4, X: env.row(i, 4)}})
						bg.record(res, err)
					}
				}()
			}
			// Each stretch lasts until the callers got a few hundred answers, not for a
			// fixed time, so every version answers on a slow machine too.
			const stretch = 300
			waitUntil(func() bool { return bg.answered() >= stretch })
			steady := bg.snapshot()
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Champion, 2)
			moved := waitStatus(func(s serving.ModelStatus) bool { return s.Primary == 2 && s.LastGood == 1 })
			waitUntil(func() bool { return bg.answeredBy(2) >= stretch })
			_, rbErr := env.reg.Rollback(ctx, "fraud", registry.Champion, "walkthrough", "rollback drill")
			back := waitStatus(func(s serving.ModelStatus) bool { return s.Primary == 1 })
			v1 := bg.answeredBy(1)
			waitUntil(func() bool { return bg.answeredBy(1) >= v1+stretch })
			close(stop)
			wg.Wait()
			all := bg.snapshot()
			switches := all.minus(steady)
			r.Say("%d requests: %d answered by the model (by version: %v), %d failed because of the switch %v",
				all.requests, all.primary, all.versions, all.switchFailed, all.switchCauses)
			r.Say("late because the machine was busy (the deadline passed, or admission predicted it would): %d before the switch (%.2f%% of %d), %d across the two switches (%.2f%% of %d) %v",
				steady.late, 100*steady.lateShare(), steady.requests, switches.late, 100*switches.lateShare(), switches.requests, all.lateCauses)
			r.Measure("failed requests during blue/green", float64(all.switchFailed), "requests")
			r.Measure("late answers before the switch (reported)", float64(steady.late), "requests")
			r.Measure("late answers during the switches (reported)", float64(switches.late), "requests")
			r.Check("the alias move and the rollback were each followed", moved && back && rbErr == nil)
			r.Check("zero requests failed because of either switch, and both versions answered",
				all.switchFailed == 0 && all.versions[1] > 0 && all.versions[2] > 0)
			return nil
		},
	}
}

// blueGreen counts what callers got while an alias moved, by cause.
type blueGreen struct {
	mu     sync.Mutex
	counts bgCounts
}

type bgCounts struct {
	requests, primary, late, switchFailed int
	versions                              map[int]int
	lateCauses, switchCauses              map[string]int
}

func (b *blueGreen) record(res serving.Result, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &b.counts
	if c.versions == nil {
		c.versions, c.lateCauses, c.switchCauses = map[int]int{}, map[string]int{}, map[string]int{}
	}
	c.requests++
	switch {
	case err != nil && errorsIsOverloaded(err):
		c.late++
		c.lateCauses["refused: predicted late"]++
	case err != nil:
		c.switchFailed++
		c.switchCauses[err.Error()]++
	case res.Path == serving.PathPrimary:
		c.primary++
		c.versions[res.Version]++
	case res.Reason == serving.ReasonDeadline || res.Reason == serving.ReasonOverloaded:
		c.late++
		c.lateCauses[res.Reason]++
	default:
		// No version loaded, a version failing, the breaker open after failures: the
		// primary could not answer at all.
		c.switchFailed++
		c.switchCauses[res.Reason]++
	}
}

func (b *blueGreen) answered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts.primary
}

func (b *blueGreen) answeredBy(version int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts.versions[version]
}

func (b *blueGreen) snapshot() bgCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counts
	c.versions, c.lateCauses, c.switchCauses = maps.Clone(c.versions), maps.Clone(c.lateCauses), maps.Clone(c.switchCauses)
	return c
}

// minus is the counts after earlier was taken.
func (c bgCounts) minus(earlier bgCounts) bgCounts {
	return bgCounts{requests: c.requests - earlier.requests, primary: c.primary - earlier.primary, late: c.late - earlier.late,
		switchFailed: c.switchFailed - earlier.switchFailed}
}

func (c bgCounts) lateShare() float64 {
	if c.requests == 0 {
		return 0
	}
	return float64(c.late) / float64(c.requests)
}

// waitUntil polls cond until it holds or a minute passes; a scenario's waits end on
// progress, and the bound only stops a broken run from hanging.
func waitUntil(cond func() bool) bool {
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
